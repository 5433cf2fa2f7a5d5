"""Teardown: remove exactly what a run's manifest records, in dependency order, waiting on status.

Each resource is deleted (or found already gone) and then dropped from the manifest, so a second
cleanup finds nothing to do and a cleanup after an interrupted run removes what that run made. Only
what the manifest records, or what carries the run's tag, is ever deleted. KMS keys cannot be deleted
at once: they are scheduled for deletion after 7 days (AWS's minimum), with their aliases removed.
Fixes of the recipe (defect 16): status polling instead of sleeps, replicas removed one by one with
deletion protection off in their own region, the vault emptied of recovery points first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions
from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.names import RUN_TAG_KEY
from globaltables.state import Resource, RunState
from globaltables.tables import describe, wait_for_table
from globaltables.waiting import wait_until

KMS_PENDING_WINDOW_DAYS = 7

# Dependency order: what depends on something is removed before it.
ORDER = [
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


class Step(BaseModel):
    kind: str
    name: str
    region: str
    outcome: str  # deleted, already gone, scheduled for deletion, failed: ...


class CleanupIncomplete(RuntimeError):
    """Some resources could not be removed; they stay in the manifest for the next attempt."""

    def __init__(self, failed: list[Step]):
        self.failed = failed
        super().__init__(
            f"{len(failed)} resources could not be removed: "
            + "; ".join(f"{s.kind} {s.name} in {s.region}: {s.outcome}" for s in failed[:5])
            + ". Fix the cause and run cleanup again: it resumes with what remains."
        )


def _code(error: botocore.exceptions.ClientError) -> str:
    return error.response["Error"]["Code"]


def plan(run: RunState) -> list[Resource]:
    """The run's resources in the order cleanup removes them (unknown kinds last)."""
    rank = {kind: i for i, kind in enumerate(ORDER)}
    return sorted(run.resources(), key=lambda r: rank.get(r.kind, len(ORDER)))


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
    ddb = clients.client("dynamodb", region)
    wait_for_table(clients, region, name, timeout_s)
    if table.get("DeletionProtectionEnabled"):
        ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
        wait_for_table(clients, region, name, timeout_s)
    ddb.delete_table(TableName=name)
    _table_gone(clients, region, name, timeout_s)
    return "deleted"


def _delete_replica(clients: AwsClients, run: RunState, resource: Resource) -> str:
    primary, region, name = run.params.primary_region, resource.region, resource.name
    timeout = run.params.wait_timeout_s
    replica_table = describe(clients, region, name)
    if replica_table is None:
        return "already gone"
    # Deletion protection belongs to each replica: off in the replica's own region first.
    if replica_table.get("DeletionProtectionEnabled"):
        wait_for_table(clients, region, name, timeout)
        clients.client("dynamodb", region).update_table(TableName=name, DeletionProtectionEnabled=False)
        wait_for_table(clients, region, name, timeout)
    source = describe(clients, primary, name)
    if source is None or region not in {r["RegionName"] for r in source.get("Replicas", [])}:
        # Not (or no longer) a replica of the primary: a table left on its own, ours by the manifest.
        return _delete_table(clients, region, name, timeout)
    wait_for_table(clients, primary, name, timeout)
    clients.client("dynamodb", primary).update_table(
        TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": region}}]
    )
    _table_gone(clients, region, name, timeout)
    wait_for_table(clients, primary, name, timeout)
    return "deleted"


def _delete_role(iam: Any, resource: Resource) -> str:
    try:
        for policy in iam.list_attached_role_policies(RoleName=resource.name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=resource.name, PolicyArn=policy["PolicyArn"])
        for policy_name in iam.list_role_policies(RoleName=resource.name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=resource.name, PolicyName=policy_name)
        iam.delete_role(RoleName=resource.name)
    except botocore.exceptions.ClientError as error:
        if _code(error) in GONE_CODES:
            return "already gone"
        raise
    return "deleted"


def _delete_policy(iam: Any, resource: Resource) -> str:
    try:
        for version in iam.list_policy_versions(PolicyArn=resource.arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=resource.arn, VersionId=version["VersionId"])
        for role in iam.list_entities_for_policy(PolicyArn=resource.arn).get("PolicyRoles", []):
            iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=resource.arn)
        iam.delete_policy(PolicyArn=resource.arn)
    except botocore.exceptions.ClientError as error:
        if _code(error) in GONE_CODES:
            return "already gone"
        raise
    return "deleted"


def _schedule_key_deletion(clients: AwsClients, resource: Resource) -> str:
    kms = clients.client("kms", resource.region)
    try:
        state = kms.describe_key(KeyId=resource.name)["KeyMetadata"]["KeyState"]
        if state == "PendingDeletion":
            return "already scheduled for deletion"
        kms.schedule_key_deletion(KeyId=resource.name, PendingWindowInDays=KMS_PENDING_WINDOW_DAYS)
    except botocore.exceptions.ClientError as error:
        if _code(error) in GONE_CODES:
            return "already gone"
        raise
    return f"scheduled for deletion in {KMS_PENDING_WINDOW_DAYS} days"


def _simple(call: Callable[[], Any]) -> str:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        if _code(error) in GONE_CODES:
            return "already gone"
        raise
    return "deleted"


def remove(clients: AwsClients, run: RunState, resource: Resource) -> str:
    """Remove one resource; returns the outcome. Raises for anything but "it is already gone"."""
    region, name, details = resource.region, resource.name, resource.details
    client = lambda service: clients.client(service, region)  # noqa: E731
    kind = resource.kind
    if kind == "cloudwatch:alarm":  # DeleteAlarms succeeds for absent alarms: look first, to report truly
        if not client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]:
            return "already gone"
        return _simple(lambda: client("cloudwatch").delete_alarms(AlarmNames=[name]))
    if kind == "cloudwatch:dashboard":
        return _simple(lambda: client("cloudwatch").delete_dashboards(DashboardNames=[name]))
    if kind == "sns:topic":  # DeleteTopic succeeds for absent topics too
        if _simple(lambda: client("sns").get_topic_attributes(TopicArn=resource.arn)) == "already gone":
            return "already gone"
        return _simple(lambda: client("sns").delete_topic(TopicArn=resource.arn))
    if kind == "lambda:function":
        return _simple(lambda: client("lambda").delete_function(FunctionName=name))
    if kind == "logs:log-group":
        return _simple(lambda: client("logs").delete_log_group(logGroupName=name))
    if kind == "backup:selection":
        return _simple(
            lambda: client("backup").delete_backup_selection(
                BackupPlanId=details["plan_id"], SelectionId=details["selection_id"]
            )
        )
    if kind == "backup:recovery-point":
        return _simple(
            lambda: client("backup").delete_recovery_point(
                BackupVaultName=details["vault"], RecoveryPointArn=resource.arn
            )
        )
    if kind == "backup:plan":
        return _simple(lambda: client("backup").delete_backup_plan(BackupPlanId=details["plan_id"]))
    if kind == "backup:vault":
        return _simple(lambda: client("backup").delete_backup_vault(BackupVaultName=name))
    if kind == "dynamodb:restored-table":
        return _delete_table(clients, region, name, run.params.wait_timeout_s)
    if kind == "application-autoscaling:scaling-policy":
        return _simple(
            lambda: client("application-autoscaling").delete_scaling_policy(
                PolicyName=name,
                ServiceNamespace="dynamodb",
                ResourceId=details["resource_id"],
                ScalableDimension=details["dimension"],
            )
        )
    if kind == "application-autoscaling:scalable-target":
        return _simple(
            lambda: client("application-autoscaling").deregister_scalable_target(
                ServiceNamespace="dynamodb", ResourceId=name, ScalableDimension=details["dimension"]
            )
        )
    if kind == "dynamodb:replica":
        return _delete_replica(clients, run, resource)
    if kind == "dynamodb:table":
        return _delete_table(clients, region, name, run.params.wait_timeout_s)
    if kind == "iam:role":  # IAM is global; any region's endpoint answers
        return _delete_role(clients.client("iam", run.params.primary_region), resource)
    if kind == "iam:policy":
        return _delete_policy(clients.client("iam", run.params.primary_region), resource)
    if kind == "kms:alias":
        return _simple(lambda: client("kms").delete_alias(AliasName=name))
    if kind == "kms:key":
        return _schedule_key_deletion(clients, resource)
    raise ValueError(f"cleanup does not know how to remove {kind} {name}")


def run_cleanup(clients: AwsClients, run: RunState, on_step: Callable[[Step], None] | None = None) -> list[Step]:
    """Remove every resource of the manifest, in order; each one removed is dropped from the manifest.

    Raises CleanupIncomplete at the end if any could not be removed (the rest is still attempted,
    except what depends on a failure: a table whose replica could not go is left for the next try)."""
    steps: list[Step] = []
    blocked: set[str] = set()
    for resource in plan(run):
        if resource.kind == "dynamodb:table" and "dynamodb:replica" in blocked:
            outcome = "failed: a replica could not be removed first"
        else:
            try:
                outcome = remove(clients, run, resource)
            except Exception as error:  # reported and kept in the manifest for the next attempt
                outcome = f"failed: {type(error).__name__}: {error}"
                blocked.add(resource.kind)
        step = Step(kind=resource.kind, name=resource.name, region=resource.region, outcome=outcome)
        if not outcome.startswith("failed"):
            run.forget(resource.kind, resource.name, resource.region)
        steps.append(step)
        if on_step:
            on_step(step)
    failed = [s for s in steps if s.outcome.startswith("failed")]
    if failed:
        raise CleanupIncomplete(failed)
    return steps


# ----- what still exists ------------------------------------------------------------------------


class Leftover(BaseModel):
    service: str
    region: str
    name: str
    run_id: str | None = None
    note: str = ""


def _tags_match(tags: dict[str, str], run_id: str | None) -> bool:
    return RUN_TAG_KEY in tags and (run_id is None or tags[RUN_TAG_KEY] == run_id)


def inventory(
    clients: AwsClients,
    regions: list[str],
    run_id: str | None = None,
    name_hint: str | None = None,
    include_scheduled_keys: bool = False,
) -> list[Leftover]:
    """What exists in every region and service the runbook touches that carries the runbook's tag (for
    ``run_id``, or any run when None) or whose name contains ``name_hint`` (the run's suffix)."""
    found: list[Leftover] = []

    def ours(name: str, tags: dict[str, str] | None = None) -> bool:
        return (name_hint is not None and name_hint in name) or (tags is not None and _tags_match(tags, run_id))

    for region in regions:
        ddb = clients.client("dynamodb", region)
        for page in ddb.get_paginator("list_tables").paginate():
            for name in page["TableNames"]:
                arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
                tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])}
                if ours(name, tags):
                    found.append(Leftover(service="dynamodb", region=region, name=name, run_id=tags.get(RUN_TAG_KEY)))
        kms = clients.client("kms", region)
        for page in kms.get_paginator("list_keys").paginate():
            for key in page["Keys"]:
                metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
                if metadata.get("KeyManager") == "AWS":
                    continue
                tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])}
                if ours("", tags):
                    pending = metadata["KeyState"] == "PendingDeletion"
                    if pending and not include_scheduled_keys:
                        continue
                    found.append(
                        Leftover(
                            service="kms",
                            region=region,
                            name=key["KeyId"],
                            run_id=tags.get(RUN_TAG_KEY),
                            note="pending deletion" if pending else metadata["KeyState"],
                        )
                    )
        for alias in kms.list_aliases().get("Aliases", []):
            if name_hint and name_hint in alias["AliasName"]:
                found.append(Leftover(service="kms", region=region, name=alias["AliasName"], note="alias"))
        lam = clients.client("lambda", region)
        for function in lam.list_functions().get("Functions", []):
            tags = lam.list_tags(Resource=function["FunctionArn"]).get("Tags", {})
            if ours(function["FunctionName"], tags):
                found.append(
                    Leftover(
                        service="lambda", region=region, name=function["FunctionName"], run_id=tags.get(RUN_TAG_KEY)
                    )
                )
        logs = clients.client("logs", region)
        for group in logs.describe_log_groups().get("logGroups", []):
            if name_hint and name_hint in group["logGroupName"]:
                found.append(Leftover(service="logs", region=region, name=group["logGroupName"]))
        sns = clients.client("sns", region)
        for topic in sns.list_topics().get("Topics", []):
            tags = {
                t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=topic["TopicArn"]).get("Tags", [])
            }
            if ours(topic["TopicArn"], tags):
                found.append(
                    Leftover(service="sns", region=region, name=topic["TopicArn"], run_id=tags.get(RUN_TAG_KEY))
                )
        cloudwatch = clients.client("cloudwatch", region)
        for alarm in cloudwatch.describe_alarms().get("MetricAlarms", []):
            tags = {
                t["Key"]: t["Value"]
                for t in cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
            }
            if ours(alarm["AlarmName"], tags):
                found.append(
                    Leftover(
                        service="cloudwatch",
                        region=region,
                        name=alarm["AlarmName"],
                        run_id=tags.get(RUN_TAG_KEY),
                        note="alarm",
                    )
                )
        for dashboard in cloudwatch.list_dashboards().get("DashboardEntries", []):
            if name_hint and name_hint in dashboard["DashboardName"]:
                found.append(
                    Leftover(service="cloudwatch", region=region, name=dashboard["DashboardName"], note="dashboard")
                )
        backup = clients.client("backup", region)
        for vault in backup.list_backup_vaults().get("BackupVaultList", []):
            tags = backup.list_tags(ResourceArn=vault["BackupVaultArn"]).get("Tags", {})
            if ours(vault["BackupVaultName"], tags):
                found.append(
                    Leftover(
                        service="backup",
                        region=region,
                        name=vault["BackupVaultName"],
                        run_id=tags.get(RUN_TAG_KEY),
                        note="vault",
                    )
                )
        for backup_plan in backup.list_backup_plans().get("BackupPlansList", []):
            tags = backup.list_tags(ResourceArn=backup_plan["BackupPlanArn"]).get("Tags", {})
            if ours(backup_plan["BackupPlanName"], tags):
                found.append(
                    Leftover(
                        service="backup",
                        region=region,
                        name=backup_plan["BackupPlanName"],
                        run_id=tags.get(RUN_TAG_KEY),
                        note="plan",
                    )
                )
        scaling = clients.client("application-autoscaling", region)
        for target in scaling.describe_scalable_targets(ServiceNamespace="dynamodb").get("ScalableTargets", []):
            if name_hint and name_hint in target["ResourceId"]:
                found.append(Leftover(service="application-autoscaling", region=region, name=target["ResourceId"]))
    iam = clients.client("iam", regions[0])
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            named = name_hint is not None and name_hint in role["RoleName"]
            if not named and not role["RoleName"].startswith(("DynamoDBGlobalTableRole-", "GlobalTableBackupRole-")):
                continue
            tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
            if named or _tags_match(tags, run_id):
                found.append(
                    Leftover(
                        service="iam", region="global", name=role["RoleName"], run_id=tags.get(RUN_TAG_KEY), note="role"
                    )
                )
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            if name_hint and name_hint in policy["PolicyName"]:
                found.append(Leftover(service="iam", region="global", name=policy["PolicyName"], note="policy"))
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


def resources_of_orphan_run(clients: AwsClients, regions: list[str], leftovers: list[Leftover]) -> list[Resource]:
    """What to remove for one earlier run known only by its tagged resources: those, plus what belongs
    to them without carrying a tag (replicas, aliases, log groups, dashboards, selections, recovery points,
    scaling targets, the role's policy)."""
    found: list[Resource] = []
    add = lambda kind, name, region, arn=None, **details: found.append(  # noqa: E731
        Resource(kind=kind, name=name, region=region, arn=arn, details=details)
    )
    for left in leftovers:
        if left.service == "dynamodb":
            table = describe(clients, left.region, left.name) or {}
            if "RestoreSummary" in table:
                add("dynamodb:restored-table", left.name, left.region)
                continue
            add("dynamodb:table", left.name, left.region)
            for replica in table.get("Replicas", []):
                add("dynamodb:replica", left.name, replica["RegionName"])
            for region in regions:
                for entry in (
                    clients.client("cloudwatch", region)
                    .list_dashboards(DashboardNamePrefix=left.name)
                    .get("DashboardEntries", [])
                ):
                    add("cloudwatch:dashboard", entry["DashboardName"], region)
            scaling = clients.client("application-autoscaling", left.region)
            for target in scaling.describe_scalable_targets(ServiceNamespace="dynamodb").get("ScalableTargets", []):
                if target["ResourceId"].startswith(f"table/{left.name}"):
                    add(
                        "application-autoscaling:scalable-target",
                        target["ResourceId"],
                        left.region,
                        dimension=target["ScalableDimension"],
                    )
        elif left.service == "kms":
            add("kms:key", left.name, left.region)
            for alias in clients.client("kms", left.region).list_aliases(KeyId=left.name).get("Aliases", []):
                add("kms:alias", alias["AliasName"], left.region)
        elif left.service == "lambda":
            add("lambda:function", left.name, left.region)
            add("logs:log-group", f"/aws/lambda/{left.name}", left.region)
        elif left.service == "sns":
            add("sns:topic", left.name.rsplit(":", 1)[-1], left.region, arn=left.name)
        elif left.service == "cloudwatch" and left.note == "alarm":
            add("cloudwatch:alarm", left.name, left.region)
        elif left.service == "backup" and left.note == "vault":
            backup = clients.client("backup", left.region)
            for point in backup.list_recovery_points_by_backup_vault(BackupVaultName=left.name)["RecoveryPoints"]:
                add(
                    "backup:recovery-point",
                    point["RecoveryPointArn"],
                    left.region,
                    arn=point["RecoveryPointArn"],
                    vault=left.name,
                )
            add("backup:vault", left.name, left.region)
        elif left.service == "backup" and left.note == "plan":
            backup = clients.client("backup", left.region)
            plan_id = next(
                p["BackupPlanId"]
                for p in backup.list_backup_plans()["BackupPlansList"]
                if p["BackupPlanName"] == left.name
            )
            for selection in backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]:
                add(
                    "backup:selection",
                    selection["SelectionName"],
                    left.region,
                    plan_id=plan_id,
                    selection_id=selection["SelectionId"],
                )
            add("backup:plan", left.name, left.region, plan_id=plan_id)
        elif left.service == "iam":
            add("iam:role", left.name, "global")
            iam = clients.client("iam", regions[0])
            for policy in iam.list_attached_role_policies(RoleName=left.name)["AttachedPolicies"]:
                if ":aws:policy/" not in policy["PolicyArn"]:
                    add("iam:policy", policy["PolicyName"], "global", arn=policy["PolicyArn"])
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
