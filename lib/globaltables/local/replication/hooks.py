"""Where the embedded global tables hook into moto, each at the narrowest point there is.

| hook | why there |
|---|---|
| ``DynamoDBBackend`` write methods | one place per API write call: holds the write lock, publishes the call's writes only if it succeeded (a failed transaction replicates nothing) |
| ``StreamShard.add`` | every item change moto makes passes here, with old and new image, exactly as AWS replicates from the stream |
| ``StreamRecord.__init__`` | moto stamps every record ``awsRegion: us-east-1``; replicas need their own region |
| ``Table.describe`` | adds ``GlobalTableVersion``, ``Replicas`` and the transient statuses; resolves a KMS alias to the key ARN as AWS reports it |
| ``DynamoHandler.update_table`` | ``ReplicaUpdates`` and the global-table checks, before moto's own update |
| ``DynamoDBBackend.delete_table`` | refuses while the global table changes; a deleted replica leaves its group |

``install`` checks every hook exists before patching, so a moto upgrade that moves one fails loudly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from globaltables.local.replication import responses
from globaltables.local.replication.models import WRITE_LOCK, GlobalTables

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
    (StreamShard, "add"),
    (StreamRecord, "__init__"),
    (Table, "describe"),
    (DynamoHandler, "update_table"),
]


def missing_hooks() -> list[str]:
    return [f"{owner.__name__}.{name}" for owner, name in HOOKS if not callable(getattr(owner, name, None))]


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(owner, name)
    if getattr(original, "__globaltables_hook__", False):
        return
    wrapper = functools.wraps(original)(make(original))
    wrapper.__globaltables_hook__ = True  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def install(model: GlobalTables) -> None:
    for name in WRITE_METHODS:

        def make_write(original: Callable[..., Any]) -> Callable[..., Any]:
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

        _wrap(DynamoDBBackend, name, make_write)

    def make_add(original: Callable[..., Any]) -> Callable[..., Any]:
        def add(self: Any, old: Any, new: Any) -> None:
            original(self, old, new)
            model.captured(self.table, old, new)

        return add

    _wrap(StreamShard, "add", make_add)

    def make_record(original: Callable[..., Any]) -> Callable[..., Any]:
        def init(self: Any, table: Any, *args: Any, **kwargs: Any) -> None:
            original(self, table, *args, **kwargs)
            self.record["awsRegion"] = table.region_name

        return init

    _wrap(StreamRecord, "__init__", make_record)

    def make_describe(original: Callable[..., Any]) -> Callable[..., Any]:
        def describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
            results = original(self, base_key)
            description = results[base_key]
            sse = description.get("SSEDescription")
            if sse and sse.get("KMSMasterKeyArn") and not str(sse["KMSMasterKeyArn"]).startswith("arn:"):
                resolved = responses.resolve_kms_key_arn(self.account_id, self.region_name, sse["KMSMasterKeyArn"])
                if resolved:
                    sse["KMSMasterKeyArn"] = resolved
            description.update(model.describe_extras(self))
            return results

        return describe

    _wrap(Table, "describe", make_describe)

    def make_update_table(original: Callable[..., Any]) -> Callable[..., Any]:
        def update_table(self: Any) -> Any:
            body = getattr(self, "params", {}) or {}
            with WRITE_LOCK:
                model.housekeeping()
                table = self.dynamodb_backend.get_table(body["TableName"])
                responses.check_table_update(model, table, body)
                replica_updates = body.get("ReplicaUpdates")
                if replica_updates:
                    responses.apply_replica_updates(model, table, replica_updates)
                    others = {k for k, v in body.items() if v is not None} - {"TableName", "ReplicaUpdates"}
                    if not others:
                        return DynamoResult(table.describe())
                return original(self)

        return update_table

    _wrap(DynamoHandler, "update_table", make_update_table)

    def make_delete_table(original: Callable[..., Any]) -> Callable[..., Any]:
        def delete_table(self: Any, name: str) -> Any:
            with WRITE_LOCK:
                model.housekeeping()
                table = self.tables.get(name)
                if table is not None:
                    responses.check_table_deletion(model, table)
                deleted = original(self, name)
                model.forget_region(self.account_id, name, self.region_name)
                return deleted

        return delete_table

    _wrap(DynamoDBBackend, "delete_table", make_delete_table)
