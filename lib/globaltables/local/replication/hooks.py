"""Where the embedded global tables hook into moto, each at the narrowest point there is.

| hook | why there |
|---|---|
| ``DynamoDBBackend`` write methods | one place per API write call: holds the write lock, publishes the call's writes only if it succeeded (a failed transaction replicates nothing) |
| ``StreamShard.add`` | every item change moto makes passes here, with old and new image, exactly as AWS replicates from the stream |
| ``StreamRecord.__init__`` | moto stamps every record ``awsRegion: us-east-1``; replicas need their own region. moto 5.2.5's body otherwise, except ``SizeBytes`` (the whole record dumped to JSON, on every change): left to the first read |
| ``StreamRecord.to_json`` | the one way moto reads a record (``GetRecords``, a Lambda event source mapping): ``SizeBytes`` is computed there, once, from the same record as moto's ``__init__`` dumped |
| ``Table.describe`` | adds ``GlobalTableVersion``, ``Replicas`` (a new one only once listed) and the transient statuses (table, indexes, INACCESSIBLE_ENCRYPTION_CREDENTIALS with ``SSEDescription.InaccessibleEncryptionDateTime``), ``TableClassSummary`` and ``OnDemandThroughput`` (moto keeps neither); resolves a KMS alias to the key ARN as AWS reports it |
| ``DynamoHandler.update_table`` | ``ReplicaUpdates`` and the global-table checks (MRSC's conversion and dissolution: ``strong``), before moto's own update; after it, what moto ignores (table class, on-demand throughput, SSE), the synchronised settings sent to every replica, and the table UPDATING after a deletion-protection change (the handler, not the backend: the request says which settings changed) |
| ``DynamoHandler.update_continuous_backups``, ``DynamoHandler.create_backup`` | the two calls AWS refuses with ContinuousBackupsUnavailableException in the first seconds after a table turns ACTIVE; the handler, not the backend: AWS Backup's jobs call the backend's ``create_backup`` and are not refused |
| ``DynamoHandler.create_table`` | the answer says CREATING, and the table stays CREATING for the timing's duration; keeps ``TableClass`` and ``OnDemandThroughput`` |
| ``DynamoHandler.delete_table`` | the answer says DELETING (moto describes the table as it was) |
| ``DynamoDBBackend.delete_table`` | refuses while the table is CREATING or the global table changes; keeps the table visible as DELETING for the timing's duration; a deleted replica leaves its group, as a replica deletion does |
| ``DynamoDBBackend.update_time_to_live`` | time to live is synchronised: the change reaches every replica; a second change while one is on its way is refused; enabling it on an MRSC table is refused |
| ``DynamoHandler.call_action`` | every DynamoDB request passes here with its parsed parameters before its handler: ``global_table_api`` refuses what moto would ignore or AWS refuses up front (parameters not emulated, ``ReplicaUpdates`` shape and regions, deletion protection) |
| ``DynamoHandler`` (added) | the global-table operations moto lacks (``global_table_api.operations``), as methods moto's ``call_action`` dispatches; start-up fails if moto has one itself |
| ``DynamoHandler`` read and write methods (``DATA_PLANE_ACTIONS``) | one place per API call, before moto looks the table up: a table CREATING or DELETING answers ResourceNotFoundException, an index backfilling ValidationException; on an MRSC table (``strong``) the call as a whole waits for its quorum (one wait for a whole BatchWriteItem, whose items moto writes one by one), its items are in flight meanwhile, and a transaction is refused |
| ``ApplicationAutoscalingBackend`` ``register_scalable_target``, ``put_scaling_policy``, ``deregister_scalable_target``, ``delete_scaling_policy`` | every request of those actions and ``UpdateTableReplicaAutoScaling`` pass here: write auto scaling of a replica is mirrored to every other replica (``scaling``); read scaling stays in its region |

Used, not wrapped: ``Table._get_default_encryption_key`` (a replica's AWS managed key when the SSE type changes);
``Table.stream_shard``, where an MRSC table without a stream gets ``strong.CaptureShard`` (moto calls its
``add`` for every change, as it calls ``StreamShard.add``).
``install`` checks every hook exists before patching, so a moto upgrade that moves one fails loudly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from globaltables.local import pinning
from globaltables.local.replication import global_table_api, responses, scaling, strong
from globaltables.local.replication.models import WRITE_LOCK, GlobalTables, table_settings
from globaltables.local.replication.records import make_record_init, make_record_to_json, snapshot_images

WRITE_METHODS = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

HOOKS: list[tuple[type, str]] = [
    *[(DynamoDBBackend, name) for name in WRITE_METHODS],
    (DynamoDBBackend, "delete_table"),
    (DynamoDBBackend, "update_time_to_live"),
    (StreamShard, "add"),
    (StreamRecord, "__init__"),
    (StreamRecord, "to_json"),
    (Table, "describe"),
    (Table, "_get_default_encryption_key"),
    (Table, "set_stream_specification"),
    (DynamoHandler, "update_table"),
    (DynamoHandler, "create_table"),
    (DynamoHandler, "delete_table"),
    (DynamoHandler, "call_action"),
    (DynamoHandler, "update_continuous_backups"),
    (DynamoHandler, "create_backup"),
    *[(DynamoHandler, name) for name in responses.DATA_PLANE_ACTIONS],
    *[(ApplicationAutoscalingBackend, name) for name in scaling.METHODS],
]


def missing_hooks() -> list[str]:
    return pinning.absent(HOOKS)


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(owner, name)
    if getattr(original, "__globaltables_hook__", False):
        return
    wrapper = functools.wraps(original)(make(original))
    wrapper.__globaltables_hook__ = True  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def install(model: GlobalTables) -> None:
    """Wrap every hook of ``HOOKS`` (its maker gets the model and moto's original) and add the
    operations moto lacks."""
    strong.CaptureShard.model = model
    global_table_api.add_operations(model)
    _wrap(DynamoHandler, "call_action", global_table_api.call_action_hook(model))
    for owner, name, make in _makers():
        _wrap(owner, name, functools.partial(make, model))


def _makers() -> list[tuple[type, str, Callable[..., Callable[..., Any]]]]:
    """(owner, method, maker(model, original)) for every wrapped method, in the order they are wrapped."""

    def moto_only(make: Callable[..., Any]) -> Callable[..., Any]:
        return lambda model, original: make(original)

    return [
        *[(DynamoDBBackend, name, _make_write) for name in WRITE_METHODS],
        (StreamShard, "add", _make_add),
        (StreamRecord, "__init__", moto_only(make_record_init)),
        (StreamRecord, "to_json", moto_only(make_record_to_json)),
        (Table, "describe", _make_describe),
        (DynamoHandler, "update_table", _make_update_table),
        (DynamoHandler, "create_table", _make_create_table),
        (DynamoHandler, "delete_table", _make_handler_delete_table),
        (DynamoDBBackend, "delete_table", _make_delete_table),
        (DynamoDBBackend, "update_time_to_live", _make_update_ttl),
        *[
            (DynamoHandler, action, functools.partial(_bind_action, _make_data_plane, action))
            for action in responses.DATA_PLANE_ACTIONS
        ],
        *[(DynamoHandler, action, _make_backups) for action in ("update_continuous_backups", "create_backup")],
        *[
            (ApplicationAutoscalingBackend, name, functools.partial(_bind_action, _make_scaling, name))
            for name in scaling.METHODS
        ],
    ]


def _bind_action(make: Callable[..., Any], action: str, model: GlobalTables, original: Callable[..., Any]) -> Any:
    return make(model, action, original)


SCALING_MAKERS = {
    "register_scalable_target": scaling.make_register,
    "put_scaling_policy": scaling.make_put_policy,
    "deregister_scalable_target": scaling.make_deregister,
    "delete_scaling_policy": scaling.make_delete_policy,
}


def _make_write(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        with WRITE_LOCK:
            model.begin_write()
            succeeded = False
            try:
                result = original(self, *args, **kwargs)
                succeeded = True
                return result
            finally:
                model.end_write(succeeded)

    return write


def _make_add(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def add(self: Any, old: Any, new: Any) -> None:
        # The replication's private copy is taken first, so the record can share it (lazily).
        snapshot = model.snapshot_to_capture(self.table, new)
        if snapshot is None:
            original(self, old, new)
        else:
            with snapshot_images(new, snapshot):
                original(self, old, new)
        model.captured(self.table, old, new, snapshot)

    return add


def _make_describe(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        results = original(self, base_key)
        description = results[base_key]
        sse = description.get("SSEDescription")
        if sse and sse.get("KMSMasterKeyArn") and not str(sse["KMSMasterKeyArn"]).startswith("arn:"):
            resolved = responses.resolve_kms_key_arn(self.account_id, self.region_name, sse["KMSMasterKeyArn"])
            if resolved:
                sse["KMSMasterKeyArn"] = resolved
        description.update(model.describe_extras(self))
        inaccessible_since = model.table_inaccessible_since(self)
        if sse and inaccessible_since is not None:
            sse["InaccessibleEncryptionDateTime"] = inaccessible_since
        _describe_settings(self, description)
        return results

    return describe


def _make_update_table(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def update_table(self: Any) -> Any:
        body = getattr(self, "params", {}) or {}
        with WRITE_LOCK:
            model.housekeeping()
            table = self.dynamodb_backend.get_table(body["TableName"])
            responses.check_table_ready(model, table)
            if strong.handles(model, table, body) and strong.update_table(model, table, body):
                return DynamoResult(table.describe())
            responses.check_table_update(model, table, body)
            responses.check_table_class(body)
            replica_updates = body.get("ReplicaUpdates")
            if replica_updates:
                responses.apply_replica_updates(model, table, replica_updates)
                others = {k for k, v in body.items() if v is not None} - {
                    "TableName",
                    "ReplicaUpdates",
                    "MultiRegionConsistency",
                }
                if not others:
                    return DynamoResult(table.describe())
            created, deleted = responses.index_changes(table, body)
            protected = table.deletion_protection_enabled
            attributes = list(table.attr)
            try:
                original(self)
            except ValueError as error:  # moto's answer to an unknown or repeated index: a bare ValueError
                raise MockValidationException(f"One or more parameter values were invalid: {error}") from None
            # moto replaces the table's AttributeDefinitions with the request's; AWS adds them.
            table.attr = responses.merged_attributes(attributes, table.attr)
            responses.apply_unmodelled_update(model, table, body)
            if body.get("DeletionProtectionEnabled") not in (None, protected):
                model.protection_changed(table)
            settings = strong.synchronised(model.group_of(table), responses.synchronised_settings(table, body))
            model.settings_changed(table, settings, created, deleted)
            return DynamoResult(table.describe())

    return update_table


def _make_create_table(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def create_table(self: Any) -> Any:
        body = getattr(self, "params", {}) or {}
        responses.check_table_class(body)
        with WRITE_LOCK:
            original(self)
            table = self.dynamodb_backend.tables[body["TableName"]]
            responses.record_created_table(model, table, body)
            return _answer_as(DynamoResult(table.describe()), "CREATING")

    return create_table


def _make_handler_delete_table(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_table(self: Any) -> Any:
        return _answer_as(original(self), "DELETING")

    return delete_table


def _make_delete_table(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_table(self: Any, name: str) -> Any:
        with WRITE_LOCK:
            model.housekeeping()
            table = _table_or_none(self, name)
            if table is not None:
                if model.table_status(table) == "DELETING":
                    return table  # AWS: "If table is already in the DELETING state, no error is returned."
                responses.check_creating_deletion(model, table)
                responses.check_table_deletion(model, table)
            deleted = original(self, name)
            model.table_deleted(self, deleted)
            return deleted

    return delete_table


def _make_update_ttl(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def update_time_to_live(self: Any, table_name: str, ttl_spec: dict[str, Any]) -> None:
        with WRITE_LOCK:
            model.housekeeping()
            table = _table_or_none(self, table_name)
            if table is not None:
                responses.check_ttl_update(model, table)
                strong.check_time_to_live(model, table, ttl_spec)
            original(self, table_name, ttl_spec)
            if table is not None:
                model.settings_changed(table, {"ttl": dict(table.ttl)})

    return update_time_to_live


def _make_data_plane(model: GlobalTables, action: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: Any) -> Any:
        body = getattr(self, "params", {}) or {}
        tables = responses.check_data_plane(model, self.dynamodb_backend, action, body)
        return strong.serve(model, self, action, body, tables, original)

    return call


def _make_backups(model: GlobalTables, original: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: Any) -> Any:
        body = getattr(self, "params", {}) or {}
        with WRITE_LOCK:
            table = _table_or_none(self.dynamodb_backend, body.get("TableName", ""))
            if table is not None:
                responses.check_backups_available(model, table)
        return original(self)

    return call


def _make_scaling(model: GlobalTables, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    mirrored = SCALING_MAKERS[name](model, original)

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with WRITE_LOCK:  # the replica group cannot change meanwhile
            return mirrored(self, *args, **kwargs)

    return call


def _table_or_none(backend: Any, name: str) -> Any:
    try:
        return backend.get_table(name)  # by name or ARN
    except Exception:  # moto's ResourceNotFoundException: the original call answers it
        return None


def _answer_as(result: Any, status: str) -> Any:
    """CreateTable and DeleteTable answer CREATING and DELETING on AWS, however short the transition."""
    description = result.result.get("TableDescription") if isinstance(result.result, dict) else None
    if description is not None:
        description["TableStatus"] = status
        if status == "CREATING":
            for index in description.get("GlobalSecondaryIndexes") or []:
                index["IndexStatus"] = "CREATING"
    return result


def _describe_settings(table: Any, description: dict[str, Any]) -> None:
    """What DescribeTable shows of the settings moto does not keep, and indexes during a creation."""
    settings = table_settings(table)
    if settings.get("TableClass"):
        description["TableClassSummary"] = {"TableClass": settings["TableClass"]}
    if settings.get("OnDemandThroughput"):
        description["OnDemandThroughput"] = dict(settings["OnDemandThroughput"])
    for index in description.get("GlobalSecondaryIndexes") or []:
        if description.get("TableStatus") == "CREATING":
            index["IndexStatus"] = "CREATING"
        elif index.get("IndexStatus") == "CREATING":
            index["Backfilling"] = True
