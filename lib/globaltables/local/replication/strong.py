"""Multi-Region strong consistency (MRSC) on the embedded global tables, as AWS documents it.

The state lives in ``models`` (``ReplicaGroup.consistency`` and ``witness``, ``GlobalTables.in_flight``
and ``isolated_regions``); this module is the request side: the ``UpdateTable`` that converts an empty
table (``ReplicaUpdates`` Creates, ``GlobalTableWitnessUpdates``, ``MultiRegionConsistency: STRONG``) and
the one that dissolves it, their refusals (``errors``), and what reads and writes of a member do.

- A write (PutItem, UpdateItem, DeleteItem, BatchWriteItem, a PartiQL write) first applies whatever
  replicated writes are still on their way to its region's table (so conditions and updates see the
  latest version), is applied locally, and returns once its delivery to one other reachable member (a
  replica, else the witness) is due: the caller waits one draw of the replication delay. The remaining
  replica gets it after its own draw, as MREC replication does. Meanwhile the items it writes are in
  flight: a write of one of them from another region answers ReplicatedWriteConflictException.
- A strongly consistent read (GetItem, Query, Scan, BatchGetItem, PartiQL with ``ConsistentRead``) waits
  one draw, then applies the replicated writes still on their way to its region's table, then reads.
  Eventually consistent reads read the local table as it is.
- Quorum: a region that reaches no other member (isolated, or every other member in outage, isolated or
  with replication paused) answers writes and strongly consistent reads with HTTP 500
  InternalServerError; its eventually consistent reads are served.
- Transactions, time to live and local secondary indexes are refused, as AWS documents. AWS leaves an
  MRSC replica's stream off: a table without one gets a ``CaptureShard``, which hands its changes to
  the replication as a stream's would, and shows no stream.

Not emulated: ReplicatedWriteConflictException for PartiQL writes (their keys are not parsed here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from moto.dynamodb.exceptions import ConditionalCheckFailed
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from globaltables.local.replication import errors, responses
from globaltables.local.replication.models import WRITE_LOCK, Delivery, GlobalTables, ReplicaGroup, Witness

# AWS's MRSC region sets (developer guide, *How DynamoDB global tables work*; the API reference of
# ``CreateGlobalTableWitnessGroupMemberAction``). The client library keeps the same table in
# ``globaltables.regions`` (a test compares the two): the embedded AWS imports nothing from it.
MRSC_REGION_SETS: dict[str, tuple[str, ...]] = {
    "US": ("us-east-1", "us-east-2", "us-west-2"),
    "EU": ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
    "AP": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3"),
}
MRSC_REGIONS = 3
# UpdateTable members that belong to a conversion or a dissolution; any other is refused with them.
MEMBERSHIP_FIELDS = {"TableName", "ReplicaUpdates", "GlobalTableWitnessUpdates", "MultiRegionConsistency"}

WRITES = ("put_item", "update_item", "delete_item", "batch_write_item")
READS = ("get_item", "query", "scan", "batch_get_item")
PARTIQL = ("execute_statement", "batch_execute_statement")
TRANSACTIONS = {
    "transact_get_items": "TransactGetItems",
    "transact_write_items": "TransactWriteItems",
    "execute_transaction": "ExecuteTransaction",
}
PARTIQL_WRITES = ("INSERT", "UPDATE", "DELETE")


def region_set(region: str) -> str | None:
    """The name of the MRSC region set ``region`` belongs to, or None."""
    return next((name for name, members in MRSC_REGION_SETS.items() if region in members), None)


class CaptureShard:
    """Stands where moto keeps a table's stream shard, for an MRSC table whose stream is off: moto hands
    it every change of the table, as to a stream, and it passes them to the replication's capture. It
    keeps no records and gives the table no stream label, so DescribeTable and ListStreams show none;
    enabling a stream later replaces it with moto's own shard, which the capture hooks as well."""

    model: ClassVar[GlobalTables | None] = None

    def __init__(self, table: Any):
        self.table = table

    def add(self, old: Any, new: Any) -> None:
        if CaptureShard.model is not None:
            CaptureShard.model.captured(self.table, old, new)


def capture_without_stream(table: Any) -> None:
    if table.stream_shard is None:
        table.stream_shard = CaptureShard(table)


# ----- UpdateTable: conversion and dissolution --------------------------------------------------------


def handles(model: GlobalTables, table: Any, body: dict[str, Any]) -> bool:
    """Whether this UpdateTable is MRSC's: it names the consistency or a witness, or changes the replicas
    of an MRSC table."""
    if body.get("MultiRegionConsistency") is not None or body.get("GlobalTableWitnessUpdates") is not None:
        return True
    group = model.group_of(table)
    return group is not None and group.strong and body.get("ReplicaUpdates") is not None


def update_table(model: GlobalTables, table: Any, body: dict[str, Any]) -> bool:
    """Validate and start an MRSC conversion or dissolution (write lock held). False: the request is an
    ordinary one after all (``MultiRegionConsistency: EVENTUAL`` creating an MREC table, a replica
    ``Update`` of an MRSC table), for the MREC path, which ignores ``MultiRegionConsistency``."""
    group = model.group_of(table)
    if group is not None and group.strong:
        return _change_strong_table(model, table, group, body)
    return _convert(model, table, group, body)


def _actions(updates: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(action, region) of each ReplicaUpdates or GlobalTableWitnessUpdates entry."""
    return [
        (action, (spec or {}).get("RegionName", ""))
        for update in updates
        for action, spec in update.items()
        if spec is not None
    ]


def _witness_updates(body: dict[str, Any]) -> list[tuple[str, str]]:
    updates = body.get("GlobalTableWitnessUpdates") or []
    if len(updates) > 1:
        raise errors.TooManyWitnesses(value=", ".join(f"GlobalTableWitnessGroupUpdate({u})" for u in updates))
    return _actions(updates)


def _check_other_fields(body: dict[str, Any]) -> None:
    if {key for key, value in body.items() if value is not None} - MEMBERSHIP_FIELDS:
        raise errors.StrongOtherFields()


def _convert(model: GlobalTables, table: Any, group: ReplicaGroup | None, body: dict[str, Any]) -> bool:
    consistency = body.get("MultiRegionConsistency")
    witnesses = _witness_updates(body)
    replicas = _actions(body.get("ReplicaUpdates") or [])
    if witnesses and consistency != "STRONG":
        raise errors.WitnessNeedsStrong()
    if any(action != "Create" for action, _ in [*replicas, *witnesses]):
        raise errors.StrongOnlyCreates()
    if consistency == "EVENTUAL":
        if not replicas:
            raise errors.StrongOnlyCreates()
        if group is not None:
            raise errors.StrongExistingGlobalTable()
        return False  # an MREC table, created as without the parameter
    if len(replicas) + len(witnesses) != MRSC_REGIONS - 1:
        raise errors.StrongReplicaCount()
    if group is not None:
        raise errors.StrongExistingGlobalTable()
    _check_other_fields(body)
    home = table.region_name
    created = [region for _, region in [*replicas, *witnesses]]
    if len(set(created)) < len(created):
        raise errors.RegionTargetedTwice()
    if any(region == home for _, region in witnesses):
        raise errors.WitnessInReplicaRegion()
    if any(region == home for _, region in replicas):
        raise errors.LocalRegionInReplicaUpdates()
    _check_region_set([home, *created])
    _check_convertible(table)
    specs = {spec["RegionName"]: spec for update in body["ReplicaUpdates"] for spec in update.values() if spec}
    keys = {
        region: responses.check_replica_create(model, table, region, spec, strong=True)
        for region, spec in specs.items()
    }
    # Every check passed: nothing above changed anything.
    group = model.start_group(table)
    group.consistency = "STRONG"
    capture_without_stream(table)
    for region, spec in specs.items():
        model.add_replica(table, region, keys[region], stream=False)
        capture_without_stream(table_in(table, region))
        responses.set_overrides(model, table, region, spec)
    for _, region in witnesses:
        group.witness = Witness(region, "CREATING", time.monotonic() + model.timing.create_replica_s)
    return True


def table_in(table: Any, region: str) -> Any:
    return dynamodb_backends[table.account_id][region].tables[table.name]


def _check_region_set(regions: list[str]) -> None:
    outside = [region for region in regions if region_set(region) is None]
    if outside:
        raise errors.StrongRegionUnsupported(regions=", ".join(outside))
    sets = {region: region_set(region) for region in regions}
    if len(set(sets.values())) > 1:
        raise errors.StrongRegionSetsMixed(
            members=", ".join(f"{region} ({name})" for region, name in sets.items()),
            sets="; ".join(f"{name}: {', '.join(members)}" for name, members in MRSC_REGION_SETS.items()),
        )


def _check_convertible(table: Any) -> None:
    """What AWS requires of the table itself: empty, no local secondary index, no time to live."""
    if table.indexes:
        raise errors.StrongLocalIndexes(name=table.name, indexes=", ".join(index.name for index in table.indexes))
    if (table.ttl or {}).get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        raise errors.StrongTimeToLive(name=table.name)
    if len(table):
        raise errors.StrongTableNotEmpty(name=table.name)


def _change_strong_table(model: GlobalTables, table: Any, group: ReplicaGroup, body: dict[str, Any]) -> bool:
    witnesses = _witness_updates(body)
    replicas = _actions(body.get("ReplicaUpdates") or [])
    if body.get("MultiRegionConsistency") is not None:
        if any(action != "Create" for action, _ in [*replicas, *witnesses]):
            raise errors.StrongOnlyCreates()
        raise errors.StrongExistingGlobalTable()
    if any(action == "Create" for action, _ in replicas):
        raise errors.StrongNoNewReplicas()
    if any(action == "Create" for action, _ in witnesses):
        raise errors.StrongNoNewWitness()
    deleted = [region for action, region in replicas if action == "Delete"]
    if not deleted and not witnesses:
        return False  # replica Updates (a key, overrides): as for any global table
    if not deleted:
        raise errors.StrongWitnessOnlyDeletion()
    if len(deleted) != len(replicas):
        raise errors.ReplicaActionsOfSeveralTypes()
    _check_other_fields(body)
    if len(set(deleted)) < len(deleted):
        raise errors.RegionTargetedTwice()
    if table.region_name in deleted:
        raise errors.LocalRegionInReplicaUpdates()
    strangers = [region for region in deleted if region not in group.replicas]
    if strangers:
        raise errors.ReplicasNotInGlobalTable(regions=", ".join(strangers))
    witness = group.witness
    foreign = [region for _, region in witnesses if witness is None or region != witness.region]
    if foreign:
        raise errors.WitnessesNotInGlobalTable(regions=", ".join(foreign))
    if witness is not None and not witnesses:
        raise errors.StrongDeleteWithoutWitness()
    if len(deleted) + len(witnesses) != MRSC_REGIONS - 1:
        raise errors.StrongSingleReplicaDeletion()
    if group.busy():
        raise errors.ResourceInUse()
    for region in deleted:
        replica_table = table_in(table, region)
        if replica_table.deletion_protection_enabled:
            raise errors.ReplicaDeletionProtected(name=table.name, region=region)
    for region in deleted:
        model.remove_replica(group, region)
    if witness is not None:
        witness.status = "DELETING"
        witness.due = time.monotonic() + model.timing.delete_replica_s
    return True


def check_time_to_live(model: GlobalTables, table: Any, ttl_spec: dict[str, Any]) -> None:
    """UpdateTimeToLive enabling TTL on a member of an MRSC table (AWS: TTL is not supported there)."""
    group = model.group_of(table)
    if group is not None and group.strong and ttl_spec.get("Enabled"):
        raise errors.StrongTimeToLive(name=table.name)


def synchronised(group: ReplicaGroup | None, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings an UpdateTable shares with the other replicas: an MRSC replica's stream is its own."""
    if group is not None and group.strong:
        return {key: value for key, value in settings.items() if key != "stream"}
    return settings


# ----- reads and writes of a member ----------------------------------------------------------------------


@dataclass
class StrongWrite:
    """One API write call on MRSC tables, from its start to its acknowledgement: the member each table's
    writes are acknowledged by (``partners``), when (``acknowledged_by``, monotonic), and the deliveries
    to those members that ``GlobalTables._publish`` queued (applied by the caller at the acknowledgement)."""

    partners: dict[tuple[str, str], str]
    acknowledged_by: float
    acknowledging: list[Delivery] = field(default_factory=list)

    def partner(self, group: ReplicaGroup) -> str | None:
        return self.partners.get((group.account_id, group.table_name))


def serve(
    model: GlobalTables, handler: Any, action: str, body: dict[str, Any], tables: list[Any], original: Callable
) -> Any:
    """Run one data-plane request (``original``) with MRSC's semantics for the MRSC tables among ``tables``."""
    strong = [(table, group) for table in tables if (group := model.group_of(table)) is not None and group.strong]
    if not strong:
        return original(handler)
    if action in TRANSACTIONS:
        raise errors.StrongTransactions(operation=TRANSACTIONS[action], name=strong[0][0].name)
    if action in WRITES or (action in PARTIQL and _partiql_writes(body)):
        return _write(model, handler, action, body, strong, original)
    consistent = [(table, group) for table, group in strong if _consistent(action, body, table.name)]
    if consistent:
        return _read(model, handler, consistent, original)
    return original(handler)


def _partiql_writes(body: dict[str, Any]) -> bool:
    statements = [body.get("Statement")] + [s.get("Statement") for s in body.get("Statements") or []]
    return any(str(s or "").lstrip().upper().startswith(PARTIQL_WRITES) for s in statements)


def _consistent(action: str, body: dict[str, Any], table_name: str) -> bool:
    if action == "batch_get_item":
        return bool(((body.get("RequestItems") or {}).get(table_name) or {}).get("ConsistentRead"))
    if action == "batch_execute_statement":
        return any(s.get("ConsistentRead") for s in body.get("Statements") or [])
    return bool(body.get("ConsistentRead"))


def _partner(model: GlobalTables, group: ReplicaGroup, region: str, table_name: str) -> str:
    """The member that acknowledges ``region``'s writes (another replica first, else the witness), or
    NoQuorum if ``region`` reaches none."""
    unreachable = model.unreachable()
    if region not in unreachable:
        others = sorted(replica for replica in group.replicas if replica != region)
        witness = [group.witness.region] if group.witness is not None else []
        for member in [*others, *witness]:
            if member not in unreachable:
                return member
    raise errors.NoQuorum(region=region, name=table_name)


def _item_keys(table: Any, action: str, body: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The keys of the items a write names (as ``GlobalTables.versions`` keys them)."""
    if action == "put_item":
        attributes = [body.get("Item") or {}]
    elif action == "batch_write_item":
        attributes = [
            request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key") or {}
            for request in (body.get("RequestItems") or {}).get(table.name) or []
        ]
    else:
        attributes = [body.get("Key") or {}]
    keys = []
    for item in attributes:
        try:
            hash_key = DynamoType(item[table.hash_key_attr])
            range_key = DynamoType(item[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, TypeError, AttributeError):
            continue  # moto refuses the request
        keys.append((hash_key, range_key))
    return keys


def _catch_up(model: GlobalTables, table: Any) -> None:
    """Apply every replicated write still on its way to ``table`` (write lock held)."""
    model.apply_now(model.take_pending(table.account_id, table.name, table.region_name))


def _sleep_until(deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def _write(
    model: GlobalTables,
    handler: Any,
    action: str,
    body: dict[str, Any],
    strong: list[tuple[Any, ReplicaGroup]],
    original: Callable,
) -> Any:
    region = strong[0][0].region_name
    in_flight: list[tuple[str, str, Any]] = []
    with WRITE_LOCK:
        partners = {(g.account_id, g.table_name): _partner(model, g, region, t.name) for t, g in strong}
        if action not in PARTIQL:
            in_flight = [(t.account_id, t.name, key) for t, _ in strong for key in _item_keys(t, action, body)]
        for key in in_flight:
            if any(writer != region and count for writer, count in model.in_flight.get(key, {}).items()):
                raise errors.ReplicatedWriteConflict()
        for table, _ in strong:
            _catch_up(model, table)
        for key in in_flight:
            writers = model.in_flight.setdefault(key, {})
            writers[region] = writers.get(region, 0) + 1
        write = StrongWrite(partners, time.monotonic() + model.delay.draw_ms(model.rng) / 1000.0)
    try:
        model.begin_strong_write(write)
        try:
            result = original(handler)
        except ConditionalCheckFailed:
            # The condition was evaluated against the latest version: that took the round trip too.
            _sleep_until(write.acknowledged_by)
            raise
        finally:
            model.end_strong_write()
        _sleep_until(write.acknowledged_by)
        with WRITE_LOCK:
            model.apply_now(model.take(write.acknowledging))
        return result
    finally:
        with WRITE_LOCK:
            for key in in_flight:
                writers = model.in_flight.get(key, {})
                writers[region] = writers.get(region, 1) - 1
                if writers[region] <= 0:
                    writers.pop(region)
                if not writers:
                    model.in_flight.pop(key, None)


def _read(model: GlobalTables, handler: Any, consistent: list[tuple[Any, ReplicaGroup]], original: Callable) -> Any:
    region = consistent[0][0].region_name
    with WRITE_LOCK:
        for table, group in consistent:
            _partner(model, group, region, table.name)
        deadline = time.monotonic() + model.delay.draw_ms(model.rng) / 1000.0
    _sleep_until(deadline)
    with WRITE_LOCK:
        for table, _ in consistent:
            _catch_up(model, table)
    return original(handler)
