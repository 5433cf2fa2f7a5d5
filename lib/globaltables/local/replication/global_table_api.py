"""The rest of DynamoDB's global-table API on the embedded AWS, and what it refuses before moto acts.

moto 5.2.5 implements none of these operations (each answered HTTP 500) and accepts parameters it then
ignores. Here, as AWS answers for version 2019.11.21 tables (wording and sources in ``errors``):

- The legacy (2017.11.29) API: ``DescribeGlobalTable`` answers ``GlobalTableNotFoundException`` for
  every name, which is how AWS's guide tells a table's version; ``DescribeGlobalTableSettings`` and
  ``UpdateGlobalTableSettings`` answer it too; ``ListGlobalTables`` lists nothing; ``CreateGlobalTable``
  and ``UpdateGlobalTable``'s ``Create`` are refused as AWS now refuses version 2017.11.29.
- ``DescribeTableReplicaAutoScaling`` and ``UpdateTableReplicaAutoScaling``: a view of, and a way to
  change, the Application Auto Scaling state of the table and its indexes in every replica's region
  (the same scalable targets and target-tracking policies that ``RegisterScalableTarget`` and
  ``PutScalingPolicy`` make). Write settings apply to every replica, read settings to the replica named.
  Disabling deregisters the target and deletes its policies (and their alarms), as on AWS.
- Before moto handles ``CreateTable``, ``UpdateTable`` or ``DeleteTable``: a parameter listed in
  ``NOT_EMULATED`` is refused, naming it (moto would accept and ignore it); a ``ReplicaUpdates`` entry
  with no action or several, or a region that does not exist, is refused; ``DeleteTable`` of a table
  whose deletion protection is on is refused in AWS's words (moto has its own).

Where it hooks moto (rows in ``hooks.py``): the operations become methods of ``DynamoHandler``, so moto's
own ``call_action`` authorizes, dispatches and serializes them (``add_operations`` refuses to start if
moto gains one of them); ``DynamoHandler.call_action`` is wrapped (``call_action_hook``), the one point
every DynamoDB request passes with its parsed parameters before moto's handler or ours runs.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import botocore.session
from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.core.responses import ActionResult
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler
from werkzeug.exceptions import HTTPException

from globaltables.local.replication import errors
from globaltables.local.replication.models import WRITE_LOCK, GlobalTables

SCALING_NAMESPACE = "dynamodb"
# Application Auto Scaling's service-linked role for DynamoDB, used when a target names no role.
SCALING_ROLE = (
    "arn:aws:iam::{account}:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable"
)
TARGET_TRACKING_KEYS = ("DisableScaleIn", "ScaleInCooldown", "ScaleOutCooldown", "TargetValue")
# The order AWS lists missing or extra settings in (ack-api-quirks DDB-TABLE-253, DDB-TABLE-242).
SETTINGS_ORDER = ("MaximumUnits", "ScalingPolicyUpdate", "MinimumUnits")


def _always(value: Any) -> bool:
    return True


# Parameters moto 5.2.5 accepts and ignores that nothing in the embedded AWS emulates: refused, with
# the value test that refuses them. TableClass, OnDemandThroughput, WarmThroughput, SSESpecification
# and ReplicaUpdates' per-replica overrides are left to the settings synchronisation (issue 13, point 1);
# MultiRegionConsistency and GlobalTableWitnessUpdates to ``strong`` (issue 16).
NOT_EMULATED: dict[str, dict[str, Callable[[Any], bool]]] = {
    "CreateTable": {
        "ResourcePolicy": _always,
        "GlobalTableSourceArn": _always,
        "GlobalTableSettingsReplicationMode": _always,
        "VectorIndexes": _always,
    },
    "UpdateTable": {
        "GlobalTableSettingsReplicationMode": _always,
        "DisassociationProtectionEnabled": _always,
        "VectorIndexUpdates": _always,
        "ReplicaUpdates.Disassociate": _always,
    },
}


@functools.cache
def dynamodb_regions(partition: str) -> tuple[str, ...]:
    return tuple(botocore.session.get_session().get_available_regions("dynamodb", partition))


def regions_like(region: str) -> tuple[str, ...]:
    """The DynamoDB regions of ``region``'s partition (the ``aws`` partition for a made-up name)."""
    session = botocore.session.get_session()
    try:
        partition = session.get_partition_for_region(region)
    except Exception:  # botocore raises UnknownRegionError, or ValueError for odd names
        partition = "aws"
    return dynamodb_regions(partition)


def check_region(region: str, home: str) -> None:
    regions = regions_like(home)
    if region not in regions:
        raise errors.RegionNotSupported(region=region, regions=", ".join(regions))


# ----- checks before moto acts ---------------------------------------------------------------------


def _not_emulated(operation: str, params: dict[str, Any]) -> None:
    for parameter, refused in NOT_EMULATED.get(operation, {}).items():
        if "." in parameter:
            continue
        if params.get(parameter) is not None and refused(params[parameter]):
            raise errors.ParameterNotEmulated(operation=operation, parameter=parameter)


def _check_replica_updates(handler: Any, params: dict[str, Any]) -> None:
    for update in params.get("ReplicaUpdates") or []:
        actions = [action for action, spec in update.items() if spec is not None]
        if "Disassociate" in actions and NOT_EMULATED["UpdateTable"].get("ReplicaUpdates.Disassociate"):
            raise errors.ParameterNotEmulated(operation="UpdateTable", parameter="ReplicaUpdates.Disassociate")
        if not actions:
            raise errors.ReplicaActionMissing()
        if len(actions) > 1:
            raise errors.ReplicaActionsOfSeveralTypes()
        region = (update[actions[0]] or {}).get("RegionName")
        if region:
            check_region(region, handler.region)
    for update in params.get("GlobalTableWitnessUpdates") or []:
        for spec in update.values():
            if spec and spec.get("RegionName"):
                check_region(spec["RegionName"], handler.region)


def _check_deletion_protection(model: GlobalTables, handler: Any, params: dict[str, Any]) -> None:
    try:
        table = handler.dynamodb_backend.get_table(params.get("TableName"))  # by name or ARN
    except Exception:  # moto's ResourceNotFoundException: moto's DeleteTable answers it
        return
    if not table.deletion_protection_enabled:
        return
    if model.group_of(table) is not None:
        raise errors.ReplicaDeletionProtected(name=table.name, region=table.region_name)
    raise errors.TableDeletionProtected()


def check_request(model: GlobalTables, handler: Any) -> None:
    """What AWS refuses, or the embedded AWS does not emulate, in a DynamoDB request; raises a
    ``errors.DynamoDBError``."""
    action = handler._get_action()
    params = getattr(handler, "params", None) or {}
    if action in NOT_EMULATED:
        _not_emulated(action, params)
    if action == "UpdateTable":
        _check_replica_updates(handler, params)
    elif action == "DeleteTable":
        _check_deletion_protection(model, handler, params)


def call_action_hook(model: GlobalTables) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``DynamoHandler.call_action``, checking the request first (``check_request``)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def call_action(self: Any) -> Any:
            try:
                check_request(model, self)
            except HTTPException as refusal:
                headers, body = self._enrich_response(dict(refusal.get_headers()), refusal.get_body())
                return refusal.code, headers, body
            return original(self)

        return call_action

    return make


# ----- the legacy (2017.11.29) API ---------------------------------------------------------------


def describe_global_table(self: Any) -> ActionResult:
    raise errors.GlobalTableNotFound(name=self.params["GlobalTableName"])


def describe_global_table_settings(self: Any) -> ActionResult:
    raise errors.GlobalTableSettingsNotFound(name=self.params["GlobalTableName"])


def update_global_table_settings(self: Any) -> ActionResult:
    raise errors.GlobalTableSettingsNotFound(name=self.params["GlobalTableName"])


def list_global_tables(self: Any) -> ActionResult:
    region = self.params.get("RegionName")
    if region:
        check_region(region, self.region)
    return ActionResult({"GlobalTables": []})


def create_global_table(self: Any) -> ActionResult:
    raise errors.LegacyVersionNotSupported()


def update_global_table(self: Any) -> ActionResult:
    updates = self.params.get("ReplicaUpdates") or []
    if any(update.get("Create") for update in updates):
        raise errors.LegacyVersionNotSupported()
    if not updates:
        raise errors.ParameterValuesInvalid()
    raise errors.GlobalTableSettingsNotFound(name=self.params["GlobalTableName"])


# ----- replica auto scaling ----------------------------------------------------------------------


def _resource(table_name: str, index: str | None = None) -> str:
    return f"table/{table_name}" + (f"/index/{index}" if index else "")


def _dimension(index: str | None, reads_or_writes: str) -> str:
    return f"dynamodb:{'index' if index else 'table'}:{reads_or_writes}CapacityUnits"


def _metric(reads_or_writes: str) -> str:
    return f"DynamoDB{reads_or_writes}CapacityUtilization"


def _policies(scaling: Any, resource: str, dimension: str) -> list[Any]:
    return [
        policy
        for policy in scaling.policies.values()
        if policy.service_namespace == SCALING_NAMESPACE
        and policy.resource_id == resource
        and policy.scalable_dimension == dimension
    ]


def describe_settings(scaling: Any, account_id: str, resource: str, dimension: str) -> dict[str, Any]:
    """AutoScalingSettingsDescription of one scalable dimension, from Application Auto Scaling's state."""
    target = scaling.targets.get(dimension, {}).get(resource)
    if target is None:
        return {"AutoScalingDisabled": True, "ScalingPolicies": []}
    policies = []
    for policy in _policies(scaling, resource, dimension):
        config = policy.target_tracking_scaling_policy_configuration or {}
        policies.append(
            {
                "PolicyName": policy.policy_name,
                "TargetTrackingScalingPolicyConfiguration": {k: config[k] for k in TARGET_TRACKING_KEYS if k in config},
            }
        )
    return {
        "MinimumUnits": target.min_capacity,
        "MaximumUnits": target.max_capacity,
        "AutoScalingDisabled": False,
        "AutoScalingRoleArn": target.role_arn or SCALING_ROLE.format(account=account_id),
        "ScalingPolicies": policies,
    }


def describe_replica_auto_scaling(group: Any, table: Any) -> dict[str, Any]:
    """TableAutoScalingDescription: every replica, home included, in region order (as AWS lists them)."""
    replicas = []
    for region in sorted(group.replicas):
        scaling = applicationautoscaling_backends[table.account_id][region]
        replica_table = dynamodb_backends[table.account_id][region].tables.get(table.name)
        indexes = replica_table.global_indexes if replica_table is not None else []
        replicas.append(
            {
                "RegionName": region,
                "ReplicaStatus": group.replicas[region].status,
                "ReplicaProvisionedReadCapacityAutoScalingSettings": describe_settings(
                    scaling, table.account_id, _resource(table.name), _dimension(None, "Read")
                ),
                "ReplicaProvisionedWriteCapacityAutoScalingSettings": describe_settings(
                    scaling, table.account_id, _resource(table.name), _dimension(None, "Write")
                ),
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": index.name,
                        "IndexStatus": index.status,
                        "ProvisionedReadCapacityAutoScalingSettings": describe_settings(
                            scaling, table.account_id, _resource(table.name, index.name), _dimension(index.name, "Read")
                        ),
                        "ProvisionedWriteCapacityAutoScalingSettings": describe_settings(
                            scaling,
                            table.account_id,
                            _resource(table.name, index.name),
                            _dimension(index.name, "Write"),
                        ),
                    }
                    for index in indexes
                ],
            }
        )
    status = table.describe(base_key="Table")["Table"]["TableStatus"]
    return {"TableName": table.name, "TableStatus": status, "Replicas": replicas}


def _global_table(model: GlobalTables, handler: Any) -> tuple[Any, Any]:
    name = str(handler.params["TableName"])
    if name.startswith("arn:"):
        name = name.rsplit("table/", 1)[-1]
    model.housekeeping()
    table = handler.dynamodb_backend.tables.get(name)
    group = model.group_of(table) if table is not None else None
    if group is None:
        raise errors.AutoScalingTableNotFound(name=name)
    return table, group


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _check_settings(table_name: str, update: dict[str, Any], reads_or_writes: str) -> None:
    """One AutoScalingSettingsUpdate, as AWS and Application Auto Scaling check it."""
    given = [key for key in SETTINGS_ORDER if update.get(key) is not None]
    if update.get("AutoScalingDisabled"):
        if given:
            raise errors.AutoScalingParametersMustBeBlank(name=table_name, parameters=_quoted(given))
        return
    missing = [key for key in SETTINGS_ORDER if key not in given]
    if missing:
        raise errors.AutoScalingParametersRequired(name=table_name, parameters=_quoted(missing))
    if update["MinimumUnits"] > update["MaximumUnits"]:
        raise errors.AutoScalingCapacityRange(request_id=uuid.uuid4())
    target = float(update["ScalingPolicyUpdate"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"])
    if target < 8.51592e-109 or target > 1.174271e108:
        raise errors.AutoScalingTargetValueInvalid(value=target, request_id=uuid.uuid4())
    if not 10.0 <= target <= 90.0:
        raise errors.AutoScalingTargetValueRange(metric=_metric(reads_or_writes), value=target, request_id=uuid.uuid4())


def _apply_settings(scaling: Any, resource: str, dimension: str, reads_or_writes: str, update: dict[str, Any]) -> None:
    """Make Application Auto Scaling match one AutoScalingSettingsUpdate (target and policy)."""
    if update.get("AutoScalingDisabled"):
        for policy in _policies(scaling, resource, dimension):
            scaling.delete_scaling_policy(policy.policy_name, SCALING_NAMESPACE, resource, dimension)
        if resource in scaling.targets.get(dimension, {}):
            scaling.deregister_scalable_target(SCALING_NAMESPACE, resource, dimension)
        return
    scaling.register_scalable_target(
        namespace=SCALING_NAMESPACE,
        r_id=resource,
        dimension=dimension,
        min_capacity=update["MinimumUnits"],
        max_capacity=update["MaximumUnits"],
        role_arn=update.get("AutoScalingRoleArn"),
        suspended_state=None,
    )
    policy_update = update["ScalingPolicyUpdate"]
    tracking = [p for p in _policies(scaling, resource, dimension) if p.policy_type == "TargetTrackingScaling"]
    # Without a name, the target's target-tracking policy is updated, or one is made under the name
    # the DynamoDB console gives (AWS's generated name is not documented).
    name = policy_update.get("PolicyName") or (
        tracking[0].policy_name if tracking else f"{_metric(reads_or_writes)}:{resource}"
    )
    configuration = dict(policy_update["TargetTrackingScalingPolicyConfiguration"])
    configuration["PredefinedMetricSpecification"] = {"PredefinedMetricType": _metric(reads_or_writes)}
    scaling.put_scaling_policy(name, SCALING_NAMESPACE, resource, dimension, configuration, "TargetTrackingScaling")


def _planned_changes(
    table: Any, group: Any, params: dict[str, Any]
) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    """Validate an UpdateTableReplicaAutoScaling request; the (region, index, Read/Write, update) changes."""
    name, indexes = table.name, {index.name for index in table.global_indexes}
    changes: list[tuple[str, str | None, str, dict[str, Any]]] = []
    regions = sorted(group.replicas)
    seen: list[str] = []
    for replica in params.get("ReplicaUpdates") or []:
        region = replica["RegionName"]
        if region in seen:
            raise errors.AutoScalingRegionRepeated(name=name, regions=region)
        seen.append(region)
        if region not in group.replicas:
            raise errors.AutoScalingReplicaNotFound(name=name, region=region)
        read, index_updates = (
            replica.get("ReplicaProvisionedReadCapacityAutoScalingUpdate"),
            replica.get("ReplicaGlobalSecondaryIndexUpdates") or [],
        )
        if read is None and not index_updates:
            raise errors.AutoScalingNothingForRegion(name=name, region=region)
        if read is not None:
            changes.append((region, None, "Read", read))
        for index in index_updates:
            if index.get("IndexName") not in indexes:
                raise errors.AutoScalingIndexNotFound(name=name, index=index.get("IndexName"))
            if index.get("ProvisionedReadCapacityAutoScalingUpdate") is not None:
                changes.append((region, index["IndexName"], "Read", index["ProvisionedReadCapacityAutoScalingUpdate"]))
    write = params.get("ProvisionedWriteCapacityAutoScalingUpdate")
    for index in params.get("GlobalSecondaryIndexUpdates") or []:
        if index.get("IndexName") not in indexes:
            raise errors.AutoScalingIndexNotFound(name=name, index=index.get("IndexName"))
        if index.get("ProvisionedWriteCapacityAutoScalingUpdate") is not None:
            # Write capacity is the same in every replica, so is its auto scaling.
            changes += [
                (r, index["IndexName"], "Write", index["ProvisionedWriteCapacityAutoScalingUpdate"]) for r in regions
            ]
    if write is not None:
        changes += [(region, None, "Write", write) for region in regions]
    for _, _, reads_or_writes, update in changes:
        _check_settings(name, update, reads_or_writes)
    enabling = [update for *_, update in changes if not update.get("AutoScalingDisabled")]
    if enabling and table.billing_mode == "PAY_PER_REQUEST":
        parameters = [
            p
            for p in ("ProvisionedWriteCapacityAutoScalingUpdate", "GlobalSecondaryIndexUpdates", "ReplicaUpdates")
            if params.get(p)
        ]
        raise errors.AutoScalingOnDemandTable(name=name, replicas=_quoted(regions), parameters=_quoted(parameters))
    return changes


def operations(model: GlobalTables) -> dict[str, Callable[[Any], ActionResult]]:
    """The DynamoHandler methods this module adds, by moto's method name."""

    def describe_table_replica_auto_scaling(self: Any) -> ActionResult:
        with WRITE_LOCK:
            table, group = _global_table(model, self)
            return ActionResult({"TableAutoScalingDescription": describe_replica_auto_scaling(group, table)})

    def update_table_replica_auto_scaling(self: Any) -> ActionResult:
        with WRITE_LOCK:
            table, group = _global_table(model, self)
            for region, index, reads_or_writes, update in _planned_changes(table, group, self.params):
                _apply_settings(
                    applicationautoscaling_backends[table.account_id][region],
                    _resource(table.name, index),
                    _dimension(index, reads_or_writes),
                    reads_or_writes,
                    update,
                )
            return ActionResult({"TableAutoScalingDescription": describe_replica_auto_scaling(group, table)})

    return {
        "describe_global_table": describe_global_table,
        "describe_global_table_settings": describe_global_table_settings,
        "update_global_table_settings": update_global_table_settings,
        "list_global_tables": list_global_tables,
        "create_global_table": create_global_table,
        "update_global_table": update_global_table,
        "describe_table_replica_auto_scaling": describe_table_replica_auto_scaling,
        "update_table_replica_auto_scaling": update_table_replica_auto_scaling,
    }


def add_operations(model: GlobalTables) -> None:
    """Give DynamoHandler the operations moto lacks; moto's call_action then dispatches them by name.
    Refuses to start if moto implements one of them itself (an upgrade): ours would hide it."""
    from globaltables.local.extensions import MotoHookMissing

    for name, method in operations(model).items():
        current = vars(DynamoHandler).get(name)
        if current is not None and not getattr(current, "__globaltables_hook__", False):
            raise MotoHookMissing(
                f"moto's DynamoHandler now implements {name}, which the embedded AWS adds itself; "
                "port globaltables/local/replication/global_table_api.py"
            )
        method.__globaltables_hook__ = True  # type: ignore[attr-defined]
        setattr(DynamoHandler, name, method)
