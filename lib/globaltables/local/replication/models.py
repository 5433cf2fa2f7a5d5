"""State of the embedded global tables (version 2019.11.21): replica groups, item versions, replication.

This module is the state change only (a replica appears, an item replicates, a conflict resolves);
the request handling that validates ``UpdateTable ReplicaUpdates`` lives in ``responses.py`` and
the moto hooks in ``hooks.py``.

How replication works here, as on AWS, item by item:

- A write accepted by one replica (put, update, delete; single, batch or transactional) is captured
  after it succeeds, stamped with a strictly increasing write timestamp and the writing region, and
  queued for every other replica with a delay drawn from the configured distribution.
- A replicated write is applied only if its (timestamp, region) is newer than the version the
  receiving replica holds for that key: last writer wins, ties broken by region name, deletes keep a
  tombstone. So after quiescence every replica holds the same items. Applied writes are not captured
  again, so they do not replicate back.
- The sending region's CloudWatch gets ``ReplicationLatency`` (ms, from the write's acknowledgement to
  its visibility in the receiving replica) with dimensions ``TableName`` and ``ReceivingRegion``.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import math
import random
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow
from moto.dynamodb.models import dynamodb_backends

GLOBAL_TABLE_VERSION = "2019.11.21"

# One lock for every DynamoDB write in the embedded AWS: a local write, its capture and the
# application of replicated writes are then atomic with respect to each other, which is what keeps
# last-writer-wins exact. moto itself takes no lock around writes.
WRITE_LOCK = threading.RLock()


@dataclass
class DelayDistribution:
    """Replication delay in milliseconds: ``fixed`` (value), ``uniform`` (low..high) or ``lognormal``
    (median, sigma), capped at ``max_ms``. AWS reports typical replication within a second."""

    kind: str = "lognormal"
    value_ms: float = 0.0
    low_ms: float = 0.0
    high_ms: float = 0.0
    median_ms: float = 250.0
    sigma: float = 0.5
    max_ms: float = 5000.0

    @classmethod
    def parse(cls, text: str) -> DelayDistribution:
        """``0`` or ``fixed:MS``, ``uniform:LOW:HIGH``, ``lognormal:MEDIAN:SIGMA`` (milliseconds)."""
        parts = str(text).strip().split(":")
        try:
            if len(parts) == 1:
                return cls(kind="fixed", value_ms=float(parts[0]))
            kind, numbers = parts[0], [float(p) for p in parts[1:]]
            if kind == "fixed" and len(numbers) == 1:
                return cls(kind="fixed", value_ms=numbers[0])
            if kind == "uniform" and len(numbers) == 2:
                return cls(kind="uniform", low_ms=numbers[0], high_ms=numbers[1])
            if kind == "lognormal" and len(numbers) == 2:
                return cls(kind="lognormal", median_ms=numbers[0], sigma=numbers[1])
        except ValueError:
            pass
        raise ValueError(
            f"replication delay {text!r}: use MS, fixed:MS, uniform:LOW:HIGH or lognormal:MEDIAN:SIGMA (milliseconds)"
        )

    def __post_init__(self) -> None:
        if min(self.value_ms, self.low_ms, self.median_ms, self.sigma) < 0 or self.high_ms < self.low_ms:
            raise ValueError(f"replication delay must be non-negative with low <= high: {self}")

    def describe(self) -> dict[str, Any]:
        if self.kind == "fixed":
            return {"kind": "fixed", "value_ms": self.value_ms}
        if self.kind == "uniform":
            return {"kind": "uniform", "low_ms": self.low_ms, "high_ms": self.high_ms}
        return {"kind": "lognormal", "median_ms": self.median_ms, "sigma": self.sigma, "max_ms": self.max_ms}

    @property
    def typical_ms(self) -> float:
        return {"fixed": self.value_ms, "uniform": (self.low_ms + self.high_ms) / 2}.get(self.kind, self.median_ms)

    def draw_ms(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.value_ms
        if self.kind == "uniform":
            return rng.uniform(self.low_ms, self.high_ms)
        if self.median_ms == 0:
            return 0.0
        return min(self.max_ms, rng.lognormvariate(math.log(self.median_ms), self.sigma))


@dataclass
class Replica:
    region: str
    status: str  # CREATING, ACTIVE, DELETING
    kms_key_arn: str | None = None
    due: float = 0.0  # monotonic time at which CREATING/DELETING ends

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {
            "RegionName": self.region,
            "ReplicaStatus": self.status,
            "ReplicaTableClassSummary": {"TableClass": "STANDARD"},
        }
        if self.kms_key_arn:
            description["KMSMasterKeyId"] = self.kms_key_arn
        return description


@dataclass
class ReplicaGroup:
    """One global table: the same table name in several regions of one account."""

    account_id: str
    table_name: str
    replicas: dict[str, Replica] = field(default_factory=dict)
    # Per region, per item key: the (write timestamp, writing region) of the version it holds.
    versions: dict[str, dict[Any, tuple[int, str]]] = field(default_factory=dict)

    def busy(self) -> bool:
        return any(r.status != "ACTIVE" for r in self.replicas.values())


@dataclass(order=True)
class Delivery:
    due: float
    sequence: int
    source: str = field(compare=False)
    target: str = field(compare=False)
    account_id: str = field(compare=False)
    table_name: str = field(compare=False)
    key: Any = field(compare=False)
    image: Any = field(compare=False)  # an Item to store, or None for a delete
    timestamp: int = field(compare=False)
    acknowledged_at: float = field(compare=False)  # wall clock, seconds


@dataclass
class CapturedWrite:
    table: Any  # the moto Table written to
    key: Any
    image: Any  # a private copy of the new Item, or None for a delete


class _Capture(threading.local):
    depth = 0
    applying = False
    writes: dict[Any, CapturedWrite] | None = None


class GlobalTables:
    """All replica groups of the embedded AWS, the replication queue and the fault switches."""

    def __init__(
        self, delay: DelayDistribution | None = None, replica_transition_s: float = 2.0, seed: int | None = None
    ):
        self.delay = delay or DelayDistribution()
        self.replica_transition_s = replica_transition_s
        self.groups: dict[tuple[str, str], ReplicaGroup] = {}
        self.paused_regions: set[str] = set()
        self.outage_regions: set[str] = set()
        self.rng = random.Random(seed)
        self._queue: list[Delivery] = []
        self._held: list[Delivery] = []
        self._sequence = itertools.count()
        self._last_timestamp = 0
        self._capture = _Capture()
        self._wakeup = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self.delivered = 0

    # ----- groups and replicas -------------------------------------------------------------

    def group(self, account_id: str, table_name: str) -> ReplicaGroup | None:
        return self.groups.get((account_id, table_name))

    def group_of(self, table: Any) -> ReplicaGroup | None:
        group = self.groups.get((table.account_id, table.name))
        return group if group is not None and table.region_name in group.replicas else None

    def start_group(self, table: Any) -> ReplicaGroup:
        """Make ``table`` the first member of a replica group (it is ACTIVE: it already exists)."""
        key = (table.account_id, table.name)
        if key not in self.groups:
            kms = (table.sse_specification or {}).get("KMSMasterKeyId") if table.sse_specification else None
            group = ReplicaGroup(table.account_id, table.name)
            group.replicas[table.region_name] = Replica(table.region_name, "ACTIVE", kms)
            group.versions[table.region_name] = {}
            self.groups[key] = group
        return self.groups[key]

    def add_replica(self, source: Any, region: str, kms_key_arn: str | None) -> Replica:
        """Create the replica table in ``region`` from ``source`` (schema, indexes, stream, SSE) and
        copy the source's items into it. Its status is CREATING for the configured transition time."""
        group = self.start_group(source)
        backend = dynamodb_backends[source.account_id][region]
        sse = None
        if source.sse_specification and source.sse_specification.get("Enabled"):
            sse = {"Enabled": True, "SSEType": "KMS"}
            if kms_key_arn:
                sse["KMSMasterKeyId"] = kms_key_arn
        replica_table = backend.create_table(
            name=source.name,
            schema=copy.deepcopy(source.schema),
            throughput=copy.deepcopy(source.throughput) if source.billing_mode != "PAY_PER_REQUEST" else None,
            attr=copy.deepcopy(source.attr),
            global_indexes=[index.describe() for index in source.global_indexes] or None,
            indexes=[index.describe() for index in source.indexes] or None,
            streams={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            billing_mode=source.billing_mode,
            sse_specification=sse,
            tags=[],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
        for index in replica_table.global_indexes:
            index.throughput = copy.deepcopy(next(i for i in source.global_indexes if i.name == index.name).throughput)
        replica = Replica(region, "CREATING", (sse or {}).get("KMSMasterKeyId") or self._sse_arn(replica_table))
        replica.due = time.monotonic() + self.replica_transition_s
        group.replicas[region] = replica
        # Backfill: the new replica starts with the source's items and their versions.
        self._capture.applying = True
        try:
            for item in source.all_items():
                self._store(replica_table, copy.deepcopy(item))
        finally:
            self._capture.applying = False
        group.versions[region] = dict(group.versions.get(source.region_name, {}))
        # Writes still in flight to the source must reach the newcomer too.
        with self._wakeup:
            in_flight = [*self._queue, *self._held]
        for pending in in_flight:
            if (
                pending.account_id == source.account_id
                and pending.table_name == source.name
                and pending.target == source.region_name
            ):
                self._push(
                    Delivery(
                        pending.due,
                        next(self._sequence),
                        pending.source,
                        region,
                        pending.account_id,
                        pending.table_name,
                        pending.key,
                        pending.image,
                        pending.timestamp,
                        pending.acknowledged_at,
                    )
                )
        return replica

    @staticmethod
    def _sse_arn(table: Any) -> str | None:
        spec = table.sse_specification or {}
        return spec.get("KMSMasterKeyId") if spec.get("Enabled") else None

    def remove_replica(self, group: ReplicaGroup, region: str) -> None:
        """Mark the replica DELETING; ``housekeeping`` deletes its table when the transition ends."""
        replica = group.replicas[region]
        replica.status = "DELETING"
        replica.due = time.monotonic() + self.replica_transition_s

    def forget_region(self, account_id: str, table_name: str, region: str) -> None:
        """The table in ``region`` is gone (DeleteTable or a finished replica deletion)."""
        group = self.groups.get((account_id, table_name))
        if group is None:
            return
        group.replicas.pop(region, None)
        group.versions.pop(region, None)
        if len(group.replicas) <= 1:
            # A single table left is a plain table again; an empty group is forgotten.
            self.groups.pop((account_id, table_name), None)

    def housekeeping(self) -> None:
        """Finish replica transitions that are due (CREATING to ACTIVE, DELETING to gone)."""
        now = time.monotonic()
        with WRITE_LOCK:
            for group in list(self.groups.values()):
                for replica in list(group.replicas.values()):
                    if replica.status == "CREATING" and now >= replica.due:
                        replica.status = "ACTIVE"
                    elif replica.status == "DELETING" and now >= replica.due:
                        backend = dynamodb_backends[group.account_id][replica.region]
                        backend.tables.pop(group.table_name, None)
                        self.forget_region(group.account_id, group.table_name, replica.region)

    def describe_extras(self, table: Any) -> dict[str, Any]:
        """Fields DescribeTable adds for a replica: version, the other replicas, UPDATING or CREATING."""
        self.housekeeping()
        group = self.group_of(table)
        if group is None:
            return {}
        own = group.replicas[table.region_name]
        extras: dict[str, Any] = {
            "GlobalTableVersion": GLOBAL_TABLE_VERSION,
            "Replicas": [r.describe() for region, r in group.replicas.items() if region != table.region_name],
        }
        if own.status == "CREATING":
            extras["TableStatus"] = "CREATING"
        elif own.status == "DELETING":
            extras["TableStatus"] = "DELETING"
        elif group.busy():
            extras["TableStatus"] = "UPDATING"
        return extras

    # ----- capture of local writes ---------------------------------------------------------

    def begin_write(self) -> None:
        self._capture.depth += 1
        if self._capture.depth == 1:
            self._capture.writes = {}

    def end_write(self, succeeded: bool) -> None:
        self._capture.depth -= 1
        if self._capture.depth == 0:
            writes, self._capture.writes = self._capture.writes, None
            if succeeded and writes:
                self._publish(list(writes.values()))

    def captured(self, table: Any, old: Any, new: Any) -> None:
        """Called for every stream record moto adds; keeps the last image per key of this call."""
        if self._capture.applying or self._capture.writes is None or self.group_of(table) is None:
            return
        record = new if new is not None else old
        key = (record.hash_key, record.range_key)
        # A private copy: moto's update_item mutates the stored Item in place later.
        self._capture.writes[(table.region_name, table.name, key)] = CapturedWrite(
            table, key, copy.deepcopy(new) if new is not None else None
        )

    def _next_timestamp(self) -> int:
        self._last_timestamp = max(time.time_ns(), self._last_timestamp + 1)
        return self._last_timestamp

    def _publish(self, writes: list[CapturedWrite]) -> None:
        now = time.monotonic()
        acknowledged = time.time()
        for write in writes:
            group = self.group_of(write.table)
            if group is None:
                continue
            source = write.table.region_name
            stamp = self._next_timestamp()
            group.versions.setdefault(source, {})[write.key] = (stamp, source)
            for target in group.replicas:
                if target == source:
                    continue
                due = now + self.delay.draw_ms(self.rng) / 1000.0
                self._push(
                    Delivery(
                        due,
                        next(self._sequence),
                        source,
                        target,
                        group.account_id,
                        group.table_name,
                        write.key,
                        write.image,
                        stamp,
                        acknowledged,
                    )
                )

    # ----- delivery ------------------------------------------------------------------------

    def _push(self, delivery: Delivery) -> None:
        with self._wakeup:
            heapq.heappush(self._queue, delivery)
            self._wakeup.notify()

    def _blocked(self, delivery: Delivery) -> bool:
        return bool({delivery.source, delivery.target} & (self.paused_regions | self.outage_regions))

    def backlog(self) -> int:
        with self._wakeup:
            return len(self._queue) + len(self._held)

    def deliveries_pending(self) -> int:
        """Replicated writes still to deliver (not those held for a paused or failed region)."""
        with self._wakeup:
            return len(self._queue)

    # ----- snapshot (see globaltables.local.snapshot) ---------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Everything but the thread, the locks and the per-thread capture, as plain picklable data;
        monotonic deadlines (replica transitions, deliveries) become seconds left. Items and versions
        are the live objects: pickle the result while holding ``WRITE_LOCK``."""
        now = time.monotonic()
        with WRITE_LOCK, self._wakeup:
            return {
                "delay": replace(self.delay),
                "replica_transition_s": self.replica_transition_s,
                "rng": self.rng.getstate(),
                "groups": [
                    ReplicaGroup(
                        g.account_id,
                        g.table_name,
                        {region: replace(r, due=max(0.0, r.due - now)) for region, r in g.replicas.items()},
                        g.versions,
                    )
                    for g in self.groups.values()
                ],
                "paused_regions": sorted(self.paused_regions),
                "outage_regions": sorted(self.outage_regions),
                "queue": [replace(d, due=max(0.0, d.due - now)) for d in self._queue],
                "held": [replace(d, due=0.0) for d in self._held],
                "next_sequence": next(self._sequence),
                "last_timestamp": self._last_timestamp,
                "delivered": self.delivered,
            }

    def import_state(self, state: dict[str, Any]) -> None:
        """Replace this model's state (in place: the moto hooks hold this object) with ``export_state``'s."""
        now = time.monotonic()
        with WRITE_LOCK, self._wakeup:
            self.delay = state["delay"]
            self.replica_transition_s = state["replica_transition_s"]
            self.rng.setstate(state["rng"])
            self.groups.clear()
            for group in state["groups"]:
                for replica in group.replicas.values():
                    replica.due = now + replica.due
                self.groups[(group.account_id, group.table_name)] = group
            self.paused_regions.clear()
            self.paused_regions.update(state["paused_regions"])
            self.outage_regions.clear()
            self.outage_regions.update(state["outage_regions"])
            self._queue = [replace(d, due=now + d.due) for d in state["queue"]]
            heapq.heapify(self._queue)
            self._held = [replace(d, due=now) for d in state["held"]]
            self._sequence = itertools.count(state["next_sequence"])
            self._last_timestamp = max(self._last_timestamp, state["last_timestamp"])
            self.delivered = state["delivered"]
            self._wakeup.notify()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="replication", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                timeout = 0.05
                if self._queue:
                    timeout = max(0.0, min(timeout, self._queue[0].due - time.monotonic()))
                if timeout > 0:
                    self._wakeup.wait(timeout)
                due: list[Delivery] = []
                now = time.monotonic()
                while self._queue and self._queue[0].due <= now:
                    due.append(heapq.heappop(self._queue))
            self.housekeeping()
            if due:
                self.deliver(due)

    def deliver(self, deliveries: list[Delivery]) -> None:
        metrics: dict[tuple[str, str, str, str], list[float]] = {}
        with WRITE_LOCK:
            for delivery in deliveries:
                if self._blocked(delivery):
                    with self._wakeup:
                        self._held.append(delivery)
                    continue
                latency_ms = self._apply(delivery)
                if latency_ms is not None:
                    key = (delivery.account_id, delivery.source, delivery.table_name, delivery.target)
                    metrics.setdefault(key, []).append(latency_ms)
        for (account_id, source, table_name, target), values in metrics.items():
            self._put_latency(account_id, source, table_name, target, values)

    def _apply(self, delivery: Delivery) -> float | None:
        group = self.groups.get((delivery.account_id, delivery.table_name))
        if group is None or delivery.target not in group.replicas:
            return None  # the replica (or the whole global table) is gone
        table = dynamodb_backends[delivery.account_id][delivery.target].tables.get(delivery.table_name)
        if table is None:
            return None
        versions = group.versions.setdefault(delivery.target, {})
        incoming = (delivery.timestamp, delivery.source)
        current = versions.get(delivery.key)
        if current is None or incoming > current:
            versions[delivery.key] = incoming
            self._capture.applying = True
            try:
                if delivery.image is None:
                    table.delete_item(*delivery.key)
                else:
                    self._store(table, copy.deepcopy(delivery.image))
            finally:
                self._capture.applying = False
        self.delivered += 1
        # The replica now holds this write or a newer one: the write is visible there.
        return max(0.0, (time.time() - delivery.acknowledged_at) * 1000.0)

    @staticmethod
    def _store(table: Any, item: Any) -> None:
        """Store an already validated item as moto's put_item does after its checks (stream included)."""
        current = table.get_item(item.hash_key, item.range_key)
        if item.range_key is not None:
            table.items[item.hash_key][item.range_key] = item
        else:
            table.items[item.hash_key] = item
        if table.stream_shard is not None:
            table.stream_shard.add(current, item)

    def _put_latency(self, account_id: str, source: str, table_name: str, target: str, values: list[float]) -> None:
        cloudwatch_backends[account_id][source].put_metric_data(
            "AWS/DynamoDB",
            [
                {
                    "MetricName": "ReplicationLatency",
                    "Dimensions": [
                        {"Name": "TableName", "Value": table_name},
                        {"Name": "ReceivingRegion", "Value": target},
                    ],
                    "Timestamp": utcnow(),
                    "Unit": "Milliseconds",
                    "StatisticValues": {
                        "SampleCount": float(len(values)),
                        "Sum": float(sum(values)),
                        "Minimum": float(min(values)),
                        "Maximum": float(max(values)),
                    },
                }
            ],
        )

    # ----- faults --------------------------------------------------------------------------

    def set_paused(self, region: str, paused: bool) -> None:
        (self.paused_regions.add if paused else self.paused_regions.discard)(region)
        self._release_held()

    def set_outage(self, region: str, down: bool) -> None:
        (self.outage_regions.add if down else self.outage_regions.discard)(region)
        self._release_held()

    def _release_held(self) -> None:
        with self._wakeup:
            held, self._held = self._held, []
            for delivery in held:
                # Requeued as due now; still-blocked links are held again on the next pass.
                delivery.due = time.monotonic()
                heapq.heappush(self._queue, delivery)
            self._wakeup.notify()

    def status(self) -> dict[str, Any]:
        return {
            "delay": self.delay.describe(),
            "replica_transition_s": self.replica_transition_s,
            "backlog": self.backlog(),
            "delivered": self.delivered,
            "paused_regions": sorted(self.paused_regions),
            "outage_regions": sorted(self.outage_regions),
            "global_tables": [
                {
                    "account": g.account_id,
                    "table": g.table_name,
                    "replicas": {r.region: r.status for r in g.replicas.values()},
                }
                for g in self.groups.values()
            ],
        }
