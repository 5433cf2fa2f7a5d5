"""Provisioned capacity enforced, as DynamoDB throttles a table or index that uses more than it holds.

Only when the timing says so (``Timing.enforce_capacity``: the ``realistic`` profile, or ``,capacity=on``)
and only for tables whose billing mode is PROVISIONED: on-demand tables are never throttled here.

- **A token bucket per table and per global secondary index, per region, for reads and for writes.**
  It fills at the provisioned rate (read at every request, so UpdateTable, a synchronised change or a
  replica's read override gives the new rate from then on), and keeps up to ``BURST_S`` (300 s) of
  unused capacity: "DynamoDB currently retains up to 5 minutes (300 seconds) of unused read and write
  capacity" (AWS re:Post knowledge center, *How does DynamoDB handle spiky workloads in short
  intervals?*; the developer guide's *Burst capacity*). A new bucket holds what the table's age has
  saved up (at least one second's worth).
- **A request is admitted while the bucket is not empty, and then pays what it used**, which can take
  the bucket below zero (a large item read at the last unit): the next requests are throttled until
  the debt is paid back at the provisioned rate. The long-run rate is the provisioned one.
- **What a request costs** (developer guide, *DynamoDB read and write operations*): a read of an item
  up to 4 KB is 1 unit strongly consistent, 0.5 eventually consistent, larger items in 4 KB steps;
  BatchGetItem rounds each item, Query and Scan the total size of the items returned (AWS counts the
  items read before a filter: a filtered Query costs more on AWS than here). A write is 1 unit per KB of
  the larger of the item before and after, at least 1; a global secondary index whose key attributes
  the item has (before or after) pays the same again, twice if the index key changed. A conditional
  write that fails still pays for the item it checked. A missing item costs the minimum. Transactions
  pay double.
- **Throttling answers in AWS's words.** A single call: ``ProvisionedThroughputExceededException``
  "The level of configured provisioned throughput for the table was exceeded. Consider increasing your
  provisioning level with the UpdateTable API." (quoted in mifi/dynamodump issue 20 and
  quintilesims/layer0 issue 229), or, when an index is out of write capacity, "... for one or more
  global secondary indexes of the table was exceeded. Consider increasing your provisioning level for
  the under-provisioned global secondary indexes with the UpdateTable API" (grailbio/reflow issue
  101). BatchWriteItem and BatchGetItem process what the buckets admit and return the rest in
  ``UnprocessedItems`` / ``UnprocessedKeys``; only when none of the items can be processed do they
  answer ``ProvisionedThroughputExceededException`` (API reference of both).
- **Replicated writes consume the replica's write capacity** (AWS measures a provisioned global table's
  writes in replicated write capacity units, *Best practices and requirements for managing global
  tables*), and are never refused: a replica short of capacity throttles its own region's writers.

Not emulated: partition-level limits (3,000 RCU / 1,000 WCU a partition), adaptive capacity, PartiQL
statements (not throttled), warm throughput.

Hooked at ``DynamoHandler``'s data-plane methods (each API call, once, with its parsed parameters:
outermost, so a throttled call changes nothing) and at ``GlobalTables._apply`` (every replicated write
lands there). ``missing_hooks`` names any that a moto upgrade or a refactoring moved.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.responses import DynamoHandler

from globaltables.local import pinning
from globaltables.local.replication.errors import DynamoDBError
from globaltables.local.replication.models import GlobalTables

BURST_S = 300.0
READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
SINGLE_READS = ("get_item",)
SINGLE_WRITES = ("put_item", "update_item", "delete_item")
RANGE_READS = ("query", "scan")
METHODS = (*SINGLE_READS, *SINGLE_WRITES, *RANGE_READS, "batch_get_item", "batch_write_item", "transact_write_items")


class TableThroughputExceeded(DynamoDBError):
    """The table's bucket is empty (wording: mifi/dynamodump issue 20, quintilesims/layer0 issue 229)."""

    error_code = "ProvisionedThroughputExceededException"
    template = (
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API."
    )


class IndexThroughputExceeded(DynamoDBError):
    """An index the write touches has an empty bucket (wording: grailbio/reflow issue 101)."""

    error_code = "ProvisionedThroughputExceededException"
    template = (
        "The level of configured provisioned throughput for one or more global secondary indexes of the table "
        "was exceeded. Consider increasing your provisioning level for the under-provisioned global secondary "
        "indexes with the UpdateTable API"
    )


@dataclass
class Bucket:
    tokens: float
    updated: float

    def refill(self, rate: float, now: float) -> float:
        self.tokens = min(rate * BURST_S, self.tokens + max(0.0, now - self.updated) * rate)
        self.updated = now
        return self.tokens


class Capacity:
    """Every bucket of the embedded AWS; ``enabled`` is read from the timing at each request.

    The lock guards the buckets only, never a call into moto: a replicated write takes it while holding
    the replication's write lock, and a request must not hold it while it waits for that lock. A check
    and its payment are therefore not one step: requests in flight at once may all be admitted by the
    last unit, as on a busy AWS table they can take the bucket below zero."""

    LOCK: ClassVar[threading.RLock] = threading.RLock()

    def __init__(self, model: GlobalTables):
        self.model = model
        self.buckets: dict[tuple[Any, ...], Bucket] = {}

    @property
    def enabled(self) -> bool:
        return bool(getattr(self.model.timing, "enforce_capacity", False))

    def _bucket(self, table: Any, index: str | None, kind: str, rate: float, now: float) -> Bucket:
        key = (table.account_id, table.region_name, table.name, _created(table), index or "", kind)
        bucket = self.buckets.get(key)
        if bucket is None:
            saved_s = max(1.0, min(BURST_S, time.time() - _created(table)))
            bucket = self.buckets[key] = Bucket(rate * saved_s, now)
        bucket.refill(rate, now)
        return bucket

    def available(self, table: Any, index: str | None, kind: str) -> bool:
        """Whether the bucket admits a request now (always, for an on-demand table or when off)."""
        rate = provisioned_rate(table, index, kind)
        if rate is None or not self.enabled:
            return True
        with self.LOCK:
            return self._bucket(table, index, kind, rate, time.monotonic()).tokens > 0

    def consume(self, table: Any, index: str | None, kind: str, units: float) -> None:
        rate = provisioned_rate(table, index, kind)
        if rate is None or not self.enabled or units <= 0:
            return
        with self.LOCK:
            self._bucket(table, index, kind, rate, time.monotonic()).tokens -= units


def _created(table: Any) -> float:
    created = getattr(table, "created_at", None)
    if isinstance(created, datetime):
        return (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()
    return 0.0


def provisioned_rate(table: Any, index: str | None, kind: str) -> float | None:
    """Units per second the table (or its index ``index``) holds for ``kind`` (read or write); None when
    nothing is provisioned (on-demand)."""
    if getattr(table, "billing_mode", None) != "PROVISIONED":
        return None
    holder = table if index is None else next((i for i in table.global_indexes if i.name == index), None)
    if holder is None:  # a local secondary index shares the table's capacity
        holder = table
    units = (getattr(holder, "throughput", None) or {}).get(
        "ReadCapacityUnits" if kind == "read" else "WriteCapacityUnits"
    )
    return float(units) if units else None


# ----- what a request costs -----------------------------------------------------------------------


def item_bytes(item: Any) -> int:
    """A stored moto item's size, or a DynamoDB-JSON item's (as AWS counts: names and values)."""
    if item is None:
        return 0
    if hasattr(item, "size"):
        return int(item.size())
    return sum(bytesize(name) + DynamoType(value).size() for name, value in item.items())


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(before: Any, after: Any) -> float:
    return float(max(1, math.ceil(max(item_bytes(before), item_bytes(after)) / WRITE_UNIT_BYTES)))


def _has_index_key(item: Any, index: Any) -> bool:
    attrs = getattr(item, "attrs", item) or {}
    return all(name in attrs for name in index.schema_key_attrs)


def _index_key(item: Any, index: Any) -> tuple[str, ...]:
    attrs = getattr(item, "attrs", item) or {}
    return tuple(repr(attrs.get(name)) for name in index.schema_key_attrs)


def index_writes(table: Any, before: Any, after: Any) -> dict[str, float]:
    """The write units each global secondary index pays for a change from ``before`` to ``after``."""
    units = write_units(before, after)
    writes: dict[str, float] = {}
    for index in table.global_indexes:
        had, has = _has_index_key(before, index), _has_index_key(after, index)
        if had and has and _index_key(before, index) != _index_key(after, index):
            writes[index.name] = 2 * units
        elif had or has:
            writes[index.name] = units
    return writes


def touched_indexes(table: Any, before: Any, after: Any) -> list[str]:
    return [
        index.name for index in table.global_indexes if _has_index_key(before, index) or _has_index_key(after, index)
    ]


# ----- the hooks ----------------------------------------------------------------------------------


def _table(handler: Any, name: str | None) -> Any:
    try:
        return handler.dynamodb_backend.get_table(name)
    except Exception:  # not there, or not ready: moto's own handler answers that
        return None


def _stored(table: Any, key: dict[str, Any] | None) -> Any:
    """The item of ``key`` as the table holds it now (None: no such item, or a key moto refuses)."""
    if table is None or not key:
        return None
    try:
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        return table.get_item(hash_key, range_key)
    except Exception:
        return None


def _key_of(table: Any, item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in (table.hash_key_attr, table.range_key_attr) if name and name in item}


def _check_write(capacity: Capacity, table: Any, before: Any, after: Any) -> None:
    if not capacity.available(table, None, "write"):
        raise TableThroughputExceeded()
    if any(not capacity.available(table, index, "write") for index in touched_indexes(table, before, after)):
        raise IndexThroughputExceeded()


def _pay_write(capacity: Capacity, table: Any, before: Any, after: Any, factor: float = 1.0) -> None:
    capacity.consume(table, None, "write", factor * write_units(before, after))
    for index, units in index_writes(table, before, after).items():
        capacity.consume(table, index, "write", factor * units)


def single_read(capacity: Capacity, handler: Any, original: Callable[[Any], Any]) -> Any:
    body = handler.body
    table = _table(handler, body.get("TableName"))
    if table is None or not capacity.enabled:
        return original(handler)
    if not capacity.available(table, None, "read"):
        raise TableThroughputExceeded()
    result = original(handler)
    item = (result.result or {}).get("Item") if isinstance(result.result, dict) else None
    capacity.consume(table, None, "read", read_units(item_bytes(item), bool(body.get("ConsistentRead"))))
    return result


def single_write(capacity: Capacity, handler: Any, original: Callable[[Any], Any]) -> Any:
    body = handler.body
    table = _table(handler, body.get("TableName"))
    if table is None or not capacity.enabled:
        return original(handler)
    key = body.get("Key") or _key_of(table, body.get("Item") or {})
    before = _stored(table, key)
    _check_write(capacity, table, before, body.get("Item"))
    try:
        result = original(handler)
    except Exception as error:
        if "ConditionalCheckFailed" in str(getattr(error, "error_type", "")):
            capacity.consume(table, None, "write", write_units(before, None))
        raise
    _pay_write(capacity, table, before, _stored(table, key))
    return result


def range_read(capacity: Capacity, handler: Any, original: Callable[[Any], Any]) -> Any:
    body = handler.body
    table = _table(handler, body.get("TableName"))
    if table is None or not capacity.enabled:
        return original(handler)
    index = body.get("IndexName")
    if not capacity.available(table, index, "read"):
        raise TableThroughputExceeded()
    result = original(handler)
    items = (result.result or {}).get("Items", []) if isinstance(result.result, dict) else []
    size = sum(item_bytes(item) for item in items)
    capacity.consume(table, index, "read", read_units(size, bool(body.get("ConsistentRead"))))
    return result


def batch_get(capacity: Capacity, handler: Any, original: Callable[[Any], Any]) -> Any:
    """Keys are read while their table's bucket admits them; the others are ``UnprocessedKeys``."""
    requested = handler.body.get("RequestItems") or {}
    if not capacity.enabled:
        return original(handler)
    admitted: dict[str, Any] = {}
    held: dict[str, Any] = {}
    for name, request in requested.items():
        table = _table(handler, name)
        keys = list(request.get("Keys") or [])
        if table is None:
            admitted[name] = request
            continue
        consistent = bool(request.get("ConsistentRead"))
        taken = []
        with Capacity.LOCK:
            for key in keys:
                if not capacity.available(table, None, "read"):
                    break
                capacity.consume(table, None, "read", read_units(item_bytes(_stored(table, key)), consistent))
                taken.append(key)
        if taken:
            admitted[name] = {**request, "Keys": taken}
        if len(taken) < len(keys):
            held[name] = {**request, "Keys": keys[len(taken) :]}
    if not admitted:
        raise TableThroughputExceeded()
    handler.body["RequestItems"] = admitted
    result = original(handler)
    if held:
        unprocessed = result.result.setdefault("UnprocessedKeys", {})
        for name, request in held.items():
            unprocessed.setdefault(name, {**request, "Keys": []})["Keys"].extend(request["Keys"])
    return result


def batch_write(capacity: Capacity, handler: Any, original: Callable[[Any], Any]) -> Any:
    """Puts and deletes are made while their table's (and indexes') buckets admit them; the others are
    ``UnprocessedItems``."""
    requested = handler.body.get("RequestItems") or {}
    if not capacity.enabled:
        return original(handler)
    admitted: dict[str, list[Any]] = {}
    held: dict[str, list[Any]] = {}
    for name, requests in requested.items():
        table = _table(handler, name)
        if table is None:
            admitted[name] = list(requests)
            continue
        for request in requests:
            put = request.get("PutRequest")
            key = request["DeleteRequest"]["Key"] if "DeleteRequest" in request else _key_of(table, put["Item"])
            before, after = _stored(table, key), (put or {}).get("Item")
            with Capacity.LOCK:
                try:
                    _check_write(capacity, table, before, after)
                except DynamoDBError:
                    held.setdefault(name, []).append(request)
                    continue
                _pay_write(capacity, table, before, after)
            admitted.setdefault(name, []).append(request)
    if not admitted:
        raise TableThroughputExceeded()
    handler.body["RequestItems"] = admitted
    result = original(handler)
    if held:
        unprocessed = result.result.setdefault("UnprocessedItems", {})
        for name, requests in held.items():
            unprocessed.setdefault(name, []).extend(requests)
    return result


def transact_write(capacity: Capacity, handler: Any, original: Callable[[Any], Any]) -> Any:
    """Refused whole while a table it writes is out of capacity; each item pays double."""
    if not capacity.enabled:
        return original(handler)
    changes = []
    for entry in handler.body.get("TransactItems") or []:
        operation = next(iter(entry.values()))
        table = _table(handler, operation.get("TableName"))
        if table is None:
            continue
        key = operation.get("Key") or _key_of(table, operation.get("Item") or {})
        before = _stored(table, key)
        _check_write(capacity, table, before, operation.get("Item"))
        changes.append((table, key, before))
    result = original(handler)
    for table, key, before in changes:
        _pay_write(capacity, table, before, _stored(table, key), factor=2.0)
    return result


HANDLERS: dict[str, Callable[[Capacity, Any, Callable[[Any], Any]], Any]] = {
    **dict.fromkeys(SINGLE_READS, single_read),
    **dict.fromkeys(SINGLE_WRITES, single_write),
    **dict.fromkeys(RANGE_READS, range_read),
    "batch_get_item": batch_get,
    "batch_write_item": batch_write,
    "transact_write_items": transact_write,
}


def replicated_write(capacity: Capacity, original: Callable[..., Any]) -> Callable[..., Any]:
    def _apply(model: Any, delivery: Any) -> Any:
        result = original(model, delivery)
        if result is not None and capacity.enabled:
            table = dynamodb_backends[delivery.account_id][delivery.target].tables.get(delivery.table_name)
            if table is not None:
                _pay_write(capacity, table, None, delivery.image)
        return result

    return _apply


HOOKS: list[tuple[type, str]] = [*[(DynamoHandler, name) for name in METHODS], (GlobalTables, "_apply")]


def missing_hooks() -> list[str]:
    return pinning.absent(HOOKS)


def install(model: GlobalTables) -> Capacity:
    """Wrap the data-plane methods and the replication's apply; idempotent."""
    capacity = Capacity(model)
    for name in METHODS:
        original = getattr(DynamoHandler, name)
        if getattr(original, "__globaltables_capacity__", False):
            continue

        def make(original: Callable[[Any], Any], handle: Callable[..., Any] = HANDLERS[name]) -> Callable[[Any], Any]:
            @functools.wraps(original)
            def call(self: Any) -> Any:
                return handle(capacity, self, original) if capacity.enabled else original(self)

            call.__globaltables_capacity__ = True  # type: ignore[attr-defined]
            return call

        setattr(DynamoHandler, name, make(original))
    apply = GlobalTables._apply
    if not getattr(apply, "__globaltables_capacity__", False):
        wrapped = functools.wraps(apply)(replicated_write(capacity, apply))
        wrapped.__globaltables_capacity__ = True  # type: ignore[attr-defined]
        GlobalTables._apply = wrapped  # type: ignore[method-assign]
    return capacity
