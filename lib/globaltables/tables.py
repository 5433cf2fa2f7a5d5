"""The global table: created once in the primary region, replicas added one at a time with their own
KMS key, then point-in-time recovery and deletion protection switched on in every region.

Fixes of the recipe: no PITR in CreateTable (defect 1), no pre-created replica tables (2), auto scaling
before replicas of a provisioned table (3), a KMS key per replica (4), status polling instead of
sleeps and PITR/deletion protection per replica (5); each is described in docs/recipe-defects.md.

A strong table (``consistency: strong``, multi-Region strong consistency) is made differently, as AWS
requires: the empty table, then ONE ``UpdateTable`` that creates both replicas (or the replica and the
witness) with ``MultiRegionConsistency=STRONG``; its mode can never change and no replica can be added
later. It gets no stream: MRSC does not replicate through DynamoDB Streams and AWS leaves them off on
MRSC replicas, and nothing in the runbook reads one (05's function calls the table's API). Nothing in the
runbook sets a time to live, which AWS refuses on MRSC tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions
from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.errors import ForeignResource, TableModeMismatch, aws_error_code
from globaltables.kinds import ResourceKind
from globaltables.names import GSI_NAME, RUN_TAG_KEY
from globaltables.params import Params
from globaltables.state import RunState
from globaltables.waiting import retry_on_codes, wait_until

NOTEBOOK = "02_table_replicas"
ACTIVE = frozenset({"ACTIVE"})
# UpdateTable while the table (or another replica) is still changing: AWS says to wait and try again.
TABLE_BUSY = frozenset({"ResourceInUseException"})
# UpdateContinuousBackups in the first seconds after a table or replica turns ACTIVE.
PITR_NOT_READY = frozenset({"ContinuousBackupsUnavailableException"})
STRONG = "STRONG"  # DescribeTable's MultiRegionConsistency of an MRSC table; MREC tables show no such key
GLOBAL_TABLE_VERSION = "2019.11.21"


def retry_shown(what: str, show: Callable[[str], None]) -> Callable[[str, float], None]:
    """``retry_on_codes``'s ``on_retry``: one line per retry, saying what waits for what."""

    def on_retry(code: str, delay_s: float) -> None:
        show(f"{what}: {code}, retrying in {delay_s:.1f} s")

    return on_retry


def table_definition(table_name: str, params: Params, kms_key: str, run_id: str) -> dict[str, Any]:
    """CreateTable's arguments: PK/SK, GSI1, a NEW_AND_OLD_IMAGES stream (not for a strong table), SSE with
    the region's key, deletion protection, the run's tag. PITR is not a CreateTable parameter: it is set
    afterwards."""
    gsi: dict[str, Any] = {
        "IndexName": GSI_NAME,
        "KeySchema": [
            {"AttributeName": "GSI1PK", "KeyType": "HASH"},
            {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "GSI1PK", "GSI1SK")
        ],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [gsi],
        "BillingMode": params.billing_mode,
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key},
        "DeletionProtectionEnabled": True,
        "Tags": [{"Key": RUN_TAG_KEY, "Value": run_id}],
    }
    if params.consistency == "strong":
        # MRSC does not replicate through Streams, and the runbook reads none (module docstring).
        del definition["StreamSpecification"]
    if params.billing_mode == "PROVISIONED":
        throughput = {"ReadCapacityUnits": params.read_capacity, "WriteCapacityUnits": params.write_capacity}
        definition["ProvisionedThroughput"] = throughput
        gsi["ProvisionedThroughput"] = dict(throughput)
    return definition


def describe(clients: AwsClients, region: str, table_name: str) -> dict[str, Any] | None:
    try:
        return clients.client("dynamodb", region).describe_table(TableName=table_name)["Table"]
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _settled(table: dict[str, Any] | None, accept: frozenset[str] = ACTIVE) -> bool:
    return (
        table is not None
        and table["TableStatus"] in accept
        and all(r["ReplicaStatus"] in accept for r in table.get("Replicas", []))
        and all(w["WitnessStatus"] in accept for w in table.get("GlobalTableWitnesses", []))
    )


def _summary(table: dict[str, Any] | None) -> str:
    if table is None:
        return "no table"
    replicas = ", ".join(f"{r['RegionName']} {r['ReplicaStatus']}" for r in table.get("Replicas", []))
    witnesses = ", ".join(f"{w['RegionName']} {w['WitnessStatus']}" for w in table.get("GlobalTableWitnesses", []))
    return (
        f"table {table['TableStatus']}"
        + (f"; replicas: {replicas}" if replicas else "")
        + (f"; witness: {witnesses}" if witnesses else "")
    )


def is_strong(table: dict[str, Any] | None) -> bool:
    """Whether a DescribeTable answer is of a strong (MRSC) global table."""
    return (table or {}).get("MultiRegionConsistency") == STRONG


def witness_regions(table: dict[str, Any] | None) -> list[str]:
    return [w["RegionName"] for w in (table or {}).get("GlobalTableWitnesses", [])]


def _mode_text(table: dict[str, Any]) -> str:
    """What a described table is, in the words of TableModeMismatch."""
    replicas = sorted(r["RegionName"] for r in table.get("Replicas", []))
    if is_strong(table):
        witness = witness_regions(table)
        return f"strong (MRSC) with replicas in {', '.join(replicas)}" + (
            f" and a witness in {witness[0]}" if witness else ""
        )
    if replicas:
        return f"eventual (MREC) with replicas in {', '.join(replicas)}"
    return "a single-region table"


def wait_for_table(
    clients: AwsClients, region: str, table_name: str, timeout_s: float, accept: frozenset[str] = ACTIVE
) -> dict[str, Any]:
    """Until the table in ``region`` and each of its replicas are in a status of ``accept`` (ACTIVE);
    raises WaitTimeout."""

    def probe() -> tuple[bool, Any]:
        table = describe(clients, region, table_name)
        return _settled(table, accept), table

    what = f"{table_name} in {region} {' or '.join(sorted(accept))} with its replicas"
    return wait_until(probe, what, timeout_s, clients.poll_interval_s, show=_summary)


def ensure_write_autoscaling(clients: AwsClients, run: RunState, region: str) -> list[str]:
    """Application Auto Scaling on table and GSI write capacity (target tracking at 70 %): a provisioned
    global table refuses replicas without it (recipe defect 3, docs/recipe-defects.md). Returns the scaled resource ids; an
    on-demand table needs none and gets none."""
    params = run.params
    if params.billing_mode == "PAY_PER_REQUEST":
        return []
    scaling = clients.client("application-autoscaling", region)
    table_name = run.names.table_name
    resources = [
        (f"table/{table_name}", "dynamodb:table:WriteCapacityUnits"),
        (f"table/{table_name}/index/{GSI_NAME}", "dynamodb:index:WriteCapacityUnits"),
    ]
    for resource_id, dimension in resources:
        scaling.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId=resource_id,
            ScalableDimension=dimension,
            MinCapacity=params.write_capacity,
            MaxCapacity=params.max_write_capacity,
        )
        run.record(ResourceKind.SCALABLE_TARGET, resource_id, region, notebook=NOTEBOOK, dimension=dimension)
        policy_name = run.names.scaling_policy_name(resource_id)
        scaling.put_scaling_policy(
            PolicyName=policy_name,
            ServiceNamespace="dynamodb",
            ResourceId=resource_id,
            ScalableDimension=dimension,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"},
            },
        )
        run.record(
            ResourceKind.SCALING_POLICY,
            policy_name,
            region,
            notebook=NOTEBOOK,
            resource_id=resource_id,
            dimension=dimension,
        )
    return [resource_id for resource_id, _ in resources]


def ensure_table(clients: AwsClients, run: RunState, kms_key_arn: str) -> dict[str, Any]:
    """Create the table once, in the primary region, and wait until it is ACTIVE (idempotent)."""
    region, name = run.params.primary_region, run.names.table_name
    existing = describe(clients, region, name)
    if existing is None:
        try:
            created = clients.client("dynamodb", region).create_table(
                **table_definition(name, run.params, kms_key_arn, run.run_id)
            )["TableDescription"]
            run.record(ResourceKind.TABLE, name, region, arn=created["TableArn"], notebook=NOTEBOOK)
        except botocore.exceptions.ClientError as error:
            if aws_error_code(error) != "ResourceInUseException":
                raise
    elif not run.resources(ResourceKind.TABLE, region):
        tags = clients.client("dynamodb", region).list_tags_of_resource(ResourceArn=existing["TableArn"])["Tags"]
        if {"Key": RUN_TAG_KEY, "Value": run.run_id} not in tags:
            raise ForeignResource(ResourceKind.TABLE, name, region)
        run.record(ResourceKind.TABLE, name, region, arn=existing["TableArn"], notebook=NOTEBOOK)
    return wait_for_table(clients, region, name, run.params.wait_timeout_s)


def wait_for_replica(
    clients: AwsClients, primary: str, region: str, table_name: str, timeout_s: float
) -> dict[str, Any]:
    """Until the table in ``primary`` lists the replica in ``region``, it and every replica are ACTIVE, and
    the replica's own table in ``region`` is ACTIVE; returns the primary's description. DescribeTable is
    eventually consistent: right after ReplicaUpdates Create it may still show the table ACTIVE without
    the new replica, which is not yet a settled replica."""

    def probe() -> tuple[bool, Any]:
        table = describe(clients, primary, table_name)
        listed = {r["RegionName"]: r["ReplicaStatus"] for r in (table or {}).get("Replicas", [])}
        own = describe(clients, region, table_name) if listed.get(region) == "ACTIVE" else None
        settled = _settled(table) and own is not None and own["TableStatus"] == "ACTIVE"
        return settled, (table, region in listed, own)

    def summary(state: tuple[Any, bool, Any]) -> str:
        table, listed, own = state
        own_status = own["TableStatus"] if own else "not seen"
        return f"{_summary(table)}; {region} {'listed' if listed else 'not listed yet'}, its table {own_status}"

    what = f"replica {table_name} in {region} listed by {primary} and ACTIVE"
    return wait_until(probe, what, timeout_s, clients.poll_interval_s, show=summary)[0]


def ensure_replica(
    clients: AwsClients, run: RunState, region: str, kms_key_arn: str, show: Callable[[str], None] = print
) -> dict[str, Any]:
    """Add the replica in ``region`` with that region's key through ``UpdateTable ReplicaUpdates``, then
    wait until the primary lists it, it and every replica are ACTIVE (AWS refuses the next change before
    that) and its own table is ACTIVE. A change refused because the table is still busy is retried."""
    primary, name = run.params.primary_region, run.names.table_name
    timeout = run.params.wait_timeout_s
    table = wait_for_table(clients, primary, name, timeout)
    requested = bool(run.resources(ResourceKind.REPLICA, region)) and describe(clients, region, name) is not None
    if region not in {r["RegionName"] for r in table.get("Replicas", [])} and not requested:
        create = {"Create": {"RegionName": region, "KMSMasterKeyId": kms_key_arn}}
        retry_on_codes(
            lambda: clients.client("dynamodb", primary).update_table(TableName=name, ReplicaUpdates=[create]),
            TABLE_BUSY,
            timeout,
            on_retry=retry_shown(f"replica in {region}", show),
        )
    arn = table["TableArn"].replace(f":{primary}:", f":{region}:")
    run.record(ResourceKind.REPLICA, name, region, arn=arn, notebook=NOTEBOOK, kms_key=kms_key_arn)
    return wait_for_replica(clients, primary, region, name, timeout)


def ensure_replicas(
    clients: AwsClients, run: RunState, keys: dict[str, str], show: Callable[[str], None] = print
) -> dict[str, Any]:
    """Every replica of the run's mode (and the witness of a strong table), each replica with its region's
    key from ``keys`` and write auto scaling in its region, then ACTIVE; returns the primary's description.

    ``eventual``: one replica at a time (``ensure_replica``). ``strong``: ``ensure_strong_members``.
    Raises TableModeMismatch when the table exists in another mode or with other members."""
    primary, name = run.params.primary_region, run.names.table_name
    if run.params.consistency == "strong":
        table = ensure_strong_members(clients, run, keys, show)
        for region in run.params.replica_regions:
            ensure_write_autoscaling(clients, run, region)
        return table
    table = wait_for_table(clients, primary, name, run.params.wait_timeout_s)
    if is_strong(table):
        raise TableModeMismatch(name, primary, _mode_text(table), "eventual (MREC)")
    for region in run.params.replica_regions:
        table = ensure_replica(clients, run, region, keys[region], show)
        ensure_write_autoscaling(clients, run, region)
    return table


def _strong_request(run: RunState, keys: dict[str, str]) -> dict[str, Any]:
    """UpdateTable's arguments that make the run's table strong: every replica with its region's key,
    the witness if there is one, ``MultiRegionConsistency=STRONG``, and nothing else (AWS refuses other
    fields in the same call)."""
    request: dict[str, Any] = {
        "TableName": run.names.table_name,
        "ReplicaUpdates": [
            {"Create": {"RegionName": region, "KMSMasterKeyId": keys[region]}} for region in run.params.replica_regions
        ],
        "MultiRegionConsistency": STRONG,
    }
    if run.params.witness_region:
        request["GlobalTableWitnessUpdates"] = [{"Create": {"RegionName": run.params.witness_region}}]
    return request


def ensure_strong_members(
    clients: AwsClients, run: RunState, keys: dict[str, str], show: Callable[[str], None] = print
) -> dict[str, Any]:
    """Make the run's empty table strong in ONE ``UpdateTable`` (AWS's only way: both replicas, or the
    replica and the witness, at once), then wait until the table, every replica and the witness are
    ACTIVE and each replica's own table is ACTIVE; returns the primary's description.

    Idempotent: a table already strong with the run's members is only waited for. The replicas and the
    witness are recorded in the manifest before the call, so that a run stopped during it leaves a
    manifest cleanup can act on (a recorded member that was never made is "already gone" there).
    Raises TableModeMismatch when the table is a global table of another mode or with other members."""
    params, name = run.params, run.names.table_name
    primary, timeout = params.primary_region, params.wait_timeout_s
    wanted_replicas = set(params.replica_regions)
    wanted_witness = params.member_regions[len(params.regions) :]  # [witness] or []
    wanted = _mode_text(
        {
            "MultiRegionConsistency": STRONG,
            "Replicas": [{"RegionName": r} for r in wanted_replicas],
            "GlobalTableWitnesses": [{"RegionName": w} for w in wanted_witness],
        }
    )
    table = wait_for_table(clients, primary, name, timeout)
    listed = {r["RegionName"] for r in table.get("Replicas", [])}
    if is_strong(table) or listed:
        if not is_strong(table) or listed != wanted_replicas or witness_regions(table) != wanted_witness:
            raise TableModeMismatch(name, primary, _mode_text(table), wanted)
    else:
        arn = table["TableArn"]
        for region in params.replica_regions:
            run.record(
                ResourceKind.REPLICA,
                name,
                region,
                arn=arn.replace(f":{primary}:", f":{region}:"),
                notebook=NOTEBOOK,
                kms_key=keys[region],
            )
        for region in wanted_witness:
            run.record(ResourceKind.WITNESS, name, region, notebook=NOTEBOOK, source_region=primary)
        # Right after the call DescribeTable may still show the table ACTIVE and alone: a replica table
        # that exists already says the call of an earlier attempt went through.
        requested = any(describe(clients, region, name) is not None for region in params.replica_regions)
        if not requested:
            retry_on_codes(
                lambda: clients.client("dynamodb", primary).update_table(**_strong_request(run, keys)),
                TABLE_BUSY,
                timeout,
                on_retry=retry_shown(
                    f"strong table with {', '.join([*params.replica_regions, *wanted_witness])}", show
                ),
            )
    return wait_for_strong_table(clients, run)


def wait_for_strong_table(clients: AwsClients, run: RunState) -> dict[str, Any]:
    """Until the primary describes the table as strong, with every replica of the run and the witness
    listed, all ACTIVE, and each replica's own table ACTIVE; returns the primary's description."""
    params, name = run.params, run.names.table_name
    primary = params.primary_region

    def probe() -> tuple[bool, Any]:
        table = describe(clients, primary, name)
        listed = {r["RegionName"] for r in (table or {}).get("Replicas", [])}
        members_listed = listed == set(params.replica_regions) and len(witness_regions(table)) == bool(
            params.witness_region
        )
        ready = is_strong(table) and members_listed and _settled(table)
        owns = [describe(clients, region, name) for region in params.replica_regions] if ready else []
        return ready and all(own is not None and own["TableStatus"] == "ACTIVE" for own in owns), table

    members = ", ".join(params.member_regions)
    what = f"strong table {name} ACTIVE in {members}"
    return wait_until(probe, what, params.wait_timeout_s, clients.poll_interval_s, show=_summary)


def ensure_global_table(
    clients: AwsClients, run: RunState, keys: dict[str, str], show: Callable[[str], None] = print
) -> dict[str, Any]:
    """The whole global table of the run's mode, idempotent: the table in the primary region, its write
    auto scaling (before any replica), then the replicas (``ensure_replicas``). Returns the primary's
    description."""
    ensure_table(clients, run, keys[run.params.primary_region])
    ensure_write_autoscaling(clients, run, run.params.primary_region)
    return ensure_replicas(clients, run, keys, show)


def ensure_protection(
    clients: AwsClients, run: RunState, region: str, show: Callable[[str], None] = print
) -> dict[str, Any]:
    """Point-in-time recovery and deletion protection in ``region`` (both are per replica), then the table
    ACTIVE again. AWS refuses PITR for a few seconds after a table or replica turns ACTIVE
    (ContinuousBackupsUnavailableException) and any UpdateTable while the table is UPDATING: both are
    retried with backoff within ``wait_timeout_s``, each retry shown through ``show``."""
    name, timeout = run.names.table_name, run.params.wait_timeout_s
    ddb = clients.client("dynamodb", region)
    wait_for_table(clients, region, name, timeout)
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    if backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] != "ENABLED":
        retry_on_codes(
            lambda: ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            ),
            PITR_NOT_READY,
            timeout,
            on_retry=retry_shown(f"point-in-time recovery in {region}", show),
        )
    table = wait_for_table(clients, region, name, timeout)
    if not table.get("DeletionProtectionEnabled"):
        retry_on_codes(
            lambda: ddb.update_table(TableName=name, DeletionProtectionEnabled=True),
            TABLE_BUSY,
            timeout,
            on_retry=retry_shown(f"deletion protection in {region}", show),
        )
        # The table is UPDATING after the change; the next change in this region waits for ACTIVE.
        table = wait_for_table(clients, region, name, timeout)
    return table


WITNESS_ROW = "WITNESS"  # table_status of a witness's row: "WITNESS ACTIVE"


class RegionStatus(BaseModel):
    region: str
    table_status: str
    replica_status: str
    kms_key: str
    pitr: str
    deletion_protection: bool
    global_table_version: str
    consistency: str  # "eventual" (MREC) or "strong" (MRSC), as DescribeTable says; "-" without a table

    @property
    def is_witness(self) -> bool:
        return self.table_status.startswith(WITNESS_ROW)


def global_table_status(clients: AwsClients, regions: list[str], table_name: str) -> list[RegionStatus]:
    """Per region, what a person checks: statuses, key, PITR, deletion protection, version and the
    consistency mode; a strong table's witness (listed by the primary) is one more row, whose
    table_status is "WITNESS <status>" (it has no table of its own to describe)."""
    rows = []
    primary = describe(clients, regions[0], table_name) or {}
    replica_status = {r["RegionName"]: r["ReplicaStatus"] for r in primary.get("Replicas", [])}
    mode = "strong" if is_strong(primary) else "eventual"
    for region in regions:
        table = describe(clients, region, table_name)
        if table is None:
            rows.append(
                RegionStatus(
                    region=region,
                    table_status="MISSING",
                    replica_status="-",
                    kms_key="-",
                    pitr="-",
                    deletion_protection=False,
                    global_table_version="-",
                    consistency="-",
                )
            )
            continue
        pitr = clients.client("dynamodb", region).describe_continuous_backups(TableName=table_name)[
            "ContinuousBackupsDescription"
        ]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        rows.append(
            RegionStatus(
                region=region,
                table_status=table["TableStatus"],
                replica_status="ACTIVE (primary)"
                if region == regions[0]
                else replica_status.get(region, "NOT A REPLICA"),
                kms_key=table.get("SSEDescription", {}).get("KMSMasterKeyArn", "AWS owned"),
                pitr=pitr,
                deletion_protection=bool(table.get("DeletionProtectionEnabled")),
                global_table_version=table.get("GlobalTableVersion", "-"),
                consistency="strong" if is_strong(table) else "eventual",
            )
        )
    for witness in primary.get("GlobalTableWitnesses", []):
        rows.append(
            RegionStatus(
                region=witness["RegionName"],
                table_status=f"{WITNESS_ROW} {witness['WitnessStatus']}",
                replica_status="witness (no table)",
                kms_key="-",
                pitr="-",
                deletion_protection=False,
                global_table_version=primary.get("GlobalTableVersion", "-"),
                consistency=mode,
            )
        )
    return rows
