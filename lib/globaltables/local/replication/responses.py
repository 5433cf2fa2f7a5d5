"""The request side of the embedded global tables: ``UpdateTable`` with ``ReplicaUpdates`` and the
checks AWS makes on a global table, with AWS's error codes and the substance of its messages."""

from __future__ import annotations

from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.dynamodb.exceptions import MockValidationException, ResourceInUseException
from moto.dynamodb.models import dynamodb_backends
from moto.kms.models import kms_backends

from globaltables.local.replication.models import GlobalTables

AWS_MANAGED_DYNAMODB_KEY = "alias/aws/dynamodb"


def _in_use(table_name: str) -> ResourceInUseException:
    return ResourceInUseException(
        f"Attempt to change a resource which is still in use: Table is being updated: {table_name}"
    )


def resolve_kms_key_arn(account_id: str, region: str, key_id: str) -> str | None:
    """The key ARN for a key id, key ARN, alias or alias ARN in ``region``; None if there is no such key."""
    backend = kms_backends[account_id][region]
    try:
        return backend.describe_key(key_id).arn
    except Exception:  # moto raises KeyError or NotFoundException depending on the form of the id
        return None


def _uses_customer_managed_key(table: Any) -> bool:
    spec = table.sse_specification or {}
    if not spec.get("Enabled") or not spec.get("KMSMasterKeyId"):
        return False
    key_arn = resolve_kms_key_arn(table.account_id, table.region_name, spec["KMSMasterKeyId"])
    managed_arn = resolve_kms_key_arn(table.account_id, table.region_name, AWS_MANAGED_DYNAMODB_KEY)
    return key_arn is None or key_arn != managed_arn


def _check_write_capacity(table: Any) -> None:
    """Replicas of a provisioned table need auto scaling on table and GSI write capacity (AWS's rule)."""
    if table.billing_mode == "PAY_PER_REQUEST":
        return
    scaling = applicationautoscaling_backends[table.account_id][table.region_name]
    targets = scaling.targets
    if f"table/{table.name}" not in targets.get("dynamodb:table:WriteCapacityUnits", {}):
        raise MockValidationException(
            "Table write capacity should either be Pay-Per-Request or AutoScaled. "
            f"Register an Application Auto Scaling target for table/{table.name} on dynamodb:table:WriteCapacityUnits."
        )
    for index in table.global_indexes:
        resource = f"table/{table.name}/index/{index.name}"
        if resource not in targets.get("dynamodb:index:WriteCapacityUnits", {}):
            raise MockValidationException(
                f"Index write capacity should either be Pay-Per-Request or AutoScaled: index {index.name}. "
                f"Register an Application Auto Scaling target for {resource} on dynamodb:index:WriteCapacityUnits."
            )


def _check_stream(table: Any) -> None:
    """2019.11.21 replicates through a NEW_AND_OLD_IMAGES stream: enable it, or refuse another view type."""
    spec = table.stream_specification or {}
    if not spec.get("StreamEnabled"):
        table.set_stream_specification({"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    elif spec.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
        raise MockValidationException(
            f"Table: {table.name} has a DynamoDB stream enabled with view type {spec.get('StreamViewType')}; "
            "global tables need StreamViewType NEW_AND_OLD_IMAGES"
        )


def check_table_update(model: GlobalTables, table: Any, body: dict[str, Any]) -> None:
    """What UpdateTable may not do to a replica of a global table, besides ReplicaUpdates."""
    group = model.group_of(table)
    if group is None:
        return
    sse = body.get("SSESpecification") or {}
    if sse.get("KMSMasterKeyId"):
        raise MockValidationException(
            "One or more parameter values were invalid: the KMS key of a global table replica cannot be changed "
            "through SSESpecification; use ReplicaUpdates with Update.KMSMasterKeyId for each region"
        )
    stream = body.get("StreamSpecification")
    if stream is not None and not stream.get("StreamEnabled", True):
        raise MockValidationException(
            f"Table: {table.name} is a global table replica; its stream (NEW_AND_OLD_IMAGES) cannot be disabled"
        )
    if body.get("BillingMode") == "PROVISIONED" or body.get("ProvisionedThroughput"):
        if group.busy():
            raise _in_use(table.name)


def apply_replica_updates(model: GlobalTables, table: Any, replica_updates: list[dict[str, Any]]) -> None:
    """Validate and start one replica change (Create, Update or Delete), as AWS does."""
    region = table.region_name
    if len(replica_updates) != 1:
        raise MockValidationException(
            "One or more parameter values were invalid: only one replica can be created, updated or deleted "
            f"per UpdateTable request; got {len(replica_updates)} ReplicaUpdates"
        )
    [(action, spec)] = list(replica_updates[0].items())
    target = spec["RegionName"]
    if target == region:
        raise MockValidationException(
            "Cannot add, delete, or update the local region through ReplicaUpdates. "
            "Use CreateTable, DeleteTable, or UpdateTable as required."
        )
    group = model.group_of(table)
    if group is not None and group.busy():
        raise _in_use(table.name)
    if action == "Create":
        _create_replica(model, table, target, spec)
    elif action == "Update":
        _update_replica(model, table, target, spec)
    elif action == "Delete":
        _delete_replica(model, table, target)
    else:
        raise MockValidationException(f"Unknown replica action {action}: use Create, Update or Delete")


def _create_replica(model: GlobalTables, table: Any, target: str, spec: dict[str, Any]) -> None:
    group = model.group_of(table)
    if group is not None and target in group.replicas:
        raise MockValidationException(
            f"One or more parameter values were invalid: a replica of table {table.name} already exists in {target}"
        )
    if table.name in dynamodb_backends[table.account_id][target].tables:
        raise MockValidationException(
            f"Failed to create a the new replica of table with name: '{table.name}' because one or more replicas "
            "already existed as tables."
        )
    _check_write_capacity(table)
    _check_stream(table)
    key_arn = None
    if spec.get("KMSMasterKeyId"):
        key_arn = resolve_kms_key_arn(table.account_id, target, spec["KMSMasterKeyId"])
        if key_arn is None:
            raise MockValidationException(
                f"One or more parameter values were invalid: KMSMasterKeyId {spec['KMSMasterKeyId']} "
                f"does not name a KMS key in {target}"
            )
    elif _uses_customer_managed_key(table):
        raise MockValidationException(
            "One or more parameter values were invalid: the table is encrypted with a customer managed key, "
            f"so a KMSMasterKeyId must be given for the replica in {target}"
        )
    model.add_replica(table, target, key_arn)


def _update_replica(model: GlobalTables, table: Any, target: str, spec: dict[str, Any]) -> None:
    group = model.group_of(table)
    if group is None or target not in group.replicas:
        raise MockValidationException(
            f"One or more parameter values were invalid: no replica of {table.name} in {target}"
        )
    if spec.get("KMSMasterKeyId"):
        key_arn = resolve_kms_key_arn(table.account_id, target, spec["KMSMasterKeyId"])
        if key_arn is None:
            raise MockValidationException(
                f"One or more parameter values were invalid: KMSMasterKeyId {spec['KMSMasterKeyId']} "
                f"does not name a KMS key in {target}"
            )
        group.replicas[target].kms_key_arn = key_arn
        replica_table = dynamodb_backends[table.account_id][target].tables[table.name]
        replica_table.sse_specification = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}


def _delete_replica(model: GlobalTables, table: Any, target: str) -> None:
    group = model.group_of(table)
    if group is None or target not in group.replicas:
        raise MockValidationException(
            f"One or more parameter values were invalid: no replica of {table.name} in {target}"
        )
    replica_table = dynamodb_backends[table.account_id][target].tables.get(table.name)
    if replica_table is not None and replica_table.deletion_protection_enabled:
        raise MockValidationException(
            f"1 validation error detected: Replica of table '{table.name}' in {target} can't be deleted while "
            f"DeletionProtectionEnabled is set to True on it; disable deletion protection in {target} first"
        )
    model.remove_replica(group, target)


def check_table_deletion(model: GlobalTables, table: Any) -> None:
    """DeleteTable of a replica while the global table is changing is refused, as on AWS."""
    group = model.group_of(table)
    if group is not None and group.busy():
        raise _in_use(table.name)
