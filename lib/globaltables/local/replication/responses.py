"""The request side of the embedded global tables: ``UpdateTable`` with ``ReplicaUpdates`` and the
checks AWS makes on a global table, with AWS's error codes and the substance of its messages; the
table lifecycle (CREATING and DELETING tables refuse reads and writes), which settings of an UpdateTable
every replica shares, and the overrides of one replica."""

from __future__ import annotations

import copy
import re
from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException
from moto.dynamodb.models import dynamodb_backends
from moto.kms.models import kms_backends

from globaltables.local.replication import errors
from globaltables.local.replication.models import (
    INACCESSIBLE,
    GlobalTables,
    apply_overrides,
    apply_settings,
    find_index,
    table_settings,
)

AWS_MANAGED_DYNAMODB_KEY = "alias/aws/dynamodb"


def _in_use(table_name: str) -> errors.ResourceInUse:
    return errors.ResourceInUse()


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
        raise errors.TableWriteCapacityNotAutoScaled()
    for index in table.global_indexes:
        resource = f"table/{table.name}/index/{index.name}"
        if resource not in targets.get("dynamodb:index:WriteCapacityUnits", {}):
            raise errors.IndexWriteCapacityNotAutoScaled()


def _check_stream(table: Any) -> None:
    """2019.11.21 replicates through a NEW_AND_OLD_IMAGES stream: enable it, or refuse another view type."""
    spec = table.stream_specification or {}
    if not spec.get("StreamEnabled"):
        table.set_stream_specification({"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    elif spec.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
        raise errors.StreamViewTypeNotSupported(name=table.name, view_type=spec.get("StreamViewType"))


def check_table_update(model: GlobalTables, table: Any, body: dict[str, Any]) -> None:
    """What UpdateTable may not do to a replica of a global table, besides ReplicaUpdates."""
    group = model.group_of(table)
    if group is None:
        return
    sse = body.get("SSESpecification") or {}
    if sse.get("KMSMasterKeyId"):
        raise errors.ReplicaKeyThroughSseSpecification()
    stream = body.get("StreamSpecification")
    # An MRSC table does not replicate through its stream, which is each replica's own (AWS).
    if stream is not None and not stream.get("StreamEnabled", True) and not group.strong:
        raise errors.StreamDisablingNotAllowed()
    if body.get("BillingMode") == "PROVISIONED" or body.get("ProvisionedThroughput"):
        if group.busy():
            raise _in_use(table.name)


def apply_replica_updates(model: GlobalTables, table: Any, replica_updates: list[dict[str, Any]]) -> None:
    """Validate and start one replica change (Create, Update or Delete), as AWS does."""
    region = table.region_name
    if len(replica_updates) != 1:
        raise errors.SeveralReplicaChanges()
    [(action, spec)] = list(replica_updates[0].items())
    target = spec["RegionName"]
    if target == region:
        raise errors.LocalRegionInReplicaUpdates()
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
        raise errors.UnknownReplicaAction(action=action)


def _create_replica(model: GlobalTables, table: Any, target: str, spec: dict[str, Any]) -> None:
    key_arn = check_replica_create(model, table, target, spec)
    model.add_replica(table, target, key_arn)
    _set_overrides(model, table, target, spec)


def check_replica_create(
    model: GlobalTables, table: Any, target: str, spec: dict[str, Any], strong: bool = False
) -> str | None:
    """What AWS checks of one replica Create; the replica's key ARN, if given. An MREC replica needs the
    source's stream (enabled here if it is off); an MRSC one (``strong``) does not replicate through it."""
    group = model.group_of(table)
    if group is not None and target in group.replicas:
        raise errors.ReplicaAlreadyExists(name=table.name)
    if table.name in dynamodb_backends[table.account_id][target].tables:
        raise errors.ReplicaAlreadyExists(name=table.name)
    _check_write_capacity(table)
    if not strong:
        _check_stream(table)
    key_arn = None
    if spec.get("KMSMasterKeyId"):
        key_arn = resolve_kms_key_arn(table.account_id, target, spec["KMSMasterKeyId"])
        if key_arn is None:
            raise errors.ReplicaKeyNotFound(region=target, key=spec["KMSMasterKeyId"])
    elif _uses_customer_managed_key(table):
        raise errors.ReplicaKeyRequired()
    _check_overrides(table, spec)
    return key_arn


def set_overrides(model: GlobalTables, table: Any, target: str, spec: dict[str, Any]) -> None:
    """A new or updated replica's overrides of the synchronised settings (``ReplicaUpdates`` entry)."""
    _set_overrides(model, table, target, spec)


def _update_replica(model: GlobalTables, table: Any, target: str, spec: dict[str, Any]) -> None:
    group = model.group_of(table)
    if group is None or target not in group.replicas:
        raise errors.ReplicasNotInGlobalTable(regions=target)
    _check_overrides(dynamodb_backends[table.account_id][target].tables[table.name], spec)
    if spec.get("KMSMasterKeyId"):
        key_arn = resolve_kms_key_arn(table.account_id, target, spec["KMSMasterKeyId"])
        if key_arn is None:
            raise errors.ReplicaKeyNotFound(region=target, key=spec["KMSMasterKeyId"])
        group.replicas[target].kms_key_arn = key_arn
        replica_table = dynamodb_backends[table.account_id][target].tables[table.name]
        replica_table.sse_specification = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}
    _set_overrides(model, table, target, spec)
    model.replica_updated(table, target)


def _delete_replica(model: GlobalTables, table: Any, target: str) -> None:
    group = model.group_of(table)
    if group is None or target not in group.replicas:
        raise errors.ReplicasNotInGlobalTable(regions=target)
    replica_table = dynamodb_backends[table.account_id][target].tables.get(table.name)
    if replica_table is not None and replica_table.deletion_protection_enabled:
        raise errors.ReplicaDeletionProtected(name=table.name, region=target)
    model.remove_replica(group, target)


def check_table_deletion(model: GlobalTables, table: Any) -> None:
    """DeleteTable of a replica while the global table is changing is refused, as on AWS; so is
    DeleteTable of any member of an MRSC table (dissolve it first)."""
    group = model.group_of(table)
    if group is not None and group.strong:
        raise errors.StrongSingleReplicaDeletion()
    if group is not None and group.busy():
        raise _in_use(table.name)


# ----- table lifecycle, synchronised settings, overrides per replica ----------------------------

TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")
# Reads and writes: AWS serves them on ACTIVE (and UPDATING) tables only. DescribeTable is not among them.
DATA_PLANE_ACTIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)
_PARTIQL_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+(?:"([^"]+)"|([A-Za-z0-9_.-]+))(?:\."([^"]+)")?', re.IGNORECASE)
_BEING = {"CREATING": "created", "UPDATING": "updated", "DELETING": "deleted"}


def _not_ready(table_name: str, status: str) -> errors.DynamoDBError:
    if status == "UPDATING":
        return errors.ResourceInUse()
    return errors.TableNotReady(being=_BEING[status], name=table_name)


def check_table_ready(model: GlobalTables, table: Any) -> None:
    """UpdateTable (and UpdateTimeToLive) need an ACTIVE table: while it is CREATING, UPDATING (a replica
    or a synchronised setting on its way, an index backfilling, a deletion-protection change) or DELETING,
    AWS answers ResourceInUseException. A table whose key is unusable (INACCESSIBLE_ENCRYPTION_CREDENTIALS)
    is let through: AWS tells its owner to restore the key or delete the table, and what else it refuses
    then is not documented."""
    status = model.table_status(table)
    if status not in ("ACTIVE", INACCESSIBLE):
        raise _not_ready(table.name, status)


def check_backups_available(model: GlobalTables, table: Any) -> None:
    """UpdateContinuousBackups and CreateBackup in the first seconds after the table (or replica) turned
    ACTIVE: ContinuousBackupsUnavailableException, as AWS answers them."""
    if not model.backups_available(table):
        raise errors.ContinuousBackupsUnavailable(name=table.name)


def check_ttl_update(model: GlobalTables, table: Any) -> None:
    """UpdateTimeToLive: AWS refuses a second change while the first is still processing (ValidationException,
    its words), and any change while the table is not ACTIVE."""
    if model.pending_ttl_change(table):
        raise MockValidationException("Time to live has been modified multiple times within a fixed interval")
    check_table_ready(model, table)


def check_creating_deletion(model: GlobalTables, table: Any) -> None:
    """DeleteTable of a table still CREATING, or UPDATING after a deletion-protection change:
    ResourceInUseException, as the DeleteTable reference says of CREATING and UPDATING tables."""
    status = model.table_status(table)
    if status == "CREATING" or (status == "UPDATING" and model.changing_protection(table)):
        raise _not_ready(table.name, status)


def _data_plane_targets(action: str, body: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The (table, index) pairs a read or write names."""
    if action in ("batch_get_item", "batch_write_item"):
        return [(name, None) for name in body.get("RequestItems") or {}]
    if action in ("transact_get_items", "transact_write_items"):
        return [
            (operation["TableName"], None)
            for item in body.get("TransactItems") or []
            for operation in item.values()
            if isinstance(operation, dict) and "TableName" in operation
        ]
    if action.endswith("statement") or action == "execute_transaction":
        statements = [body.get("Statement", "")] + [
            s.get("Statement", "") for s in (body.get("Statements") or body.get("TransactStatements") or [])
        ]
        return [
            (quoted or bare, index)
            for statement in statements
            for quoted, bare, index in _PARTIQL_TABLE.findall(statement or "")
        ]
    return [(body.get("TableName", ""), body.get("IndexName"))]


def check_data_plane(model: GlobalTables, backend: Any, action: str, body: dict[str, Any]) -> list[Any]:
    """A read or write of a table CREATING (or DELETING) gets ResourceNotFoundException "Requested resource
    not found", as AWS answers it; a query of an index still backfilling gets AWS's ValidationException.
    Returns the tables the request names that exist."""
    tables = []
    for name, index_name in _data_plane_targets(action, body):
        if name.startswith("arn:") and ":table/" in name:
            name = name.split(":table/", 1)[1].split("/", 1)[0]
        table = backend.tables.get(name)
        if table is None and "." in name and not index_name:
            name, _, index_name = name.rpartition(".")
            table = backend.tables.get(name)
        if table is None:
            continue  # moto answers for tables that do not exist
        tables.append(table)
        if model.unavailable(table):
            raise ResourceNotFoundException()
        index = find_index(table, index_name) if index_name else None
        if index is not None and index.status == "CREATING":
            raise MockValidationException("Cannot read from backfilling global secondary index")
        if index is not None and index.status == "DELETING":
            raise MockValidationException(f"The table does not have the specified index: {index_name}")
    return tables


def _check_table_class(value: Any) -> None:
    if value not in TABLE_CLASSES:
        raise MockValidationException(
            f"1 validation error detected: Value '{value}' at 'tableClass' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(TABLE_CLASSES)}]"
        )


def record_created_table(model: GlobalTables, table: Any, body: dict[str, Any]) -> None:
    """CreateTable: what moto ignores (TableClass, OnDemandThroughput) is kept; the table is CREATING."""
    extras = table_settings(table)
    if body.get("TableClass"):
        _check_table_class(body["TableClass"])
        extras["TableClass"] = body["TableClass"]
    if body.get("OnDemandThroughput"):
        extras["OnDemandThroughput"] = dict(body["OnDemandThroughput"])
    model.table_created(table)


def check_table_class(body: dict[str, Any]) -> None:
    """Before CreateTable or UpdateTable changes anything: a TableClass AWS does not have is refused."""
    if body.get("TableClass"):
        _check_table_class(body["TableClass"])


def apply_unmodelled_update(model: GlobalTables, table: Any, body: dict[str, Any]) -> None:
    """What moto's UpdateTable ignores, applied to ``table`` itself: TableClass, OnDemandThroughput and
    SSESpecification; then this replica's own overrides again (they win over a synchronised value)."""
    group = model.group_of(table)
    replica = group.replicas[table.region_name] if group is not None else None
    settings: dict[str, Any] = {}
    if body.get("TableClass"):
        settings["table_class"] = body["TableClass"]
    on_demand = body.get("OnDemandThroughput") or {}
    if "MaxWriteRequestUnits" in on_demand:
        settings["max_write_request_units"] = on_demand["MaxWriteRequestUnits"]
    if "MaxReadRequestUnits" in on_demand:
        settings["max_read_request_units"] = on_demand["MaxReadRequestUnits"]
    sse = body.get("SSESpecification")
    if sse is not None and sse.get("KMSMasterKeyId") and group is None:
        key_arn = resolve_kms_key_arn(table.account_id, table.region_name, sse["KMSMasterKeyId"])
        table.sse_specification = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}
    elif sse is not None:
        settings["sse_enabled"] = bool(sse.get("Enabled"))
    apply_settings(table, settings, replica)
    if replica is not None:
        apply_overrides(table, replica)


def synchronised_settings(table: Any, body: dict[str, Any]) -> dict[str, Any]:
    """What of an UpdateTable request every replica shares (as ``table`` holds it now that the request
    is applied there): billing mode, capacities, index capacities, stream, SSE type, warm and on-demand
    throughput, table class. Deletion protection and the rest stay in their region."""
    settings: dict[str, Any] = {}
    if body.get("BillingMode"):
        settings["billing_mode"] = table.billing_mode
        settings["write_capacity"] = table.throughput.get("WriteCapacityUnits", 0)
        settings["read_capacity"] = table.throughput.get("ReadCapacityUnits", 0)
    throughput = body.get("ProvisionedThroughput") or {}
    for key, setting in (("WriteCapacityUnits", "write_capacity"), ("ReadCapacityUnits", "read_capacity")):
        if key in throughput:
            settings[setting] = throughput[key]
    if body.get("AttributeDefinitions"):
        settings["attributes"] = copy.deepcopy(table.attr)
    indexes: dict[str, dict[str, Any]] = {}
    for update in body.get("GlobalSecondaryIndexUpdates") or []:
        change = update.get("Update")
        index = find_index(table, change["IndexName"]) if change else None
        if index is None:
            continue
        entry = indexes.setdefault(index.name, {})
        index_throughput = change.get("ProvisionedThroughput") or {}
        for key, setting in (("WriteCapacityUnits", "write_capacity"), ("ReadCapacityUnits", "read_capacity")):
            if key in index_throughput:
                entry[setting] = index_throughput[key]
        if change.get("WarmThroughput"):
            entry["warm_throughput"] = dict(index.warm_throughput)
    if indexes:
        settings["indexes"] = indexes
    if body.get("StreamSpecification") is not None:
        settings["stream"] = dict(table.stream_specification or {})
    sse = body.get("SSESpecification")
    if sse is not None and not sse.get("KMSMasterKeyId"):
        settings["sse_enabled"] = bool(sse.get("Enabled"))
    if body.get("WarmThroughput"):
        settings["warm_throughput"] = dict(table.warm_throughput)
    on_demand = body.get("OnDemandThroughput") or {}
    if "MaxWriteRequestUnits" in on_demand:
        settings["max_write_request_units"] = on_demand["MaxWriteRequestUnits"]
    if "MaxReadRequestUnits" in on_demand:
        settings["max_read_request_units"] = on_demand["MaxReadRequestUnits"]
    if body.get("TableClass"):
        settings["table_class"] = body["TableClass"]
    return settings


def merged_attributes(before: list[dict[str, str]], after: list[dict[str, str]]) -> list[dict[str, str]]:
    """The table's AttributeDefinitions after an UpdateTable that names some (for a new index)."""
    merged = {attribute["AttributeName"]: attribute for attribute in [*before, *after]}
    return list(merged.values())


def index_changes(table: Any, body: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """The indexes an UpdateTable creates (names) and deletes (moto's index objects, taken before moto
    drops them)."""
    updates = body.get("GlobalSecondaryIndexUpdates") or []
    created = [u["Create"]["IndexName"] for u in updates if u.get("Create")]
    deleted = [find_index(table, u["Delete"]["IndexName"]) for u in updates if u.get("Delete")]
    return created, [index for index in deleted if index is not None]


def _check_overrides(replica_table: Any, spec: dict[str, Any]) -> None:
    """What ReplicaUpdates Create or Update may override for one replica (read capacity of table and
    indexes, table class, on-demand maximum reads), checked against that replica's table."""
    provisioned = replica_table.billing_mode != "PAY_PER_REQUEST"
    if spec.get("ProvisionedThroughputOverride") and not provisioned:
        raise MockValidationException(
            "One or more parameter values were invalid: ProvisionedThroughputOverride cannot be specified "
            f"for a table in PAY_PER_REQUEST billing mode: {replica_table.name}"
        )
    if spec.get("OnDemandThroughputOverride") and provisioned:
        raise MockValidationException(
            "One or more parameter values were invalid: OnDemandThroughputOverride cannot be specified "
            f"for a table in PROVISIONED billing mode: {replica_table.name}"
        )
    for index in spec.get("GlobalSecondaryIndexes") or []:
        if find_index(replica_table, index["IndexName"]) is None:
            raise MockValidationException(
                f"One or more parameter values were invalid: the table {replica_table.name} has no global "
                f"secondary index {index['IndexName']}"
            )
        if index.get("ProvisionedThroughputOverride") and not provisioned:
            raise MockValidationException(
                "One or more parameter values were invalid: ProvisionedThroughputOverride cannot be specified "
                f"for index {index['IndexName']} of a table in PAY_PER_REQUEST billing mode"
            )
    if spec.get("TableClassOverride"):
        _check_table_class(spec["TableClassOverride"])


def _set_overrides(model: GlobalTables, table: Any, target: str, spec: dict[str, Any]) -> None:
    group = model.group_of(table)
    replica = group.replicas[target]
    reads = (spec.get("ProvisionedThroughputOverride") or {}).get("ReadCapacityUnits")
    if reads is not None:
        replica.read_capacity = int(reads)
    for index in spec.get("GlobalSecondaryIndexes") or []:
        index_reads = (index.get("ProvisionedThroughputOverride") or {}).get("ReadCapacityUnits")
        if index_reads is not None:
            replica.index_read_capacity[index["IndexName"]] = int(index_reads)
    if spec.get("TableClassOverride"):
        replica.table_class = spec["TableClassOverride"]
    max_reads = (spec.get("OnDemandThroughputOverride") or {}).get("MaxReadRequestUnits")
    if max_reads is not None:
        replica.max_read_request_units = int(max_reads)
    apply_overrides(dynamodb_backends[table.account_id][target].tables[table.name], replica)
