"""Teardown: remove exactly what a run's manifest records, in dependency order, waiting on status.

Each resource is deleted (or found already gone) and then dropped from the manifest, so a second
cleanup finds nothing to do and a cleanup after an interrupted run removes what that run made. Only
what the manifest records, or what carries the run's tag, is ever deleted. KMS keys cannot be deleted
at once: they are scheduled for deletion after 7 days (AWS's minimum), with their aliases removed.

The recipe's cleanup slept instead of waiting and left replica tables and full vaults behind (recipe
defect 16 in docs/recipe-defects.md). Which kinds exist and their order: ``kinds.ResourceKind``;
how each is removed: ``REMOVERS``; how the orphan finder looks for each service: ``REGIONAL_SCANNERS``.

A resource waits for what uses it: a table is held back while one of its replicas remains, and a key
and its aliases while a table, replica or restored table using the key remains (a replica whose key
becomes unusable turns INACCESSIBLE_ENCRYPTION_CREDENTIALS and is archived after seven days, and could
then never be removed cleanly). What is held back stays in the manifest, is reported, and the next
cleanup finishes it. A vault is emptied of every recovery point, recorded or not (the daily plan makes
some), before it goes; a scalable target's target-tracking alarms go with it, in every region of the
run (deleting a replica leaves them there: AWS's ``ReplicationGroupUpdate`` reference). Every list call
reads every page.

A strong (MRSC) table cannot lose one replica, or its witness, alone: AWS dissolves it only in ONE
``UpdateTable`` that deletes every other member at once (a replica and the witness, or two replicas),
which leaves a single-region table to delete as any other. So the first of its replicas (or its witness)
that cleanup reaches dissolves the whole table, after switching deletion protection off in every
replica's region, and the members that call removed are "already gone" when their turn comes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

import botocore.exceptions
from pydantic import BaseModel, computed_field

from globaltables.clients import AwsClients
from globaltables.errors import CleanupIncomplete, aws_error_code
from globaltables.kinds import GLOBAL_REGION, ResourceKind, deletion_rank
from globaltables.names import (
    APP_ROLE_PREFIX,
    BACKUP_ROLE_PREFIX,
    FIS_ROLE_PREFIX,
    LOAD_ROLE_PREFIX,
    RUN_TAG_KEY,
    log_group_name,
)
from globaltables.state import Resource, RunState
from globaltables.tables import describe, is_strong, wait_for_table, witness_regions
from globaltables.waiting import retry_on_codes, wait_until

__all__ = ["CleanupIncomplete", "Outcome", "Result", "Step", "inventory", "plan", "remove", "run_cleanup"]

KMS_PENDING_WINDOW_DAYS = 7
LOG = logging.getLogger(__name__)

GONE_CODES = {
    "ResourceNotFoundException",
    "ResourceNotFound",
    "NotFoundException",
    "NoSuchEntity",
    "NotFound",
    "ObjectNotFoundException",
    "TableNotFoundException",
}
# Statuses in which a table or replica no longer changes by itself, so it can be changed or deleted: a
# table whose KMS key became unusable (an earlier cleanup scheduled the key's deletion) stays
# INACCESSIBLE_ENCRYPTION_CREDENTIALS until it is archived, and waiting for ACTIVE would never end.
SETTLED = frozenset({"ACTIVE", "INACCESSIBLE_ENCRYPTION_CREDENTIALS"})
# A table (or its global table) still changing: AWS refuses UpdateTable/DeleteTable until it is ACTIVE.
BUSY_CODES = {"ResourceInUseException"}
# AWS Backup is still working on a recovery point (its DeleteRecoveryPoint reference).
RECOVERY_POINT_BUSY_CODES = {"InvalidResourceStateException"}
RECOVERY_POINT_IN_PROGRESS = {"CREATING"}
TABLE_KINDS = (ResourceKind.TABLE, ResourceKind.REPLICA, ResourceKind.RESTORED_TABLE)
KEY_KINDS = (ResourceKind.KMS_ALIAS, ResourceKind.KMS_KEY)


# ----- what became of each resource --------------------------------------------------------------


class Result(StrEnum):
    """What became of one resource of the manifest."""

    DELETED = "deleted"
    ALREADY_GONE = "already gone"
    SCHEDULED = "scheduled for deletion"  # a KMS key: AWS deletes it after its waiting period
    ALREADY_SCHEDULED = "already scheduled for deletion"
    STOPPED = "stopped"  # an FIS experiment still running (an experiment cannot be deleted)
    ALREADY_ENDED = "already ended"
    HELD_BACK = "held back"  # something still in the manifest uses it: kept for the next cleanup
    FAILED = "failed"  # kept in the manifest for the next cleanup


# What stays in the manifest and makes cleanup end with CleanupIncomplete.
INCOMPLETE = frozenset({Result.HELD_BACK, Result.FAILED})


class Outcome(BaseModel, frozen=True):
    """A step's result, with its detail (``in 7 days``, what holds it back, the error) and, for a
    failure, AWS's error code. Printed, it reads as before: ``scheduled for deletion in 7 days``,
    ``held back: dynamodb:replica t in eu-west-1 still uses it``, ``failed: WaitTimeout: ...``."""

    result: Result
    detail: str = ""
    error_code: str | None = None

    @property
    def incomplete(self) -> bool:
        return self.result in INCOMPLETE

    @classmethod
    def failed(cls, error: BaseException) -> Outcome:
        return cls(result=Result.FAILED, detail=f"{type(error).__name__}: {error}", error_code=aws_error_code(error))

    @classmethod
    def held_back_by(cls, user: Resource) -> Outcome:
        return cls(result=Result.HELD_BACK, detail=f"{user.kind} {user.name} in {user.region} still uses it")

    def __str__(self) -> str:
        if not self.detail:
            return self.result.value
        return f"{self.result}{': ' if self.incomplete else ' '}{self.detail}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


DELETED = Outcome(result=Result.DELETED)
ALREADY_GONE = Outcome(result=Result.ALREADY_GONE)


class Step(BaseModel):
    """One resource of the manifest and what became of it."""

    kind: ResourceKind | str
    name: str
    region: str
    outcome: Outcome

    @property
    def incomplete(self) -> bool:
        return self.outcome.incomplete

    def row(self) -> dict[str, str]:
        """The step as a table row, for people."""
        return {"kind": str(self.kind), "name": self.name, "region": self.region, "outcome": str(self.outcome)}


def plan(run: RunState) -> list[Resource]:
    """The run's resources in the order cleanup removes them (``kinds.ResourceKind``'s order; unknown
    kinds last)."""
    return sorted(run.resources(), key=lambda r: deletion_rank(r.kind))


def _pages(client: Any, operation: str, result_key: str, **arguments: Any) -> Iterator[Any]:
    """Every item of every page of a list call (AWS pages them all; a first page is not the list)."""
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(result_key, [])


def _gone_is_fine(call: Callable[[], Any]) -> Outcome:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) in GONE_CODES:
            return ALREADY_GONE
        raise
    return DELETED


# ----- tables ---------------------------------------------------------------------------------------


def _when_settled(clients: AwsClients, region: str, name: str, timeout_s: float, call: Callable[[], Any]) -> Any:
    """``call`` (an UpdateTable or DeleteTable) once the table is ACTIVE, retried while AWS still answers
    ResourceInUseException (the table can stay UPDATING for a while after a change), within ``timeout_s``."""
    wait_for_table(clients, region, name, timeout_s, SETTLED)
    return retry_on_codes(call, BUSY_CODES, timeout_s)


def _protection_off(clients: AwsClients, region: str, name: str, table: dict[str, Any], timeout_s: float) -> None:
    """Deletion protection belongs to each replica: off in its own region, then ACTIVE again."""
    if not table.get("DeletionProtectionEnabled"):
        return
    ddb = clients.client("dynamodb", region)
    _when_settled(
        clients, region, name, timeout_s, lambda: ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
    )
    wait_for_table(clients, region, name, timeout_s, SETTLED)


def _table_gone(clients: AwsClients, region: str, name: str, timeout_s: float) -> None:
    wait_until(
        lambda: (describe(clients, region, name) is None, None),
        f"{name} in {region} deleted",
        timeout_s,
        clients.poll_interval_s,
    )


def _delete_table(clients: AwsClients, region: str, name: str, timeout_s: float) -> Outcome:
    table = describe(clients, region, name)
    if table is None:
        return ALREADY_GONE
    if is_strong(table):
        # AWS refuses DeleteTable on a member of a strong table: it becomes a single-region table first.
        table = _dissolve_strong(clients, region, name, timeout_s)
        if table is None:
            return ALREADY_GONE
    _protection_off(clients, region, name, table, timeout_s)
    ddb = clients.client("dynamodb", region)
    _when_settled(clients, region, name, timeout_s, lambda: ddb.delete_table(TableName=name))
    _table_gone(clients, region, name, timeout_s)
    return DELETED


# Statuses of a strong table's members while AWS dissolves it.
DISSOLVING = frozenset({"DELETING"})


def _member_statuses(table: dict[str, Any]) -> list[str]:
    return [r["ReplicaStatus"] for r in table.get("Replicas", [])] + [
        w["WitnessStatus"] for w in table.get("GlobalTableWitnesses", [])
    ]


def _dissolve_strong(clients: AwsClients, region: str, name: str, timeout_s: float) -> dict[str, Any] | None:
    """Turn the strong table ``name`` into a single-region table in ``region``: deletion protection off in
    every member region, then ONE UpdateTable deleting every other replica and the witness, then wait
    until their tables are gone and the table in ``region`` is ACTIVE and no longer strong. A dissolution
    already under way (an interrupted cleanup) is only waited for. Returns the remaining table (None if
    it went meanwhile)."""
    table = wait_for_table(clients, region, name, timeout_s, SETTLED | DISSOLVING)
    others = [r["RegionName"] for r in table.get("Replicas", [])]
    if not is_strong(table):
        return table
    if not DISSOLVING.intersection(_member_statuses(table)):
        for member in [region, *others]:
            own = describe(clients, member, name)
            if own is not None:
                _protection_off(clients, member, name, own, timeout_s)
        request: dict[str, Any] = {
            "TableName": name,
            "ReplicaUpdates": [{"Delete": {"RegionName": other}} for other in others],
        }
        witnesses = witness_regions(table)
        if witnesses:
            request["GlobalTableWitnessUpdates"] = [{"Delete": {"RegionName": witnesses[0]}}]
        ddb = clients.client("dynamodb", region)
        _when_settled(clients, region, name, timeout_s, lambda: ddb.update_table(**request))
    for other in others:
        _table_gone(clients, other, name, timeout_s)

    def single() -> tuple[bool, Any]:
        remaining = describe(clients, region, name)
        return remaining is None or (not is_strong(remaining) and remaining["TableStatus"] in SETTLED), remaining

    return wait_until(single, f"{name} in {region} a single-region table", timeout_s, clients.poll_interval_s)


def _strong_member_region(clients: AwsClients, run: RunState, name: str) -> str | None:
    """The region to dissolve the run's strong table from: the primary if it still holds a strong member,
    else the first region of the run that does; None when no region does (nothing strong is left)."""
    for region in run.params.regions:
        if is_strong(describe(clients, region, name)):
            return region
    return None


def _dissolve_for(clients: AwsClients, run: RunState, name: str) -> bool:
    """Dissolve the run's strong table, if one of its regions still holds it; whether it did."""
    region = _strong_member_region(clients, run, name)
    if region is None:
        return False
    _dissolve_strong(clients, region, name, run.params.wait_timeout_s)
    return True


def _delete_witness(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    """A witness goes only with the dissolution of its table (nothing of it is in the witness's region)."""
    region = _strong_member_region(clients, run, resource.name)
    table = describe(clients, region, resource.name) if region else None
    if table is None or resource.region not in witness_regions(table):
        return ALREADY_GONE
    _dissolve_strong(clients, region, resource.name, run.params.wait_timeout_s)  # type: ignore[arg-type]
    return DELETED


def _delete_replica(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    primary, region, name = run.params.primary_region, resource.region, resource.name
    timeout = run.params.wait_timeout_s
    replica_table = describe(clients, region, name)
    if replica_table is None:
        return ALREADY_GONE
    if is_strong(replica_table) and _dissolve_for(clients, run, name):
        # The table of ``region`` went with the others, or remains as the single-region table when the
        # dissolution was called from there (the primary no longer held the strong table).
        return DELETED if describe(clients, region, name) is None else _delete_table(clients, region, name, timeout)
    source = describe(clients, primary, name)
    listed = {r["RegionName"]: r.get("ReplicaStatus") for r in (source or {}).get("Replicas", [])}
    if replica_table["TableStatus"] == "DELETING" or listed.get(region) == "DELETING":
        # An earlier cleanup's deletion still under way (AWS refuses a second Delete): wait for its end.
        _table_gone(clients, region, name, timeout)
        wait_for_table(clients, primary, name, timeout, SETTLED)
        return DELETED
    _protection_off(clients, region, name, replica_table, timeout)
    if source is None or region not in {r["RegionName"] for r in source.get("Replicas", [])}:
        # Not (or no longer) a replica of the primary: a table left on its own, ours by the manifest.
        return _delete_table(clients, region, name, timeout)
    ddb = clients.client("dynamodb", primary)
    _when_settled(
        clients,
        primary,
        name,
        timeout,
        lambda: ddb.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": region}}]),
    )
    _table_gone(clients, region, name, timeout)
    wait_for_table(clients, primary, name, timeout, SETTLED)
    return DELETED


# ----- the other services ---------------------------------------------------------------------------


def _delete_role(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    iam = clients.client("iam", run.params.primary_region)  # IAM is global; any region's endpoint answers
    name = resource.name

    def delete() -> None:
        # Listed in full first: detaching while paging would move the later pages.
        for policy in list(_pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)):
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy_name in list(_pages(iam, "list_role_policies", "PolicyNames", RoleName=name)):
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)

    return _gone_is_fine(delete)


def _delete_policy(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    iam, arn = clients.client("iam", run.params.primary_region), resource.arn

    def delete() -> None:
        for version in list(_pages(iam, "list_policy_versions", "Versions", PolicyArn=arn)):
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        for role in list(_pages(iam, "list_entities_for_policy", "PolicyRoles", PolicyArn=arn)):
            iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
        iam.delete_policy(PolicyArn=arn)

    return _gone_is_fine(delete)


def _schedule_key_deletion(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    kms = clients.client("kms", resource.region)
    try:
        state = kms.describe_key(KeyId=resource.name)["KeyMetadata"]["KeyState"]
        if state == "PendingDeletion":
            return Outcome(result=Result.ALREADY_SCHEDULED)
        kms.schedule_key_deletion(KeyId=resource.name, PendingWindowInDays=KMS_PENDING_WINDOW_DAYS)
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) in GONE_CODES:
            return ALREADY_GONE
        raise
    return Outcome(result=Result.SCHEDULED, detail=f"in {KMS_PENDING_WINDOW_DAYS} days")


def _delete_alarm(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    cloudwatch = clients.client("cloudwatch", resource.region)
    # DeleteAlarms succeeds for absent alarms: look first, to report truly.
    if not cloudwatch.describe_alarms(AlarmNames=[resource.name])["MetricAlarms"]:
        return ALREADY_GONE
    return _gone_is_fine(lambda: cloudwatch.delete_alarms(AlarmNames=[resource.name]))


def _delete_topic(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    sns = clients.client("sns", resource.region)
    # DeleteTopic succeeds for absent topics too.
    if _gone_is_fine(lambda: sns.get_topic_attributes(TopicArn=resource.arn)) is ALREADY_GONE:
        return ALREADY_GONE
    return _gone_is_fine(lambda: sns.delete_topic(TopicArn=resource.arn))


def _recovery_points(backup: Any, vault: str) -> list[dict[str, Any]]:
    try:
        return list(_pages(backup, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=vault))
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) in GONE_CODES:
            return []
        raise


def _delete_vault(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    """Every recovery point of the vault (not only the recorded ones: the daily plan makes others), once
    none is still being created, then the vault: AWS refuses to delete a vault that holds any."""
    backup, vault, timeout = clients.client("backup", resource.region), resource.name, run.params.wait_timeout_s

    def probe() -> tuple[bool, list[dict[str, Any]]]:
        found = _recovery_points(backup, vault)
        return not any(p.get("Status") in RECOVERY_POINT_IN_PROGRESS for p in found), found

    points = wait_until(
        probe,
        f"recovery points of {vault} in {resource.region} finished",
        timeout,
        clients.poll_interval_s,
        show=lambda found: [f"{p['RecoveryPointArn']} {p.get('Status')}" for p in found],
    )
    for point in points:
        arn = point["RecoveryPointArn"]
        _gone_is_fine(
            lambda arn=arn: retry_on_codes(
                lambda: backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn),
                RECOVERY_POINT_BUSY_CODES,
                timeout,
            )
        )
    return _gone_is_fine(lambda: backup.delete_backup_vault(BackupVaultName=vault))


def _target_tracking_alarms(cloudwatch: Any, resource_id: str) -> list[str]:
    """The alarms Application Auto Scaling made for the target-tracking policies of ``table/NAME`` (and
    its indexes): ``TargetTracking-table/NAME-AlarmHigh-…``, ``TargetTracking-table/NAME/index/…``."""
    table = "/".join(resource_id.split("/")[:2])
    prefix = f"TargetTracking-{table}"
    return [
        alarm["AlarmName"]
        for alarm in _pages(cloudwatch, "describe_alarms", "MetricAlarms", AlarmNamePrefix=prefix)
        if alarm["AlarmName"][len(prefix) : len(prefix) + 1] in {"-", "/"}
    ]


def _deregister_target(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    """The target (AWS deletes its policies with it), then any target-tracking alarm of it left in the region."""
    scaling = clients.client("application-autoscaling", resource.region)
    outcome = _gone_is_fine(
        lambda: scaling.deregister_scalable_target(
            ServiceNamespace="dynamodb", ResourceId=resource.name, ScalableDimension=resource.details["dimension"]
        )
    )
    cloudwatch = clients.client("cloudwatch", resource.region)
    left = _target_tracking_alarms(cloudwatch, resource.name)
    for start in range(0, len(left), 100):  # DeleteAlarms takes at most 100 names
        cloudwatch.delete_alarms(AlarmNames=left[start : start + 100])
    return outcome


def _stop_experiment(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    """An FIS experiment cannot be deleted; one still running is stopped (its action's pause ends with it)."""
    fis = clients.client("fis", resource.region)
    try:
        status = fis.get_experiment(id=resource.name)["experiment"]["state"]["status"]
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) in GONE_CODES:
            return ALREADY_GONE
        raise
    if status in {"pending", "initiating", "running"}:
        fis.stop_experiment(id=resource.name)
        return Outcome(result=Result.STOPPED)
    return Outcome(result=Result.ALREADY_ENDED, detail=f"({status})")


def _delete_experiment_template(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    """By the id recorded after it was made, else (a drill stopped between the call and the record) by
    its run tag and name."""
    fis = clients.client("fis", resource.region)
    ids = [resource.details["template_id"]] if resource.details.get("template_id") else []
    if not ids:
        ids = [
            template["id"]
            for template in _pages(fis, "list_experiment_templates", "experimentTemplates")
            if template.get("tags", {}).get(RUN_TAG_KEY) == run.run_id
            and template.get("tags", {}).get("Name") == resource.name
        ]
    outcomes = [_gone_is_fine(lambda i=i: fis.delete_experiment_template(id=i)) for i in ids]
    return DELETED if DELETED in outcomes else ALREADY_GONE


Remover = Callable[[AwsClients, RunState, Resource], Outcome]


def _call(service: str, method: str, **arguments: Callable[[Resource], Any]) -> Remover:
    """A remover that makes one delete call whose arguments come from the resource."""

    def remover(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
        client = clients.client(service, resource.region)
        return _gone_is_fine(lambda: getattr(client, method)(**{k: f(resource) for k, f in arguments.items()}))

    return remover


def _name(r: Resource) -> str:
    return r.name


def _detail(key: str) -> Callable[[Resource], Any]:
    return lambda r: r.details[key]


def _delete_own_table(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    return _delete_table(clients, resource.region, resource.name, run.params.wait_timeout_s)


# How each kind of resource is removed (a test checks that every ResourceKind has one).
REMOVERS: dict[ResourceKind, Remover] = {
    ResourceKind.FIS_EXPERIMENT: _stop_experiment,
    ResourceKind.FIS_TEMPLATE: _delete_experiment_template,
    ResourceKind.ALARM: _delete_alarm,
    ResourceKind.DASHBOARD: _call("cloudwatch", "delete_dashboards", DashboardNames=lambda r: [r.name]),
    ResourceKind.TOPIC: _delete_topic,
    ResourceKind.FUNCTION: _call("lambda", "delete_function", FunctionName=_name),
    ResourceKind.LOG_GROUP: _call("logs", "delete_log_group", logGroupName=_name),
    ResourceKind.BACKUP_SELECTION: _call(
        "backup", "delete_backup_selection", BackupPlanId=_detail("plan_id"), SelectionId=_detail("selection_id")
    ),
    ResourceKind.RECOVERY_POINT: _call(
        "backup", "delete_recovery_point", BackupVaultName=_detail("vault"), RecoveryPointArn=lambda r: r.arn
    ),
    ResourceKind.BACKUP_PLAN: _call("backup", "delete_backup_plan", BackupPlanId=_detail("plan_id")),
    ResourceKind.BACKUP_VAULT: _delete_vault,
    ResourceKind.RESTORED_TABLE: _delete_own_table,
    ResourceKind.SCALING_POLICY: _call(
        "application-autoscaling",
        "delete_scaling_policy",
        PolicyName=_name,
        ServiceNamespace=lambda r: "dynamodb",
        ResourceId=_detail("resource_id"),
        ScalableDimension=_detail("dimension"),
    ),
    ResourceKind.SCALABLE_TARGET: _deregister_target,
    ResourceKind.REPLICA: _delete_replica,
    ResourceKind.WITNESS: _delete_witness,
    ResourceKind.TABLE: _delete_own_table,
    ResourceKind.ROLE: _delete_role,
    ResourceKind.POLICY: _delete_policy,
    ResourceKind.KMS_ALIAS: _call("kms", "delete_alias", AliasName=_name),
    ResourceKind.KMS_KEY: _schedule_key_deletion,
}


def remove(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    """Remove one resource; returns what became of it. Raises for anything but "it is already gone"
    (and ValueError for a kind this version does not know)."""
    remover = REMOVERS.get(resource.kind)  # type: ignore[call-overload]  (a str kind finds its member)
    if remover is None:
        raise ValueError(f"cleanup does not know how to remove {resource.kind} {resource.name}")
    return remover(clients, run, resource)


# ----- what waits for what ----------------------------------------------------------------------------


def _key_of(run: RunState, resource: Resource) -> Resource | None:
    """The run's key an alias points to, or the key itself."""
    if resource.kind == "kms:key":
        return resource
    target = resource.details.get("target_key_id")
    return next((k for k in run.resources("kms:key", resource.region) if target in (k.name, k.arn)), None)


def _uses_key(run: RunState, user: Resource, key: Resource) -> bool:
    """Whether a table, replica or restored table (still in the manifest) is encrypted with ``key``: a
    replica records its key; the table (primary region) and a restored table use their region's key."""
    if user.kind not in TABLE_KINDS:
        return False
    recorded = user.details.get("kms_key")
    if recorded:
        return recorded in (key.arn, key.name) or recorded.endswith(f"/{key.name}")
    return user.region == key.region


def waiting_for(run: RunState, resource: Resource) -> Resource | None:
    """What of the manifest ``resource`` must outlive it for: a remaining replica of a table, a remaining
    table using a key (or an alias's key); None when it can go."""
    remaining = run.resources()
    if resource.kind == "dynamodb:table":
        members = ("dynamodb:replica", "dynamodb:witness")
        return next((r for r in remaining if r.kind in members and r.name == resource.name), None)
    if resource.kind in KEY_KINDS:
        key = _key_of(run, resource)
        if key is None:  # an alias of a key this run did not make: nothing of ours can depend on it
            return None
        return next((r for r in remaining if _uses_key(run, r, key)), None)
    return None


def _attempt(clients: AwsClients, run: RunState, resource: Resource) -> Outcome:
    """Remove ``resource`` unless something remaining still uses it; a failure is an outcome, not an
    exception, so that the rest of the manifest is still attempted."""
    user = waiting_for(run, resource)
    if user is not None:
        return Outcome.held_back_by(user)
    try:
        return remove(clients, run, resource)
    except Exception as error:  # reported and kept in the manifest for the next attempt
        return Outcome.failed(error)


def run_cleanup(
    clients: AwsClients, run: RunState, on_step: Callable[[Step], None] | None = None, by: str = "10_cleanup"
) -> list[Step]:
    """Remove every resource of the manifest, in order; each one removed is dropped from the manifest,
    and every step is logged in it (``removals``, with ``by``: who ran the cleanup) for the run's report.

    A resource that something remaining still uses (``waiting_for``) is held back and kept. Raises
    CleanupIncomplete at the end if any failed or was held back; the rest is still attempted, and the
    next call resumes with what remains."""
    steps: list[Step] = []
    for resource in plan(run):
        step = Step(
            kind=resource.kind, name=resource.name, region=resource.region, outcome=_attempt(clients, run, resource)
        )
        run.record_removal(resource, step.outcome.model_dump(mode="json"), removed=not step.incomplete, by=by)
        steps.append(step)
        if on_step:
            on_step(step)
    incomplete = [s for s in steps if s.incomplete]
    if incomplete:
        raise CleanupIncomplete(incomplete)
    return steps


# ----- what still exists ------------------------------------------------------------------------


class Leftover(BaseModel):
    """Something found in a region that is the run's (by tag) or looks it (by name)."""

    kind: ResourceKind
    region: str
    name: str
    run_id: str | None = None
    note: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def service(self) -> str:
        return self.kind.service


# Keys whose details the caller may not read (a key policy that excludes it): skipped, with a line.
UNREADABLE_CODES = {"AccessDeniedException"}


class Finder(BaseModel):
    """What ``inventory`` looks for: the run's tag (``run_id``; any run when None) or its name (``name_hint``)."""

    run_id: str | None = None
    name_hint: str | None = None
    include_scheduled_keys: bool = False
    skipped: list[str] = []

    def skip(self, line: str) -> None:
        """Note what could not be looked at, for the caller (``inventory(skipped=...)``) and the log."""
        self.skipped.append(line)
        LOG.warning(line)

    def named(self, name: str) -> bool:
        return self.name_hint is not None and self.name_hint in name

    def tagged(self, tags: dict[str, str]) -> bool:
        return RUN_TAG_KEY in tags and (self.run_id is None or tags[RUN_TAG_KEY] == self.run_id)

    def ours(self, name: str, tags: dict[str, str]) -> bool:
        return self.named(name) or self.tagged(tags)

    def found(self, kind: ResourceKind, region: str, name: str, tags: dict[str, str], note: str = "") -> Leftover:
        return Leftover(kind=kind, region=region, name=name, run_id=tags.get(RUN_TAG_KEY), note=note)


def _tags(
    pairs: list[dict[str, str]] | dict[str, str] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    """One tag dict from any service's answer: a dict already (Lambda, Backup, FIS) or a list of pairs."""
    if isinstance(pairs, dict):
        return pairs
    return {pair[key]: pair[value] for pair in pairs or []}


# How each service says which tags a resource carries: the call, the argument naming the resource, the
# answer's key, and the names of a pair's key and value (where the answer is a list of pairs).
TAG_CALLS: dict[str, tuple[str, str, str, str, str]] = {
    "dynamodb": ("list_tags_of_resource", "ResourceArn", "Tags", "Key", "Value"),
    "kms": ("list_resource_tags", "KeyId", "Tags", "TagKey", "TagValue"),
    "lambda": ("list_tags", "Resource", "Tags", "Key", "Value"),
    "sns": ("list_tags_for_resource", "ResourceArn", "Tags", "Key", "Value"),
    "cloudwatch": ("list_tags_for_resource", "ResourceARN", "Tags", "Key", "Value"),
    "backup": ("list_tags", "ResourceArn", "Tags", "Key", "Value"),
    "iam": ("list_role_tags", "RoleName", "Tags", "Key", "Value"),
}


def _tags_of(client: Any, service: str, resource: str) -> dict[str, str]:
    """The tags of ``resource`` (its ARN, key id or role name), every page of them, as one dict."""
    operation, argument, result_key, key, value = TAG_CALLS[service]
    if client.can_paginate(operation):
        answers = [page.get(result_key) for page in client.get_paginator(operation).paginate(**{argument: resource})]
    else:
        answers = [getattr(client, operation)(**{argument: resource}).get(result_key)]
    tags: dict[str, str] = {}
    for answer in answers:
        tags.update(_tags(answer, key, value))
    return tags


def _tables(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    ddb = clients.client("dynamodb", region)
    for name in _pages(ddb, "list_tables", "TableNames"):
        table = describe(clients, region, name)
        if table is None:
            continue
        tags = _tags_of(ddb, "dynamodb", table["TableArn"])
        if finder.ours(name, tags):
            witness = "".join(f", witness in {w}" for w in witness_regions(table))
            note = f"strong (MRSC){witness}" if is_strong(table) else ""
            kind = ResourceKind.RESTORED_TABLE if "RestoreSummary" in table else ResourceKind.TABLE
            yield finder.found(kind, region, name, tags, note)


def _keys(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    kms = clients.client("kms", region)
    for key in _pages(kms, "list_keys", "Keys"):
        try:
            metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if metadata.get("KeyManager") == "AWS":
                continue
            tags = _tags_of(kms, "kms", key["KeyId"])
        except botocore.exceptions.ClientError as error:
            if aws_error_code(error) not in UNREADABLE_CODES:
                raise
            finder.skip(
                f"kms key {key['KeyId']} in {region} skipped: {aws_error_code(error)} (its policy excludes you)"
            )
            continue
        pending = metadata["KeyState"] == "PendingDeletion"
        if finder.tagged(tags) and (finder.include_scheduled_keys or not pending):
            note = "pending deletion" if pending else metadata["KeyState"]
            yield finder.found(ResourceKind.KMS_KEY, region, key["KeyId"], tags, note)
    for alias in _pages(kms, "list_aliases", "Aliases"):
        if finder.named(alias["AliasName"]):
            yield finder.found(ResourceKind.KMS_ALIAS, region, alias["AliasName"], {}, "alias")


def _functions(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    lam = clients.client("lambda", region)
    for function in _pages(lam, "list_functions", "Functions"):
        tags = _tags_of(lam, "lambda", function["FunctionArn"])
        if finder.ours(function["FunctionName"], tags):
            yield finder.found(ResourceKind.FUNCTION, region, function["FunctionName"], tags)


def _log_groups(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    for group in _pages(clients.client("logs", region), "describe_log_groups", "logGroups"):
        if finder.named(group["logGroupName"]):
            yield finder.found(ResourceKind.LOG_GROUP, region, group["logGroupName"], {})


def _topics(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    sns = clients.client("sns", region)
    for topic in _pages(sns, "list_topics", "Topics"):
        tags = _tags_of(sns, "sns", topic["TopicArn"])
        if finder.ours(topic["TopicArn"], tags):
            yield finder.found(ResourceKind.TOPIC, region, topic["TopicArn"], tags)


def _alarms_and_dashboards(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    cloudwatch = clients.client("cloudwatch", region)
    for alarm in _pages(cloudwatch, "describe_alarms", "MetricAlarms"):
        tags = _tags_of(cloudwatch, "cloudwatch", alarm["AlarmArn"])
        if finder.ours(alarm["AlarmName"], tags):
            yield finder.found(ResourceKind.ALARM, region, alarm["AlarmName"], tags, "alarm")
    for dashboard in _pages(cloudwatch, "list_dashboards", "DashboardEntries"):
        if finder.named(dashboard["DashboardName"]):
            yield finder.found(ResourceKind.DASHBOARD, region, dashboard["DashboardName"], {}, "dashboard")


# Backup's two listings: the call, its answer's key, and the fields holding the name and the ARN.
BACKUP_LISTINGS = [
    (ResourceKind.BACKUP_VAULT, "list_backup_vaults", "BackupVaultList", "BackupVaultName", "BackupVaultArn", "vault"),
    (ResourceKind.BACKUP_PLAN, "list_backup_plans", "BackupPlansList", "BackupPlanName", "BackupPlanArn", "plan"),
]


def _backups(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    backup = clients.client("backup", region)
    for kind, operation, result_key, name_key, arn_key, note in BACKUP_LISTINGS:
        for item in _pages(backup, operation, result_key):
            tags = _tags_of(backup, "backup", item[arn_key])
            if finder.ours(item[name_key], tags):
                yield finder.found(kind, region, item[name_key], tags, note)


def _scaling(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    scaling = clients.client("application-autoscaling", region)
    for target in _pages(scaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb"):
        if finder.named(target["ResourceId"]):
            yield finder.found(ResourceKind.SCALABLE_TARGET, region, target["ResourceId"], {}, "target")
    for policy in _pages(scaling, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb"):
        if finder.named(policy["ResourceId"]):
            yield finder.found(ResourceKind.SCALING_POLICY, region, policy["PolicyName"], {}, "policy")


def _experiment_templates(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    """09's FIS templates on AWS (tagged with the run and named by a ``Name`` tag): by id, the name as note."""
    fis = clients.client("fis", region)
    for template in _pages(fis, "list_experiment_templates", "experimentTemplates"):
        tags = _tags(template.get("tags"))
        if finder.ours(tags.get("Name", ""), tags):
            yield finder.found(ResourceKind.FIS_TEMPLATE, region, template["id"], tags, tags.get("Name", ""))


def _role_prefixes() -> tuple[str, ...]:
    """The names every role the runbook makes starts with (05's and 06's roles, 07's load roles, 09's FIS
    role): roles are global and many, so only these are asked for their tags."""
    return (APP_ROLE_PREFIX, BACKUP_ROLE_PREFIX, LOAD_ROLE_PREFIX, FIS_ROLE_PREFIX)


def _iam(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    iam = clients.client("iam", region)
    prefixes = _role_prefixes()
    for role in _pages(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        if not finder.named(name) and not name.startswith(prefixes):
            continue
        tags = _tags_of(iam, "iam", name)
        if finder.ours(name, tags):
            yield Leftover(
                kind=ResourceKind.ROLE, region=GLOBAL_REGION, name=name, run_id=tags.get(RUN_TAG_KEY), note="role"
            )
    for policy in _pages(iam, "list_policies", "Policies", Scope="Local"):
        if finder.named(policy["PolicyName"]):
            yield Leftover(kind=ResourceKind.POLICY, region=GLOBAL_REGION, name=policy["PolicyName"], note="policy")


Scanner = Callable[[AwsClients, str, Finder], Iterator[Leftover]]
# One scanner per regional service the runbook touches, each returning what of it is ours in a region.
REGIONAL_SCANNERS: dict[str, Scanner] = {
    "dynamodb": _tables,
    "kms": _keys,
    "lambda": _functions,
    "logs": _log_groups,
    "sns": _topics,
    "cloudwatch": _alarms_and_dashboards,
    "backup": _backups,
    "application-autoscaling": _scaling,
    "fis": _experiment_templates,
}


def inventory(
    clients: AwsClients,
    regions: list[str],
    run_id: str | None = None,
    name_hint: str | None = None,
    include_scheduled_keys: bool = False,
    skipped: list[str] | None = None,
) -> list[Leftover]:
    """What exists in every region and service the runbook touches that carries the runbook's tag (for
    ``run_id``, or any run when None) or whose name contains ``name_hint`` (the run's suffix). Every list
    is read page by page. A key the caller may not describe is skipped with a line in ``skipped``."""
    finder = Finder(run_id=run_id, name_hint=name_hint, include_scheduled_keys=include_scheduled_keys)
    scanners = REGIONAL_SCANNERS.values()
    found = [left for region in regions for scan in scanners for left in scan(clients, region, finder)]
    found += _iam(clients, regions[0], finder)
    if skipped is not None:
        skipped.extend(finder.skipped)
    return found


def verification_rows(clients: AwsClients, run: RunState) -> list[dict[str, Any]]:
    """For every region and service the runbook touches: what still carries this run's tag or name."""
    leftovers = inventory(clients, run.params.regions, run.run_id, run.names.suffix)
    rows = []
    for region in run.params.regions:
        for service in REGIONAL_SCANNERS:
            names = [
                f"{left.name} ({left.note})" if left.note else left.name
                for left in leftovers
                if left.region == region and left.service == service
            ]
            rows.append({"region": region, "service": service, "still there": ", ".join(names) or "nothing"})
    iam_names = [left.name for left in leftovers if left.service == "iam"]
    rows.append({"region": GLOBAL_REGION, "service": "iam", "still there": ", ".join(iam_names) or "nothing"})
    return rows


# ----- orphans of earlier runs ------------------------------------------------------------------


def orphans(clients: AwsClients, regions: list[str]) -> dict[str, list[Leftover]]:
    """Resources carrying the runbook's tag, by the run id they carry (any run)."""
    grouped: dict[str, list[Leftover]] = {}
    for leftover in inventory(clients, regions, run_id=None, name_hint=None):
        if leftover.run_id:
            grouped.setdefault(leftover.run_id, []).append(leftover)
    return grouped


def _scaling_of_table(clients: AwsClients, regions: list[str], table: str) -> list[Resource]:
    """Scaling policies and scalable targets of ``table`` and its indexes in every region of the run:
    DynamoDB copies write auto scaling to each replica's region and leaves it there when the replica goes.
    Their target-tracking alarms go with each target (``_deregister_target``)."""
    found: list[Resource] = []

    def of_table(resource_id: str) -> bool:
        return resource_id == f"table/{table}" or resource_id.startswith(f"table/{table}/index/")

    for region in regions:
        scaling = clients.client("application-autoscaling", region)
        for policy in _pages(scaling, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb"):
            if of_table(policy["ResourceId"]):
                details = {"resource_id": policy["ResourceId"], "dimension": policy["ScalableDimension"]}
                found.append(
                    Resource(
                        kind=ResourceKind.SCALING_POLICY, name=policy["PolicyName"], region=region, details=details
                    )
                )
        for target in _pages(scaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb"):
            if of_table(target["ResourceId"]):
                details = {"dimension": target["ScalableDimension"]}
                found.append(
                    Resource(
                        kind=ResourceKind.SCALABLE_TARGET, name=target["ResourceId"], region=region, details=details
                    )
                )
    return found


def _orphan_table(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    table = describe(clients, left.region, left.name) or {}
    found = _scaling_of_table(clients, regions, left.name)
    found.append(Resource(kind=ResourceKind.TABLE, name=left.name, region=left.region))
    found += [
        Resource(kind=ResourceKind.REPLICA, name=left.name, region=r["RegionName"]) for r in table.get("Replicas", [])
    ]
    found += [Resource(kind=ResourceKind.WITNESS, name=left.name, region=w) for w in witness_regions(table)]
    for region in regions:
        cloudwatch = clients.client("cloudwatch", region)
        for entry in _pages(cloudwatch, "list_dashboards", "DashboardEntries", DashboardNamePrefix=left.name):
            found.append(Resource(kind=ResourceKind.DASHBOARD, name=entry["DashboardName"], region=region))
    return found


def _orphan_restored_table(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    found = _scaling_of_table(clients, regions, left.name)
    return [*found, Resource(kind=ResourceKind.RESTORED_TABLE, name=left.name, region=left.region)]


def _orphan_plan(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    backup = clients.client("backup", left.region)
    plan_id = next(
        p["BackupPlanId"]
        for p in _pages(backup, "list_backup_plans", "BackupPlansList")
        if p["BackupPlanName"] == left.name
    )
    found = [
        Resource(
            kind=ResourceKind.BACKUP_SELECTION,
            name=selection["SelectionName"],
            region=left.region,
            details={"plan_id": plan_id, "selection_id": selection["SelectionId"]},
        )
        for selection in _pages(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan_id)
    ]
    return [
        *found,
        Resource(kind=ResourceKind.BACKUP_PLAN, name=left.name, region=left.region, details={"plan_id": plan_id}),
    ]


def _orphan_key(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    kms = clients.client("kms", left.region)
    aliases = [
        Resource(
            kind=ResourceKind.KMS_ALIAS,
            name=alias["AliasName"],
            region=left.region,
            details={"target_key_id": left.name},
        )
        for alias in _pages(kms, "list_aliases", "Aliases", KeyId=left.name)
    ]
    return [*aliases, Resource(kind=ResourceKind.KMS_KEY, name=left.name, region=left.region)]


def _orphan_role(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    iam = clients.client("iam", regions[0])
    policies = [
        Resource(kind=ResourceKind.POLICY, name=policy["PolicyName"], region=GLOBAL_REGION, arn=policy["PolicyArn"])
        for policy in _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=left.name)
        if ":aws:policy/" not in policy["PolicyArn"]
    ]
    return [Resource(kind=ResourceKind.ROLE, name=left.name, region=GLOBAL_REGION), *policies]


def _orphan_function(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    return [
        Resource(kind=ResourceKind.FUNCTION, name=left.name, region=left.region),
        Resource(kind=ResourceKind.LOG_GROUP, name=log_group_name(left.name), region=left.region),
    ]


def _orphan_topic(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    return [Resource(kind=ResourceKind.TOPIC, name=left.name.rsplit(":", 1)[-1], region=left.region, arn=left.name)]


def _orphan_template(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    # Named as 09 records it (its Name tag), found again by the id: the rebuilt manifest has another run id.
    name = left.note or left.name
    return [Resource(kind=ResourceKind.FIS_TEMPLATE, name=name, region=left.region, details={"template_id": left.name})]


def _just_itself(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    # A vault's remover deletes every recovery point in it first, listed or not.
    return [Resource(kind=left.kind, name=left.name, region=left.region)]


# What to remove with each kind of tagged leftover: what belongs to it without carrying the tag. The
# kinds found only by name (aliases, log groups, dashboards, scaling, policies) come with these.
ORPHAN_PARTS: dict[ResourceKind, Callable[[AwsClients, list[str], Leftover], list[Resource]]] = {
    ResourceKind.TABLE: _orphan_table,
    ResourceKind.RESTORED_TABLE: _orphan_restored_table,
    ResourceKind.KMS_KEY: _orphan_key,
    ResourceKind.FUNCTION: _orphan_function,
    ResourceKind.TOPIC: _orphan_topic,
    ResourceKind.ALARM: _just_itself,
    ResourceKind.BACKUP_VAULT: _just_itself,
    ResourceKind.BACKUP_PLAN: _orphan_plan,
    ResourceKind.ROLE: _orphan_role,
    ResourceKind.FIS_TEMPLATE: _orphan_template,
}


def resources_of_orphan_run(clients: AwsClients, regions: list[str], leftovers: list[Leftover]) -> list[Resource]:
    """What to remove for one earlier run known only by its tagged resources: those, plus what belongs
    to them without carrying a tag (replicas, aliases, log groups, dashboards, selections, recovery
    points, scaling targets, policies and their alarms in every region, the role's policy)."""
    found: list[Resource] = []
    for left in leftovers:
        parts = ORPHAN_PARTS.get(left.kind)
        for resource in parts(clients, regions, left) if parts else []:
            if resource.identity not in {r.identity for r in found}:
                found.append(resource)
    return found


def remove_orphan_run(
    clients: AwsClients,
    regions: list[str],
    run_id: str,
    leftovers: list[Leftover],
    scratch: Any,
    on_step: Callable[[Step], None] | None = None,
) -> list[Step]:
    """Remove an earlier run's tagged resources through a manifest rebuilt from them (in ``scratch``)."""
    from globaltables.names import derive_names
    from globaltables.params import validate_params

    resources = resources_of_orphan_run(clients, regions, leftovers)
    tables = [r for r in resources if r.kind == ResourceKind.TABLE]
    primary = tables[0].region if tables else regions[0]
    ordered_regions = [primary] + [r for r in regions if r != primary]
    params = validate_params(
        target=clients.target,
        confirm_costs=clients.target == "aws",
        endpoint_url=clients.endpoint_url,
        regions=ordered_regions[:6],
    )
    state = RunState.create(params, derive_names("orphan"), run_id=f"orphans-{run_id}"[:64], outputs_dir=scratch)
    state.manifest.resources = resources
    state.save()
    return run_cleanup(clients, state, on_step)
