"""Teardown: remove exactly what a run's manifest records, in dependency order, waiting on status.

Each resource is deleted (or found already gone) and then dropped from the manifest, so a second
cleanup finds nothing to do and a cleanup after an interrupted run removes what that run made. Only
what the manifest records, or what carries the run's tag, is ever deleted. KMS keys cannot be deleted
at once: they are scheduled for deletion after 7 days (AWS's minimum), with their aliases removed.

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
from typing import Any

import botocore.exceptions
from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.names import APP_ROLE_PREFIX, BACKUP_ROLE_PREFIX, RUN_TAG_KEY, log_group_name
from globaltables.state import Resource, RunState
from globaltables.tables import describe, is_strong, wait_for_table, witness_regions
from globaltables.waiting import error_code, retry_on_codes, wait_until

KMS_PENDING_WINDOW_DAYS = 7
LOG = logging.getLogger(__name__)

# Dependency order: what depends on something is removed before it.
ORDER = [
    "fis:experiment",
    "fis:experiment-template",
    "cloudwatch:alarm",
    "cloudwatch:dashboard",
    "sns:topic",
    "lambda:function",
    "logs:log-group",
    "backup:selection",
    "backup:recovery-point",
    "backup:plan",
    "backup:vault",
    "dynamodb:restored-table",
    "application-autoscaling:scaling-policy",
    "application-autoscaling:scalable-target",
    "dynamodb:replica",
    "dynamodb:witness",
    "dynamodb:table",
    "iam:role",
    "iam:policy",
    "kms:alias",
    "kms:key",
]

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
TABLE_KINDS = ("dynamodb:table", "dynamodb:replica", "dynamodb:restored-table")
KEY_KINDS = ("kms:alias", "kms:key")
HELD_BACK = "held back"


class Step(BaseModel):
    kind: str
    name: str
    region: str
    outcome: str  # deleted, already gone, scheduled for deletion, held back: ..., failed: ...

    @property
    def incomplete(self) -> bool:
        return self.outcome.startswith(("failed", HELD_BACK))


class CleanupIncomplete(RuntimeError):
    """Some resources could not be removed (failed) or had to wait for one that could not (held back);
    they stay in the manifest for the next attempt."""

    def __init__(self, failed: list[Step]):
        self.failed = failed
        super().__init__(
            f"{len(failed)} resources could not be removed: "
            + "; ".join(f"{s.kind} {s.name} in {s.region}: {s.outcome}" for s in failed[:5])
            + ". Fix the cause and run cleanup again: it resumes with what remains."
        )


def plan(run: RunState) -> list[Resource]:
    """The run's resources in the order cleanup removes them (unknown kinds last)."""
    rank = {kind: i for i, kind in enumerate(ORDER)}
    return sorted(run.resources(), key=lambda r: rank.get(r.kind, len(ORDER)))


def _pages(client: Any, operation: str, result_key: str, **arguments: Any) -> Iterator[Any]:
    """Every item of every page of a list call (AWS pages them all; a first page is not the list)."""
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(result_key, [])


def _gone_is_fine(call: Callable[[], Any]) -> str:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        if error_code(error) in GONE_CODES:
            return "already gone"
        raise
    return "deleted"


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


def _delete_table(clients: AwsClients, region: str, name: str, timeout_s: float) -> str:
    table = describe(clients, region, name)
    if table is None:
        return "already gone"
    if is_strong(table):
        # AWS refuses DeleteTable on a member of a strong table: it becomes a single-region table first.
        table = _dissolve_strong(clients, region, name, timeout_s)
        if table is None:
            return "already gone"
    _protection_off(clients, region, name, table, timeout_s)
    ddb = clients.client("dynamodb", region)
    _when_settled(clients, region, name, timeout_s, lambda: ddb.delete_table(TableName=name))
    _table_gone(clients, region, name, timeout_s)
    return "deleted"


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


def _delete_witness(clients: AwsClients, run: RunState, resource: Resource) -> str:
    """A witness goes only with the dissolution of its table (nothing of it is in the witness's region)."""
    region = _strong_member_region(clients, run, resource.name)
    table = describe(clients, region, resource.name) if region else None
    if table is None or resource.region not in witness_regions(table):
        return "already gone"
    _dissolve_strong(clients, region, resource.name, run.params.wait_timeout_s)  # type: ignore[arg-type]
    return "deleted"


def _delete_replica(clients: AwsClients, run: RunState, resource: Resource) -> str:
    primary, region, name = run.params.primary_region, resource.region, resource.name
    timeout = run.params.wait_timeout_s
    replica_table = describe(clients, region, name)
    if replica_table is None:
        return "already gone"
    if is_strong(replica_table) and _dissolve_for(clients, run, name):
        # The table of ``region`` went with the others, or remains as the single-region table when the
        # dissolution was called from there (the primary no longer held the strong table).
        return "deleted" if describe(clients, region, name) is None else _delete_table(clients, region, name, timeout)
    source = describe(clients, primary, name)
    listed = {r["RegionName"]: r.get("ReplicaStatus") for r in (source or {}).get("Replicas", [])}
    if replica_table["TableStatus"] == "DELETING" or listed.get(region) == "DELETING":
        # An earlier cleanup's deletion still under way (AWS refuses a second Delete): wait for its end.
        _table_gone(clients, region, name, timeout)
        wait_for_table(clients, primary, name, timeout, SETTLED)
        return "deleted"
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
    return "deleted"


# ----- the other services ---------------------------------------------------------------------------


def _delete_role(clients: AwsClients, run: RunState, resource: Resource) -> str:
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


def _delete_policy(clients: AwsClients, run: RunState, resource: Resource) -> str:
    iam, arn = clients.client("iam", run.params.primary_region), resource.arn

    def delete() -> None:
        for version in list(_pages(iam, "list_policy_versions", "Versions", PolicyArn=arn)):
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        for role in list(_pages(iam, "list_entities_for_policy", "PolicyRoles", PolicyArn=arn)):
            iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
        iam.delete_policy(PolicyArn=arn)

    return _gone_is_fine(delete)


def _schedule_key_deletion(clients: AwsClients, run: RunState, resource: Resource) -> str:
    kms = clients.client("kms", resource.region)
    try:
        state = kms.describe_key(KeyId=resource.name)["KeyMetadata"]["KeyState"]
        if state == "PendingDeletion":
            return "already scheduled for deletion"
        kms.schedule_key_deletion(KeyId=resource.name, PendingWindowInDays=KMS_PENDING_WINDOW_DAYS)
    except botocore.exceptions.ClientError as error:
        if error_code(error) in GONE_CODES:
            return "already gone"
        raise
    return f"scheduled for deletion in {KMS_PENDING_WINDOW_DAYS} days"


def _delete_alarm(clients: AwsClients, run: RunState, resource: Resource) -> str:
    cloudwatch = clients.client("cloudwatch", resource.region)
    # DeleteAlarms succeeds for absent alarms: look first, to report truly.
    if not cloudwatch.describe_alarms(AlarmNames=[resource.name])["MetricAlarms"]:
        return "already gone"
    return _gone_is_fine(lambda: cloudwatch.delete_alarms(AlarmNames=[resource.name]))


def _delete_topic(clients: AwsClients, run: RunState, resource: Resource) -> str:
    sns = clients.client("sns", resource.region)
    # DeleteTopic succeeds for absent topics too.
    if _gone_is_fine(lambda: sns.get_topic_attributes(TopicArn=resource.arn)) == "already gone":
        return "already gone"
    return _gone_is_fine(lambda: sns.delete_topic(TopicArn=resource.arn))


def _recovery_points(backup: Any, vault: str) -> list[dict[str, Any]]:
    try:
        return list(_pages(backup, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=vault))
    except botocore.exceptions.ClientError as error:
        if error_code(error) in GONE_CODES:
            return []
        raise


def _delete_vault(clients: AwsClients, run: RunState, resource: Resource) -> str:
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


def _deregister_target(clients: AwsClients, run: RunState, resource: Resource) -> str:
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


def _stop_experiment(clients: AwsClients, run: RunState, resource: Resource) -> str:
    """An FIS experiment cannot be deleted; one still running is stopped (its action's pause ends with it)."""
    fis = clients.client("fis", resource.region)
    try:
        status = fis.get_experiment(id=resource.name)["experiment"]["state"]["status"]
    except botocore.exceptions.ClientError as error:
        if error_code(error) in GONE_CODES:
            return "already gone"
        raise
    if status in {"pending", "initiating", "running"}:
        fis.stop_experiment(id=resource.name)
        return "stopped"
    return f"already ended ({status})"


def _delete_experiment_template(clients: AwsClients, run: RunState, resource: Resource) -> str:
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
    return outcomes[0] if len(outcomes) == 1 else (", ".join(outcomes) or "already gone")


def _call(service: str, method: str, **arguments: Callable[[Resource], Any]) -> Callable[..., str]:
    """A remover that makes one delete call whose arguments come from the resource."""

    def remover(clients: AwsClients, run: RunState, resource: Resource) -> str:
        client = clients.client(service, resource.region)
        return _gone_is_fine(lambda: getattr(client, method)(**{k: f(resource) for k, f in arguments.items()}))

    return remover


def _name(r: Resource) -> str:
    return r.name


def _detail(key: str) -> Callable[[Resource], Any]:
    return lambda r: r.details[key]


REMOVERS: dict[str, Callable[[AwsClients, RunState, Resource], str]] = {
    "fis:experiment": _stop_experiment,
    "fis:experiment-template": _delete_experiment_template,
    "cloudwatch:alarm": _delete_alarm,
    "cloudwatch:dashboard": _call("cloudwatch", "delete_dashboards", DashboardNames=lambda r: [r.name]),
    "sns:topic": _delete_topic,
    "lambda:function": _call("lambda", "delete_function", FunctionName=_name),
    "logs:log-group": _call("logs", "delete_log_group", logGroupName=_name),
    "backup:selection": _call(
        "backup", "delete_backup_selection", BackupPlanId=_detail("plan_id"), SelectionId=_detail("selection_id")
    ),
    "backup:recovery-point": _call(
        "backup", "delete_recovery_point", BackupVaultName=_detail("vault"), RecoveryPointArn=lambda r: r.arn
    ),
    "backup:plan": _call("backup", "delete_backup_plan", BackupPlanId=_detail("plan_id")),
    "backup:vault": _delete_vault,
    "dynamodb:restored-table": lambda c, run, r: _delete_table(c, r.region, r.name, run.params.wait_timeout_s),
    "application-autoscaling:scaling-policy": _call(
        "application-autoscaling",
        "delete_scaling_policy",
        PolicyName=_name,
        ServiceNamespace=lambda r: "dynamodb",
        ResourceId=_detail("resource_id"),
        ScalableDimension=_detail("dimension"),
    ),
    "application-autoscaling:scalable-target": _deregister_target,
    "dynamodb:replica": _delete_replica,
    "dynamodb:witness": _delete_witness,
    "dynamodb:table": lambda c, run, r: _delete_table(c, r.region, r.name, run.params.wait_timeout_s),
    "iam:role": _delete_role,
    "iam:policy": _delete_policy,
    "kms:alias": _call("kms", "delete_alias", AliasName=_name),
    "kms:key": _schedule_key_deletion,
}


def remove(clients: AwsClients, run: RunState, resource: Resource) -> str:
    """Remove one resource; returns the outcome. Raises for anything but "it is already gone"."""
    remover = REMOVERS.get(resource.kind)
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


def run_cleanup(clients: AwsClients, run: RunState, on_step: Callable[[Step], None] | None = None) -> list[Step]:
    """Remove every resource of the manifest, in order; each one removed is dropped from the manifest.

    A resource that something remaining still uses (``waiting_for``) is held back and kept. Raises
    CleanupIncomplete at the end if any failed or was held back; the rest is still attempted, and the
    next call resumes with what remains."""
    steps: list[Step] = []
    for resource in plan(run):
        user = waiting_for(run, resource)
        if user is not None:
            outcome = f"{HELD_BACK}: {user.kind} {user.name} in {user.region} still uses it"
        else:
            try:
                outcome = remove(clients, run, resource)
            except Exception as error:  # reported and kept in the manifest for the next attempt
                outcome = f"failed: {type(error).__name__}: {error}"
        step = Step(kind=resource.kind, name=resource.name, region=resource.region, outcome=outcome)
        if not step.incomplete:
            run.forget(resource.kind, resource.name, resource.region)
        steps.append(step)
        if on_step:
            on_step(step)
    incomplete = [s for s in steps if s.incomplete]
    if incomplete:
        raise CleanupIncomplete(incomplete)
    return steps


# ----- what still exists ------------------------------------------------------------------------


class Leftover(BaseModel):
    service: str
    region: str
    name: str
    run_id: str | None = None
    note: str = ""


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


def _tags(
    pairs: list[dict[str, str]] | dict[str, str] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    """One tag dict from any service's answer: a dict already (Lambda, Backup) or a list of pairs."""
    if isinstance(pairs, dict):
        return pairs
    return {pair[key]: pair[value] for pair in pairs or []}


def _tables(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    ddb = clients.client("dynamodb", region)
    for name in _pages(ddb, "list_tables", "TableNames"):
        table = describe(clients, region, name)
        if table is None:
            continue
        tags = _tags(ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
        if finder.ours(name, tags):
            witness = "".join(f", witness in {w}" for w in witness_regions(table))
            note = f"strong (MRSC){witness}" if is_strong(table) else ""
            yield Leftover(service="dynamodb", region=region, name=name, run_id=tags.get(RUN_TAG_KEY), note=note)


def _keys(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    kms = clients.client("kms", region)
    for key in _pages(kms, "list_keys", "Keys"):
        try:
            metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if metadata.get("KeyManager") == "AWS":
                continue
            pairs = list(_pages(kms, "list_resource_tags", "Tags", KeyId=key["KeyId"]))
        except botocore.exceptions.ClientError as error:
            if error_code(error) not in UNREADABLE_CODES:
                raise
            finder.skip(f"kms key {key['KeyId']} in {region} skipped: {error_code(error)} (its policy excludes you)")
            continue
        tags = _tags(pairs, "TagKey", "TagValue")
        pending = metadata["KeyState"] == "PendingDeletion"
        if finder.tagged(tags) and (finder.include_scheduled_keys or not pending):
            note = "pending deletion" if pending else metadata["KeyState"]
            yield Leftover(service="kms", region=region, name=key["KeyId"], run_id=tags.get(RUN_TAG_KEY), note=note)
    for alias in _pages(kms, "list_aliases", "Aliases"):
        if finder.named(alias["AliasName"]):
            yield Leftover(service="kms", region=region, name=alias["AliasName"], note="alias")


def _functions(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    lam = clients.client("lambda", region)
    for function in _pages(lam, "list_functions", "Functions"):
        tags = _tags(lam.list_tags(Resource=function["FunctionArn"]).get("Tags"))
        if finder.ours(function["FunctionName"], tags):
            yield Leftover(service="lambda", region=region, name=function["FunctionName"], run_id=tags.get(RUN_TAG_KEY))


def _log_groups(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    for group in _pages(clients.client("logs", region), "describe_log_groups", "logGroups"):
        if finder.named(group["logGroupName"]):
            yield Leftover(service="logs", region=region, name=group["logGroupName"])


def _topics(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    sns = clients.client("sns", region)
    for topic in _pages(sns, "list_topics", "Topics"):
        tags = _tags(sns.list_tags_for_resource(ResourceArn=topic["TopicArn"]).get("Tags"))
        if finder.ours(topic["TopicArn"], tags):
            yield Leftover(service="sns", region=region, name=topic["TopicArn"], run_id=tags.get(RUN_TAG_KEY))


def _alarms_and_dashboards(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    cloudwatch = clients.client("cloudwatch", region)
    for alarm in _pages(cloudwatch, "describe_alarms", "MetricAlarms"):
        tags = _tags(cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags"))
        if finder.ours(alarm["AlarmName"], tags):
            yield Leftover(
                service="cloudwatch", region=region, name=alarm["AlarmName"], run_id=tags.get(RUN_TAG_KEY), note="alarm"
            )
    for dashboard in _pages(cloudwatch, "list_dashboards", "DashboardEntries"):
        if finder.named(dashboard["DashboardName"]):
            yield Leftover(service="cloudwatch", region=region, name=dashboard["DashboardName"], note="dashboard")


def _backups(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    backup = clients.client("backup", region)
    listings = [
        ("list_backup_vaults", "BackupVaultList", "BackupVaultName", "BackupVaultArn", "vault"),
        ("list_backup_plans", "BackupPlansList", "BackupPlanName", "BackupPlanArn", "plan"),
    ]
    for operation, result_key, name_key, arn_key, note in listings:
        for item in _pages(backup, operation, result_key):
            tags = _tags(backup.list_tags(ResourceArn=item[arn_key]).get("Tags"))
            if finder.ours(item[name_key], tags):
                yield Leftover(
                    service="backup", region=region, name=item[name_key], run_id=tags.get(RUN_TAG_KEY), note=note
                )


def _scaling(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    scaling = clients.client("application-autoscaling", region)
    for target in _pages(scaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb"):
        if finder.named(target["ResourceId"]):
            yield Leftover(service="application-autoscaling", region=region, name=target["ResourceId"], note="target")
    for policy in _pages(scaling, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb"):
        if finder.named(policy["ResourceId"]):
            yield Leftover(service="application-autoscaling", region=region, name=policy["PolicyName"], note="policy")


def _iam(clients: AwsClients, region: str, finder: Finder) -> Iterator[Leftover]:
    iam = clients.client("iam", region)
    for role in _pages(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        if not finder.named(name) and not name.startswith((APP_ROLE_PREFIX, BACKUP_ROLE_PREFIX)):
            continue
        tags = _tags(list(_pages(iam, "list_role_tags", "Tags", RoleName=name)))
        if finder.ours(name, tags):
            yield Leftover(service="iam", region="global", name=name, run_id=tags.get(RUN_TAG_KEY), note="role")
    for policy in _pages(iam, "list_policies", "Policies", Scope="Local"):
        if finder.named(policy["PolicyName"]):
            yield Leftover(service="iam", region="global", name=policy["PolicyName"], note="policy")


# One scanner per service the runbook touches, each returning what of it is ours in a region.
REGIONAL_SCANNERS = [_tables, _keys, _functions, _log_groups, _topics, _alarms_and_dashboards, _backups, _scaling]


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
    found = [left for region in regions for scan in REGIONAL_SCANNERS for left in scan(clients, region, finder)]
    found += _iam(clients, regions[0], finder)
    if skipped is not None:
        skipped.extend(finder.skipped)
    return found


def verification_rows(clients: AwsClients, run: RunState) -> list[dict[str, Any]]:
    """For every region and service the runbook touches: what still carries this run's tag or name."""
    leftovers = inventory(clients, run.params.regions, run.run_id, run.names.suffix)
    services = ["dynamodb", "kms", "lambda", "logs", "sns", "cloudwatch", "backup", "application-autoscaling"]
    rows = []
    for region in run.params.regions:
        for service in services:
            names = [
                f"{left.name} ({left.note})" if left.note else left.name
                for left in leftovers
                if left.region == region and left.service == service
            ]
            rows.append({"region": region, "service": service, "still there": ", ".join(names) or "nothing"})
    iam_names = [left.name for left in leftovers if left.service == "iam"]
    rows.append({"region": "global", "service": "iam", "still there": ", ".join(iam_names) or "nothing"})
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
                        kind="application-autoscaling:scaling-policy",
                        name=policy["PolicyName"],
                        region=region,
                        details=details,
                    )
                )
        for target in _pages(scaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb"):
            if of_table(target["ResourceId"]):
                found.append(
                    Resource(
                        kind="application-autoscaling:scalable-target",
                        name=target["ResourceId"],
                        region=region,
                        details={"dimension": target["ScalableDimension"]},
                    )
                )
    return found


def _orphan_table(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    table = describe(clients, left.region, left.name) or {}
    found = _scaling_of_table(clients, regions, left.name)
    if "RestoreSummary" in table:
        return [*found, Resource(kind="dynamodb:restored-table", name=left.name, region=left.region)]
    found.append(Resource(kind="dynamodb:table", name=left.name, region=left.region))
    found += [
        Resource(kind="dynamodb:replica", name=left.name, region=r["RegionName"]) for r in table.get("Replicas", [])
    ]
    found += [Resource(kind="dynamodb:witness", name=left.name, region=w) for w in witness_regions(table)]
    for region in regions:
        cloudwatch = clients.client("cloudwatch", region)
        for entry in _pages(cloudwatch, "list_dashboards", "DashboardEntries", DashboardNamePrefix=left.name):
            found.append(Resource(kind="cloudwatch:dashboard", name=entry["DashboardName"], region=region))
    return found


def _orphan_vault(clients: AwsClients, left: Leftover) -> list[Resource]:
    # The vault's remover deletes every recovery point in it first, listed or not.
    return [Resource(kind="backup:vault", name=left.name, region=left.region)]


def _orphan_plan(clients: AwsClients, left: Leftover) -> list[Resource]:
    backup = clients.client("backup", left.region)
    plan_id = next(
        p["BackupPlanId"]
        for p in _pages(backup, "list_backup_plans", "BackupPlansList")
        if p["BackupPlanName"] == left.name
    )
    found = [
        Resource(
            kind="backup:selection",
            name=selection["SelectionName"],
            region=left.region,
            details={"plan_id": plan_id, "selection_id": selection["SelectionId"]},
        )
        for selection in _pages(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan_id)
    ]
    return [*found, Resource(kind="backup:plan", name=left.name, region=left.region, details={"plan_id": plan_id})]


def _orphan_key(clients: AwsClients, left: Leftover) -> list[Resource]:
    kms = clients.client("kms", left.region)
    aliases = [
        Resource(kind="kms:alias", name=alias["AliasName"], region=left.region, details={"target_key_id": left.name})
        for alias in _pages(kms, "list_aliases", "Aliases", KeyId=left.name)
    ]
    return [*aliases, Resource(kind="kms:key", name=left.name, region=left.region)]


def _orphan_role(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    iam = clients.client("iam", regions[0])
    policies = [
        Resource(kind="iam:policy", name=policy["PolicyName"], region="global", arn=policy["PolicyArn"])
        for policy in _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=left.name)
        if ":aws:policy/" not in policy["PolicyArn"]
    ]
    return [Resource(kind="iam:role", name=left.name, region="global"), *policies]


def _orphan_resources(clients: AwsClients, regions: list[str], left: Leftover) -> list[Resource]:
    if left.service == "dynamodb":
        return _orphan_table(clients, regions, left)
    if left.service == "kms":
        return _orphan_key(clients, left)
    if left.service == "lambda":
        return [
            Resource(kind="lambda:function", name=left.name, region=left.region),
            Resource(kind="logs:log-group", name=log_group_name(left.name), region=left.region),
        ]
    if left.service == "sns":
        return [Resource(kind="sns:topic", name=left.name.rsplit(":", 1)[-1], region=left.region, arn=left.name)]
    if left.service == "cloudwatch" and left.note == "alarm":
        return [Resource(kind="cloudwatch:alarm", name=left.name, region=left.region)]
    if left.service == "backup" and left.note == "vault":
        return _orphan_vault(clients, left)
    if left.service == "backup" and left.note == "plan":
        return _orphan_plan(clients, left)
    if left.service == "iam":
        return _orphan_role(clients, regions, left)
    return []


def resources_of_orphan_run(clients: AwsClients, regions: list[str], leftovers: list[Leftover]) -> list[Resource]:
    """What to remove for one earlier run known only by its tagged resources: those, plus what belongs
    to them without carrying a tag (replicas, aliases, log groups, dashboards, selections, recovery
    points, scaling targets, policies and their alarms in every region, the role's policy)."""
    found: list[Resource] = []
    for left in leftovers:
        for resource in _orphan_resources(clients, regions, left):
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
    tables = [r for r in resources if r.kind == "dynamodb:table"]
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
