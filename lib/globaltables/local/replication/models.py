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
- A multi-Region strongly consistent (MRSC) group (``ReplicaGroup.consistency`` STRONG, maybe with a
  ``Witness``) replicates the same way, except that the write's delivery to one other member is due when
  its caller's round trip ends and is applied then, that strongly consistent reads and writes first take
  the deliveries still on their way to their table (``take_pending``), and that no ReplicationLatency is
  published; the request side is ``strong.py``.

Table lifecycle and settings, as AWS documents them (durations from ``Timing``):

- A new table is CREATING, a deleted one DELETING, before it is ACTIVE or gone; neither serves reads
  or writes meanwhile. A table deleted in a replica's own region leaves its global table: the others
  show that replica DELETING, then drop it.
- Settings AWS keeps identical on every replica (billing mode, write capacity, indexes, stream, time
  to live, SSE type, on-demand maximum writes, warm throughput) reach every other replica when the
  change's ``Sync`` is due; meanwhile every replica is UPDATING. Read capacity, table class and
  on-demand maximum reads are synchronised too unless a replica overrides them (``Replica``'s
  overrides, set through ``ReplicaUpdates``). A new replica gets the synchronised settings, and its
  region the table's write auto scaling (``scaling``: write auto scaling is synchronised too).
- Races AWS has (durations from ``Timing``): PITR refused for a while after a table or replica turns
  ACTIVE, a new replica listed by the other regions only after a lag, a table UPDATING after a
  deletion-protection change, and a table or replica INACCESSIBLE_ENCRYPTION_CREDENTIALS while its
  customer managed key is disabled or pending deletion.
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
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.kms.models import kms_backends

from globaltables.local.replication.records import snapshot_images
from globaltables.local.replication.scaling import copy_write_scaling

GLOBAL_TABLE_VERSION = "2019.11.21"
# TableStatus and ReplicaStatus of a table or replica whose customer managed key is unusable.
INACCESSIBLE = "INACCESSIBLE_ENCRYPTION_CREDENTIALS"
KEY_UNUSABLE_STATES = ("Disabled", "PendingDeletion")
# Kept on moto's KMS Key (so saved with it): when the embedded DynamoDB first saw the key unusable.
KEY_UNUSABLE_SEEN = "globaltables_unusable_since"
# Kept in ``table_settings``: the wall-clock time from which point-in-time recovery can be enabled.
BACKUPS_AVAILABLE_AT = "BackupsAvailableAt"

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


SWITCH = {"on": True, "off": False}

# ``Timing.parse`` keys: ``realistic,create_replica=5`` sets one duration of a profile.
TIMING_KEYS = {
    "create_table": "create_table_s",
    "delete_table": "delete_table_s",
    "create_replica": "create_replica_s",
    "delete_replica": "delete_replica_s",
    "sync": "sync_s",
    "pitr_unavailable": "pitr_unavailable_s",
    "role_propagation": "role_propagation_s",
    "protection_update": "protection_update_s",
    "replica_listing_lag": "replica_listing_lag_s",
    "key_inaccessible": "key_inaccessible_s",
}


@dataclass(frozen=True)
class Timing:
    """How long DynamoDB's asynchronous transitions last here (seconds): a new table CREATING, a deleted
    one DELETING, a replica CREATING or DELETING, a synchronised change (or an index) on its way to
    every replica (UPDATING). ``fast`` is for tests and runs: tables appear and vanish at once (their
    answers still say CREATING and DELETING). ``realistic`` is a small table on AWS, compressed: AWS
    takes seconds to create a table but minutes to add a replica."""

    name: str = "fast"
    create_table_s: float = 0.0
    delete_table_s: float = 0.0
    # Long enough that a poll (every 0.1 s) sees CREATING, DELETING and UPDATING; no longer, as each
    # run waits for them in turn (two replicas added, two removed, settings synchronised).
    create_replica_s: float = 0.5
    delete_replica_s: float = 0.5
    sync_s: float = 0.5
    # Races AWS has: PITR refused (ContinuousBackupsUnavailableException) until this long after a table
    # or replica turns ACTIVE; a new IAM role not yet usable by AWS Backup; the table UPDATING after a
    # deletion-protection change; a new replica not yet listed by DescribeTable in the other regions;
    # a table or replica INACCESSIBLE_ENCRYPTION_CREDENTIALS this long after its KMS key is seen
    # Disabled or PendingDeletion.
    pitr_unavailable_s: float = 0.0
    role_propagation_s: float = 0.0
    protection_update_s: float = 0.0
    replica_listing_lag_s: float = 0.0
    key_inaccessible_s: float = 0.0
    # Provisioned capacity enforced (a token bucket per table and index; throttles beyond it).
    enforce_capacity: bool = False

    @classmethod
    def parse(cls, text: str) -> Timing:
        """``fast`` or ``realistic``, optionally followed by ``,KEY=SECONDS`` overrides (keys: TIMING_KEYS)
        and ``,capacity=on|off`` (provisioned capacity enforced or not)."""
        name, *overrides = [part.strip() for part in str(text).split(",")]
        if name not in TIMINGS:
            raise ValueError(f"timing {text!r}: use {' or '.join(TIMINGS)}, optionally with ,KEY=SECONDS overrides")
        values: dict[str, float] = {}
        for override in overrides:
            key, _, seconds = override.partition("=")
            if key.strip() == "capacity" and seconds.strip() in SWITCH:
                values["enforce_capacity"] = SWITCH[seconds.strip()]
                continue
            try:
                values[TIMING_KEYS[key.strip()]] = float(seconds)
            except (KeyError, ValueError):
                raise ValueError(
                    f"timing {text!r}: {override!r} is not KEY=SECONDS with KEY one of {', '.join(TIMING_KEYS)}, "
                    "nor capacity=on|off"
                ) from None
        return replace(TIMINGS[name], **values)

    def __post_init__(self) -> None:
        durations = [getattr(self, attribute) for attribute in TIMING_KEYS.values()]
        if not all(math.isfinite(seconds) and seconds >= 0 for seconds in durations):
            raise ValueError(f"timing durations must be finite and >= 0: {self}")

    def with_replica_transition(self, seconds: float) -> Timing:
        """The legacy ``replica_transition_s`` knob: replica creation, deletion and synchronisation."""
        return replace(self, create_replica_s=seconds, delete_replica_s=seconds, sync_s=seconds)

    def describe(self) -> dict[str, Any]:
        durations = {attribute: getattr(self, attribute) for attribute in TIMING_KEYS.values()}
        return {"name": self.name, **durations, "enforce_capacity": self.enforce_capacity}


TIMINGS = {
    "fast": Timing(),
    # 02_table_replicas with three regions then waits 10 + 2 x 15 s for the table and its replicas. The
    # races are AWS's, compressed as the transitions are: PITR refused for 3-6 s after ACTIVE (measured
    # in the ack-api-quirks catalogue), a new role unusable for seconds, the table UPDATING for "tens of
    # seconds" after a protection change, a key's loss seen 13-75 minutes after DisableKey (ack-api-quirks
    # DDB-TABLE-331), all shortened to seconds.
    "realistic": Timing(
        "realistic",
        10.0,
        10.0,
        15.0,
        15.0,
        10.0,
        pitr_unavailable_s=5.0,
        role_propagation_s=8.0,
        protection_update_s=5.0,
        replica_listing_lag_s=2.0,
        key_inaccessible_s=20.0,
        enforce_capacity=True,
    ),
}


@dataclass
class Replica:
    region: str
    status: str  # CREATING, ACTIVE, DELETING
    kms_key_arn: str | None = None
    due: float = 0.0  # monotonic time at which CREATING/DELETING ends
    # Monotonic time from which the other regions' DescribeTable lists this replica (AWS's control plane
    # is eventually consistent: right after ReplicaUpdates Create the table may not list it yet).
    listed_at: float = 0.0
    # What this replica overrides of the synchronised settings (ReplicaUpdates Create or Update).
    read_capacity: int | None = None
    index_read_capacity: dict[str, int] = field(default_factory=dict)
    table_class: str | None = None
    max_read_request_units: int | None = None

    def describe(self, status: str | None = None, table_class: str = "STANDARD") -> dict[str, Any]:
        """As ``Replicas`` lists it; ``status`` (UPDATING during a synchronised change) and the
        synchronised ``table_class`` come from the group."""
        description: dict[str, Any] = {
            "RegionName": self.region,
            "ReplicaStatus": status or self.status,
            "ReplicaTableClassSummary": {"TableClass": self.table_class or table_class},
        }
        if self.kms_key_arn:
            description["KMSMasterKeyId"] = self.kms_key_arn
        if self.read_capacity is not None:
            description["ProvisionedThroughputOverride"] = {"ReadCapacityUnits": self.read_capacity}
        if self.max_read_request_units is not None:
            description["OnDemandThroughputOverride"] = {"MaxReadRequestUnits": self.max_read_request_units}
        if self.index_read_capacity:
            description["GlobalSecondaryIndexes"] = [
                {"IndexName": name, "ProvisionedThroughputOverride": {"ReadCapacityUnits": units}}
                for name, units in sorted(self.index_read_capacity.items())
            ]
        return description


@dataclass
class Witness:
    """The witness region of an MRSC global table: no table of the account's, only a status (CREATING,
    ACTIVE, DELETING until ``due``) and a vote in the quorum of writes and strongly consistent reads."""

    region: str
    status: str
    due: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {"RegionName": self.region, "WitnessStatus": self.status}


@dataclass
class Sync:
    """A change of synchronised settings made in ``source``, on its way to the other replicas: applied
    to them when ``due``; until then the ``regions`` listed are UPDATING (and the whole table busy)."""

    source: str
    settings: dict[str, Any]
    regions: list[str]
    due: float


@dataclass
class Transition:
    """A table (or a replica's table) CREATING or DELETING until ``due`` (replicas: ``Replica``), or UPDATING
    after a deletion-protection change; only CREATING and DELETING refuse reads and writes."""

    status: str
    due: float


@dataclass
class IndexTransition:
    """A global secondary index CREATING (backfilling) or DELETING until ``due``."""

    account_id: str
    region: str
    table_name: str
    index_name: str
    status: str
    due: float


@dataclass
class ReplicaGroup:
    """One global table: the same table name in several regions of one account."""

    account_id: str
    table_name: str
    replicas: dict[str, Replica] = field(default_factory=dict)
    # Per region, per item key: the (write timestamp, writing region) of the version it holds.
    versions: dict[str, dict[Any, tuple[int, str]]] = field(default_factory=dict)
    syncs: list[Sync] = field(default_factory=list)
    # The synchronised value of what a replica may override (``read_capacity``, ``index_read_capacity``,
    # ``table_class``, ``max_read_request_units``): what replicas without an override, and new ones, get.
    synced: dict[str, Any] = field(default_factory=dict)
    # EVENTUAL (MREC) or STRONG (MRSC, ``strong.py``), and the MRSC table's witness, if it has one. Plain
    # defaults, not factories: a group pickled before MRSC existed reads them from the class.
    consistency: str = "EVENTUAL"
    witness: Witness | None = None

    @property
    def strong(self) -> bool:
        return self.consistency == "STRONG"

    def busy(self) -> bool:
        witness_busy = self.witness is not None and self.witness.status != "ACTIVE"
        return bool(self.syncs) or witness_busy or any(r.status != "ACTIVE" for r in self.replicas.values())

    def seems_busy(self, now: float) -> bool:
        """``busy`` as DescribeTable shows it: a replica not listed yet changes nothing there yet."""
        listed = [r for r in self.replicas.values() if r.listed_at <= now]
        witness_busy = self.witness is not None and self.witness.status != "ACTIVE"
        return bool(self.syncs) or witness_busy or any(r.status != "ACTIVE" for r in listed)

    def replica_status(self, replica: Replica) -> str:
        if replica.status == "ACTIVE" and any(replica.region in sync.regions for sync in self.syncs):
            return "UPDATING"
        return replica.status


@dataclass(eq=False)
class Delivery:
    """One replicated write on its way to one region. The delivery heap orders it by ``due``, then
    ``sequence`` (as the tuple ``(due, sequence, delivery)``); compared by identity otherwise."""

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
    # A write of an MRSC table: no ReplicationLatency metric (AWS publishes none for MRSC).
    strong: bool = field(default=False, compare=False)


@dataclass
class CapturedWrite:
    table: Any  # the moto Table written to
    key: Any
    image: Any  # a private copy of the new Item, or None for a delete


class _Capture(threading.local):
    depth = 0
    applying = False
    writes: dict[Any, CapturedWrite] | None = None
    # The MRSC write this thread is making (``strong.StrongWrite``), which ``_publish`` reports its
    # acknowledging deliveries to; None for every other write.
    strong: Any = None


# What moto's ``Item`` and ``DynamoType`` hold; ``copy_item`` copies exactly these, as their own
# ``__deepcopy__`` does. Another shape (a moto upgrade) falls back to ``copy.deepcopy``.
ITEM_FIELDS = {"hash_key", "range_key", "attrs"}
SET_TYPES = ("SS", "NS", "BS")


def _copy_value(value: DynamoType) -> DynamoType:
    result = object.__new__(DynamoType)
    kind = result.type = value.type
    if kind == "L":
        result.value = [_copy_value(element) for element in value.value]
    elif kind == "M":
        result.value = {name: _copy_value(element) for name, element in value.value.items()}
    elif kind in SET_TYPES:
        result.value = list(value.value)
    else:
        result.value = value.value  # str, bytes or bool: immutable
    return result


def copy_item(item: Item) -> Item:
    """A private copy of a stored moto ``Item``, equal to ``copy.deepcopy(item)`` (moto's
    ``Item.__deepcopy__``: attributes not re-validated, the source was) at a third of its cost:
    no memo, no dispatch. Every captured and every replicated write is copied once, so this is
    the replication's hot path."""
    if type(item) is not Item or item.__dict__.keys() != ITEM_FIELDS:
        return copy.deepcopy(item)
    result = object.__new__(Item)
    result.hash_key = _copy_value(item.hash_key)
    result.range_key = None if item.range_key is None else _copy_value(item.range_key)
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, {name: _copy_value(value) for name, value in item.attrs.items()})
    result.attrs = attrs
    return result


def _replica_table(source: Any, region: str, sse: dict[str, Any] | None, stream: bool) -> Any:
    """The replica's moto Table in ``region``: the source's schema, indexes (with their capacity), billing,
    stream (NEW_AND_OLD_IMAGES, unless ``stream`` is off: an MRSC replica) and SSE type."""
    backend = dynamodb_backends[source.account_id][region]
    replica_table = backend.create_table(
        name=source.name,
        schema=copy.deepcopy(source.schema),
        throughput=copy.deepcopy(source.throughput) if source.billing_mode != "PAY_PER_REQUEST" else None,
        attr=copy.deepcopy(source.attr),
        global_indexes=[i.describe() for i in source.global_indexes if i.status != "DELETING"] or None,
        indexes=[index.describe() for index in source.indexes] or None,
        streams={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"} if stream else None,
        billing_mode=source.billing_mode,
        sse_specification=sse,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=copy.deepcopy(source.warm_throughput),
    )
    for index in replica_table.global_indexes:
        source_index = find_index(source, index.name)
        index.throughput = copy.deepcopy(source_index.throughput)
        index.warm_throughput = copy.deepcopy(source_index.warm_throughput)
    return replica_table


def _synchronised_now(group: Any, source: Any) -> dict[str, Any]:
    """The synchronised settings a new replica starts with."""
    source_extras = table_settings(source)
    synced = {
        "ttl": source.ttl,
        "read_capacity": group.synced.get("read_capacity"),
        "indexes": {
            name: {"read_capacity": units} for name, units in group.synced.get("index_read_capacity", {}).items()
        },
        "table_class": group.synced.get("table_class", "STANDARD"),
        "max_write_request_units": (source_extras.get("OnDemandThroughput") or {}).get("MaxWriteRequestUnits"),
        "max_read_request_units": group.synced.get("max_read_request_units"),
    }
    return {k: v for k, v in synced.items() if v is not None}


def table_settings(table: Any) -> dict[str, Any]:
    """What moto does not keep of a table (``TableClass``, ``OnDemandThroughput``), kept on the moto
    Table itself so that it is saved, restored and deleted with it."""
    settings = getattr(table, "globaltables_settings", None)
    if settings is None:
        settings = {}
        table.globaltables_settings = settings
    return settings


def find_index(table: Any, name: str) -> Any:
    return next((index for index in table.global_indexes if index.name == name), None)


def apply_settings(table: Any, settings: dict[str, Any], replica: Replica | None) -> None:
    """Apply synchronised ``settings`` (``responses.synchronised_settings`` names them) to one
    replica's table, keeping what that ``replica`` overrides."""
    overrides = replica or Replica("", "ACTIVE")
    if "billing_mode" in settings:
        table.billing_mode = settings["billing_mode"]
    table.throughput = dict(table.throughput)
    if "write_capacity" in settings:
        table.throughput["WriteCapacityUnits"] = settings["write_capacity"]
    if "read_capacity" in settings and overrides.read_capacity is None:
        table.throughput["ReadCapacityUnits"] = settings["read_capacity"]
    if "attributes" in settings:
        table.attr = copy.deepcopy(settings["attributes"])
    for name, index_settings in settings.get("indexes", {}).items():
        index = find_index(table, name)
        if index is None:
            continue
        index.throughput = dict(index.throughput)
        if "write_capacity" in index_settings:
            index.throughput["WriteCapacityUnits"] = index_settings["write_capacity"]
        if "read_capacity" in index_settings and name not in overrides.index_read_capacity:
            index.throughput["ReadCapacityUnits"] = index_settings["read_capacity"]
        if "warm_throughput" in index_settings:
            index.warm_throughput = dict(index_settings["warm_throughput"])
    if "ttl" in settings:
        table.ttl = dict(settings["ttl"])
    if "stream" in settings and settings["stream"] != table.stream_specification:
        table.set_stream_specification(dict(settings["stream"]))
    if "sse_enabled" in settings:
        if settings["sse_enabled"]:
            # The type is synchronised, not the key: each replica takes its own region's AWS managed key.
            key = table._get_default_encryption_key(table.account_id, table.region_name)
            table.sse_specification = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}
        else:
            table.sse_specification = {"Enabled": False}
        if replica is not None:
            replica.kms_key_arn = table.sse_specification.get("KMSMasterKeyId")
    if "warm_throughput" in settings:
        table.warm_throughput = dict(settings["warm_throughput"])
    extras = table_settings(table)
    if "table_class" in settings and overrides.table_class is None:
        extras["TableClass"] = settings["table_class"]
    on_demand = dict(extras.get("OnDemandThroughput") or {})
    if "max_write_request_units" in settings:
        on_demand["MaxWriteRequestUnits"] = settings["max_write_request_units"]
    if "max_read_request_units" in settings and overrides.max_read_request_units is None:
        on_demand["MaxReadRequestUnits"] = settings["max_read_request_units"]
    if on_demand:
        extras["OnDemandThroughput"] = on_demand


def apply_overrides(table: Any, replica: Replica) -> None:
    """Give ``table`` what its ``replica`` overrides of the synchronised settings."""
    table.throughput = dict(table.throughput)
    if replica.read_capacity is not None:
        table.throughput["ReadCapacityUnits"] = replica.read_capacity
    for name, units in replica.index_read_capacity.items():
        index = find_index(table, name)
        if index is not None:
            index.throughput = {**index.throughput, "ReadCapacityUnits": units}
    extras = table_settings(table)
    if replica.table_class is not None:
        extras["TableClass"] = replica.table_class
    if replica.max_read_request_units is not None:
        extras["OnDemandThroughput"] = {
            **(extras.get("OnDemandThroughput") or {}),
            "MaxReadRequestUnits": replica.max_read_request_units,
        }


class GlobalTables:
    """All replica groups of the embedded AWS, the replication queue and the fault switches."""

    def __init__(
        self,
        delay: DelayDistribution | None = None,
        replica_transition_s: float | None = None,
        seed: int | None = None,
        timing: Timing | None = None,
    ):
        self.delay = delay or DelayDistribution()
        self.timing = timing or Timing()
        if replica_transition_s is not None:
            self.replica_transition_s = replica_transition_s
        self.groups: dict[tuple[str, str], ReplicaGroup] = {}
        # Tables CREATING, DELETING or UPDATING (deletion protection), by (account, region, table name);
        # indexes CREATING or DELETING.
        self.transitions: dict[tuple[str, str, str], Transition] = {}
        self.index_transitions: list[IndexTransition] = []
        self.paused_regions: set[str] = set()
        self.outage_regions: set[str] = set()
        # Regions whose APIs answer but which reach no other region (``set_isolated``).
        self.isolated_regions: set[str] = set()
        # MRSC writes between their start and their acknowledgement, per (account, table, item key):
        # region -> writes in flight (``strong``: a write from another region conflicts meanwhile).
        self.in_flight: dict[tuple[str, str, Any], dict[str, int]] = {}
        self.rng = random.Random(seed)
        # The delivery heap: (due, sequence, delivery), so the heap compares floats and ints in C.
        self._queue: list[tuple[float, int, Delivery]] = []
        self._held: list[Delivery] = []
        self._sequence = itertools.count()
        self._last_timestamp = 0
        self._capture = _Capture()
        self._wakeup = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        # The receiving tables ``deliver`` resolved for the batch it is applying (see ``_apply``).
        self._resolved: dict[tuple[str, str, str], tuple[Any, dict[Any, Any]]] = {}
        self.delivered = 0

    @property
    def replica_transition_s(self) -> float:
        return self.timing.create_replica_s

    @replica_transition_s.setter
    def replica_transition_s(self, seconds: float) -> None:
        self.timing = self.timing.with_replica_transition(seconds)

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
            extras = table_settings(table)
            group.synced = {
                "read_capacity": table.throughput.get("ReadCapacityUnits"),
                "index_read_capacity": {i.name: i.throughput.get("ReadCapacityUnits") for i in table.global_indexes},
                "table_class": extras.get("TableClass", "STANDARD"),
                "max_read_request_units": (extras.get("OnDemandThroughput") or {}).get("MaxReadRequestUnits"),
            }
            self.groups[key] = group
        return self.groups[key]

    def add_replica(self, source: Any, region: str, kms_key_arn: str | None, stream: bool = True) -> Replica:
        """Create the replica table in ``region`` from ``source`` with the synchronised settings (schema,
        indexes, billing and capacity, stream, SSE type, time to live, table class, ...) and copy the
        source's items into it. Its status is CREATING for the timing's ``create_replica_s``. Without
        ``stream`` (an MRSC replica: AWS leaves its stream off) the caller captures its writes otherwise."""
        group = self.start_group(source)
        sse = None
        if source.sse_specification and source.sse_specification.get("Enabled"):
            sse = {"Enabled": True, "SSEType": "KMS"}
            if kms_key_arn:
                sse["KMSMasterKeyId"] = kms_key_arn
        replica_table = _replica_table(source, region, sse, stream)
        apply_settings(replica_table, _synchronised_now(group, source), None)
        replica = Replica(region, "CREATING", (sse or {}).get("KMSMasterKeyId") or self._sse_arn(replica_table))
        replica.due = time.monotonic() + self.timing.create_replica_s
        replica.listed_at = time.monotonic() + self.timing.replica_listing_lag_s
        self._backups_available_after(replica_table, self.timing.create_replica_s)
        group.replicas[region] = replica
        # Write auto scaling is synchronised: the new replica's region gets the table's (and indexes').
        copy_write_scaling(source.account_id, source.region_name, region, source.name)
        self._backfill(source, replica_table, group)
        return replica

    def _backfill(self, source: Any, replica_table: Any, group: Any) -> None:
        """The new replica starts with the source's items and their versions, and gets the writes still in
        flight to the source."""
        region = replica_table.region_name
        self._capture.applying = True
        try:
            for item in source.all_items():
                self._store(replica_table, copy_item(item))
        finally:
            self._capture.applying = False
        group.versions[region] = dict(group.versions.get(source.region_name, {}))
        with self._wakeup:
            in_flight = [*self._queued(), *self._held]
        for pending in in_flight:
            if (
                pending.account_id == source.account_id
                and pending.table_name == source.name
                and pending.target == source.region_name
            ):
                self._push(replace(pending, sequence=next(self._sequence), target=region))

    @staticmethod
    def _sse_arn(table: Any) -> str | None:
        spec = table.sse_specification or {}
        return spec.get("KMSMasterKeyId") if spec.get("Enabled") else None

    def remove_replica(self, group: ReplicaGroup, region: str) -> None:
        """Mark the replica DELETING; ``housekeeping`` deletes its table when the transition ends."""
        replica = group.replicas[region]
        replica.status = "DELETING"
        replica.due = time.monotonic() + self.timing.delete_replica_s

    def forget_region(self, account_id: str, table_name: str, region: str) -> None:
        """The table in ``region`` is gone (DeleteTable or a finished replica deletion)."""
        group = self.groups.get((account_id, table_name))
        if group is None:
            return
        group.replicas.pop(region, None)
        group.versions.pop(region, None)
        self._dissolve_if_single(group)

    def _dissolve_if_single(self, group: ReplicaGroup) -> None:
        if len(group.replicas) <= 1 and group.witness is None:
            # A single table left is a plain table again; an empty group is forgotten.
            self.groups.pop((group.account_id, group.table_name), None)

    def housekeeping(self) -> None:
        """Finish the transitions that are due: replicas and tables CREATING to ACTIVE and DELETING to
        gone, synchronised changes reaching the other replicas, indexes CREATING or DELETING."""
        now = time.monotonic()
        with WRITE_LOCK:
            for group in list(self.groups.values()):
                for sync in [sync for sync in group.syncs if now >= sync.due]:
                    group.syncs.remove(sync)
                    for region, replica in group.replicas.items():
                        target = dynamodb_backends[group.account_id][region].tables.get(group.table_name)
                        if region != sync.source and target is not None:
                            apply_settings(target, sync.settings, replica)
                witness = group.witness
                if witness is not None and witness.status in ("CREATING", "DELETING") and now >= witness.due:
                    if witness.status == "CREATING":
                        witness.status = "ACTIVE"
                    else:
                        group.witness = None
                        self._dissolve_if_single(group)
                for replica in list(group.replicas.values()):
                    if replica.status == "CREATING" and now >= replica.due:
                        replica.status = "ACTIVE"
                    elif replica.status == "DELETING" and now >= replica.due:
                        backend = dynamodb_backends[group.account_id][replica.region]
                        backend.tables.pop(group.table_name, None)
                        self.forget_region(group.account_id, group.table_name, replica.region)
            for (account_id, region, name), transition in list(self.transitions.items()):
                if now >= transition.due:
                    del self.transitions[(account_id, region, name)]
                    if transition.status == "DELETING":
                        dynamodb_backends[account_id][region].tables.pop(name, None)
            for change in [change for change in self.index_transitions if now >= change.due]:
                self.index_transitions.remove(change)
                table = dynamodb_backends[change.account_id][change.region].tables.get(change.table_name)
                index = find_index(table, change.index_name) if table is not None else None
                if index is None:
                    continue
                if change.status == "DELETING":
                    table.global_indexes = [i for i in table.global_indexes if i is not index]
                else:
                    index.status = "ACTIVE"

    def table_status(self, table: Any) -> str:
        """TableStatus as AWS would answer it now: CREATING, DELETING, INACCESSIBLE_ENCRYPTION_CREDENTIALS,
        UPDATING or ACTIVE."""
        transition = self.transitions.get((table.account_id, table.region_name, table.name))
        if transition is not None and transition.status != "UPDATING":
            return transition.status
        group = self.group_of(table)
        own = group.replicas[table.region_name].status if group is not None else "ACTIVE"
        if own != "ACTIVE":
            return own
        if self.table_inaccessible_since(table) is not None:
            return INACCESSIBLE
        if transition is not None or (group is not None and group.seems_busy(time.monotonic())):
            return "UPDATING"
        if any(index.status != "ACTIVE" for index in table.global_indexes):
            return "UPDATING"
        return "ACTIVE"

    def unavailable(self, table: Any) -> str | None:
        """CREATING or DELETING if ``table`` may not serve reads and writes now (exact to the moment, without
        waiting for the next ``housekeeping``: this runs on every read and write), else None."""
        now = time.monotonic()
        transition = self.transitions.get((table.account_id, table.region_name, table.name))
        if transition is not None and transition.status != "UPDATING" and now < transition.due:
            return transition.status
        group = self.group_of(table)
        own = group.replicas.get(table.region_name) if group is not None else None
        if own is not None and own.status in ("CREATING", "DELETING") and now < own.due:
            return own.status
        return None

    def describe_extras(self, table: Any) -> dict[str, Any]:
        """Fields DescribeTable adds: the status, and for a replica the version and the other replicas."""
        self.housekeeping()
        extras: dict[str, Any] = {}
        status = self.table_status(table)
        if status != "ACTIVE":
            extras["TableStatus"] = status
        group = self.group_of(table)
        if group is not None:
            extras["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
            # AWS's default for a global table in one account: settings synchronised, some overridable.
            extras["GlobalTableSettingsReplicationMode"] = "ENABLED_WITH_OVERRIDES"
            now = time.monotonic()
            extras["Replicas"] = [
                r.describe(self._listed_status(group, r), group.synced.get("table_class", "STANDARD"))
                for region, r in group.replicas.items()
                if region != table.region_name and r.listed_at <= now
            ]
            if group.strong:  # AWS omits the key for MREC (EVENTUAL)
                extras["MultiRegionConsistency"] = "STRONG"
            if group.witness is not None:
                extras["GlobalTableWitnesses"] = [group.witness.describe()]
        return extras

    def _listed_status(self, group: ReplicaGroup, replica: Replica) -> str:
        status = group.replica_status(replica)
        if status in ("ACTIVE", "UPDATING") and self._replica_inaccessible(group, replica):
            return INACCESSIBLE
        return status

    # ----- table lifecycle and synchronised settings ------------------------------------------

    def table_created(self, table: Any) -> None:
        """A table made by CreateTable: CREATING for the timing's ``create_table_s``."""
        self._backups_available_after(table, self.timing.create_table_s)
        if self.timing.create_table_s > 0:
            due = time.monotonic() + self.timing.create_table_s
            self.transitions[(table.account_id, table.region_name, table.name)] = Transition("CREATING", due)

    def _backups_available_after(self, table: Any, creating_s: float) -> None:
        """Point-in-time recovery of a new table (or replica) is refused until ``pitr_unavailable_s`` after
        it turns ACTIVE (wall clock: the deadline is saved with the table and survives a restart)."""
        if self.timing.pitr_unavailable_s > 0:
            table_settings(table)[BACKUPS_AVAILABLE_AT] = time.time() + creating_s + self.timing.pitr_unavailable_s

    @staticmethod
    def backups_available(table: Any) -> bool:
        return time.time() >= table_settings(table).get(BACKUPS_AVAILABLE_AT, 0.0)

    def protection_changed(self, table: Any) -> None:
        """UpdateTable changed DeletionProtectionEnabled: the table is UPDATING for ``protection_update_s``
        (in its region only: deletion protection is per replica)."""
        if self.timing.protection_update_s > 0:
            due = time.monotonic() + self.timing.protection_update_s
            self.transitions[(table.account_id, table.region_name, table.name)] = Transition("UPDATING", due)

    def changing_protection(self, table: Any) -> bool:
        transition = self.transitions.get((table.account_id, table.region_name, table.name))
        return transition is not None and transition.status == "UPDATING"

    def key_inaccessible_since(self, account_id: str, region: str, key_id: str | None) -> float | None:
        """When (wall clock) a table encrypted with ``key_id`` turned INACCESSIBLE_ENCRYPTION_CREDENTIALS, or
        None while the key is usable or the loss not yet detected. AWS detects the loss per table, minutes
        after DisableKey or ScheduleKeyDeletion, and clears it once the key is usable again; here the
        ``key_inaccessible_s`` delay counts from the first time DynamoDB looked at the unusable key."""
        if not key_id:
            return None
        try:
            key = kms_backends[account_id][region].describe_key(key_id)
        except Exception:  # an AWS managed key named by alias before its first use, or a deleted key
            return None
        if key.key_state not in KEY_UNUSABLE_STATES:
            if getattr(key, KEY_UNUSABLE_SEEN, None) is not None:
                setattr(key, KEY_UNUSABLE_SEEN, None)
            return None
        seen = getattr(key, KEY_UNUSABLE_SEEN, None)
        if seen is None:
            seen = time.time()
            setattr(key, KEY_UNUSABLE_SEEN, seen)
        detected = seen + self.timing.key_inaccessible_s
        return detected if time.time() >= detected else None

    def table_inaccessible_since(self, table: Any) -> float | None:
        spec = table.sse_specification or {}
        key_id = spec.get("KMSMasterKeyId") if spec.get("Enabled") else None
        return self.key_inaccessible_since(table.account_id, table.region_name, key_id)

    def _replica_inaccessible(self, group: ReplicaGroup, replica: Replica) -> bool:
        table = dynamodb_backends[group.account_id][replica.region].tables.get(group.table_name)
        if table is not None:
            return self.table_inaccessible_since(table) is not None
        return self.key_inaccessible_since(group.account_id, replica.region, replica.kms_key_arn) is not None

    def table_deleted(self, backend: Any, table: Any) -> None:
        """moto has just removed ``table`` from ``backend`` (DeleteTable): keep it visible as DELETING
        until the transition ends; a replica leaves its global table, as a replica deletion does."""
        group = self.group_of(table)
        if group is not None:
            backend.tables[table.name] = table
            self.remove_replica(group, table.region_name)
        elif self.timing.delete_table_s > 0:
            backend.tables[table.name] = table
            due = time.monotonic() + self.timing.delete_table_s
            self.transitions[(table.account_id, table.region_name, table.name)] = Transition("DELETING", due)

    def settings_changed(
        self,
        table: Any,
        settings: dict[str, Any],
        created_indexes: list[str] | None = None,
        deleted_indexes: list[Any] | None = None,
    ) -> None:
        """``table`` has just changed (by moto, or by ``apply_settings``): indexes created or deleted go
        through CREATING or DELETING in every replica at once; the other synchronised ``settings``
        reach the other replicas when the timing's ``sync_s`` is over, every replica UPDATING meanwhile."""
        due = time.monotonic() + self.timing.sync_s
        group = self.group_of(table)
        tables = [table]
        if group is not None:
            for region in group.replicas:
                other = dynamodb_backends[table.account_id][region].tables.get(table.name)
                if region != table.region_name and other is not None:
                    tables.append(other)
        for name in created_indexes or []:
            created = find_index(table, name)
            for target in tables:
                index = find_index(target, name)
                if index is None:
                    target.attr = copy.deepcopy(table.attr)
                    index = type(created).create(created.describe(), target.table_key_attrs)
                    index.throughput = copy.deepcopy(created.throughput)
                    target.global_indexes.append(index)
                index.status = "CREATING"
                self._index_changing(target, name, "CREATING", due)
            if group is not None:
                group.synced.setdefault("index_read_capacity", {})[name] = created.throughput.get("ReadCapacityUnits")
        for deleted in deleted_indexes or []:
            for target in tables:
                index = find_index(target, deleted.name)
                if index is None and target is table:
                    index = deleted  # moto removed it at once: AWS shows it DELETING for a while
                    target.global_indexes.append(index)
                if index is not None:
                    index.status = "DELETING"
                    self._index_changing(target, deleted.name, "DELETING", due)
            if group is not None:
                group.synced.get("index_read_capacity", {}).pop(deleted.name, None)
        if group is None or not (settings or created_indexes or deleted_indexes):
            return
        for key in ("read_capacity", "table_class", "max_read_request_units"):
            if key in settings:
                group.synced[key] = settings[key]
        for name, index_settings in settings.get("indexes", {}).items():
            if "read_capacity" in index_settings:
                group.synced.setdefault("index_read_capacity", {})[name] = index_settings["read_capacity"]
        group.syncs.append(Sync(table.region_name, copy.deepcopy(settings), sorted(group.replicas), due))

    def replica_updated(self, table: Any, region: str) -> None:
        """A ReplicaUpdates Update (key or overrides) of the replica in ``region``, made through ``table``:
        that replica is UPDATING (and the global table busy) for the timing's ``sync_s``."""
        group = self.group_of(table)
        if group is not None:
            group.syncs.append(Sync(table.region_name, {}, [region], time.monotonic() + self.timing.sync_s))

    def pending_ttl_change(self, table: Any) -> bool:
        group = self.group_of(table)
        return group is not None and any("ttl" in sync.settings for sync in group.syncs)

    def _index_changing(self, table: Any, name: str, status: str, due: float) -> None:
        self.index_transitions = [
            change
            for change in self.index_transitions
            if (change.account_id, change.region, change.table_name, change.index_name)
            != (table.account_id, table.region_name, table.name, name)
        ]
        self.index_transitions.append(
            IndexTransition(table.account_id, table.region_name, table.name, name, status, due)
        )

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

    def begin_strong_write(self, write: Any) -> None:
        """The calling thread's next writes are one MRSC API write (``strong.StrongWrite``)."""
        self._capture.strong = write

    def end_strong_write(self) -> None:
        self._capture.strong = None

    def _capturing(self, table: Any) -> bool:
        return not self._capture.applying and self._capture.writes is not None and self.group_of(table) is not None

    def snapshot_to_capture(self, table: Any, new: Any) -> Any:
        """The private copy ``captured`` will keep of ``new`` (moto's update_item mutates the stored Item
        in place later), taken before the stream record so the record can share it; None if this change
        is not captured or is a deletion."""
        return copy_item(new) if new is not None and self._capturing(table) else None

    def captured(self, table: Any, old: Any, new: Any, snapshot: Any = None) -> None:
        """Called for every stream record moto adds; keeps the last image per key of this call
        (``snapshot``: the copy ``snapshot_to_capture`` took of ``new``)."""
        if not self._capturing(table):
            return
        record = new if new is not None else old
        key = (record.hash_key, record.range_key)
        if new is not None and snapshot is None:
            snapshot = copy_item(new)
        self._capture.writes[(table.region_name, table.name, key)] = CapturedWrite(table, key, snapshot)

    def _next_timestamp(self) -> int:
        self._last_timestamp = max(time.time_ns(), self._last_timestamp + 1)
        return self._last_timestamp

    def _publish(self, writes: list[CapturedWrite]) -> None:
        now = time.monotonic()
        acknowledged = time.time()
        deliveries: list[Delivery] = []
        for write in writes:
            group = self.group_of(write.table)
            if group is None:
                continue
            source = write.table.region_name
            stamp = self._next_timestamp()
            group.versions.setdefault(source, {})[write.key] = (stamp, source)
            # An MRSC write made through the API waits for its delivery to one other region (the
            # acknowledging ``partner``: due at the end of the caller's one delay draw).
            strong_write = self._capture.strong if group.strong else None
            partner = strong_write.partner(group) if strong_write is not None else None
            for target in group.replicas:
                if target == source:
                    continue
                if target == partner:
                    due = strong_write.acknowledged_by
                else:
                    due = now + self.delay.draw_ms(self.rng) / 1000.0
                delivery = Delivery(
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
                    group.strong,
                )
                deliveries.append(delivery)
                if target == partner:
                    strong_write.acknowledging.append(delivery)
        if deliveries:
            with self._wakeup:
                for delivery in deliveries:
                    heapq.heappush(self._queue, (delivery.due, delivery.sequence, delivery))
                self._wakeup.notify()

    # ----- delivery ------------------------------------------------------------------------

    def _push(self, delivery: Delivery) -> None:
        with self._wakeup:
            heapq.heappush(self._queue, (delivery.due, delivery.sequence, delivery))
            self._wakeup.notify()

    def _queued(self) -> list[Delivery]:
        return [entry[2] for entry in self._queue]

    def _requeue(self, deliveries: list[Delivery]) -> None:
        self._queue = [(d.due, d.sequence, d) for d in deliveries]
        heapq.heapify(self._queue)

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
                "timing": self.timing,
                "rng": self.rng.getstate(),
                "groups": [
                    ReplicaGroup(
                        g.account_id,
                        g.table_name,
                        {
                            region: replace(r, due=max(0.0, r.due - now), listed_at=max(0.0, r.listed_at - now))
                            for region, r in g.replicas.items()
                        },
                        g.versions,
                        [replace(sync, due=max(0.0, sync.due - now)) for sync in g.syncs],
                        g.synced,
                        g.consistency,
                        replace(g.witness, due=max(0.0, g.witness.due - now)) if g.witness is not None else None,
                    )
                    for g in self.groups.values()
                ],
                "transitions": {key: replace(t, due=max(0.0, t.due - now)) for key, t in self.transitions.items()},
                "index_transitions": [replace(c, due=max(0.0, c.due - now)) for c in self.index_transitions],
                "paused_regions": sorted(self.paused_regions),
                "outage_regions": sorted(self.outage_regions),
                "isolated_regions": sorted(self.isolated_regions),
                "queue": [replace(d, due=max(0.0, d.due - now)) for d in self._queued()],
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
            if "timing" in state:
                self.timing = state["timing"]
            else:  # a snapshot from before timings
                self.replica_transition_s = state["replica_transition_s"]
            self.rng.setstate(state["rng"])
            self.groups.clear()
            for group in state["groups"]:
                for replica in group.replicas.values():
                    replica.due = now + replica.due
                    replica.listed_at = now + replica.listed_at
                for sync in group.syncs:
                    sync.due = now + sync.due
                if group.witness is not None:
                    group.witness.due = now + group.witness.due
                self.groups[(group.account_id, group.table_name)] = group
            self.transitions = {key: replace(t, due=now + t.due) for key, t in state.get("transitions", {}).items()}
            self.index_transitions = [replace(c, due=now + c.due) for c in state.get("index_transitions", [])]
            self.paused_regions.clear()
            self.paused_regions.update(state["paused_regions"])
            self.outage_regions.clear()
            self.outage_regions.update(state["outage_regions"])
            self.isolated_regions.clear()
            self.isolated_regions.update(state.get("isolated_regions", []))
            # No AWS request is in flight when a snapshot is taken, so no MRSC write is between its
            # start and its acknowledgement: none conflicts after a restore.
            self.in_flight.clear()
            self._requeue([replace(d, due=now + d.due) for d in state["queue"]])
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
                    timeout = max(0.0, min(timeout, self._queue[0][0] - time.monotonic()))
                if timeout > 0:
                    self._wakeup.wait(timeout)
            # Taken off the queue and applied in one hold of the write lock: an MRSC strongly consistent
            # read (``take_pending``) then never misses a delivery that is neither queued nor applied.
            with WRITE_LOCK:
                with self._wakeup:
                    due: list[Delivery] = []
                    now = time.monotonic()
                    while self._queue and self._queue[0][0] <= now:
                        due.append(heapq.heappop(self._queue)[2])
                self.deliver(due)

    def deliver(self, deliveries: list[Delivery]) -> None:
        """Finish the due transitions (``housekeeping``) and apply ``deliveries`` in one hold of the
        write lock (each acquisition waits for the writers), grouped by receiving table: each group
        resolves its table and version map once. A delivery to or from a paused or failed region is
        held. One ReplicationLatency datum per (source, receiving region) and call."""
        metrics: dict[tuple[str, str, str, str], list[float]] = {}
        with WRITE_LOCK:
            self.housekeeping()
            blocked = self.paused_regions | self.outage_regions | self.isolated_regions
            held: list[Delivery] = []
            by_destination: dict[tuple[str, str, str], list[Delivery]] = {}
            for delivery in deliveries:
                if blocked and (delivery.source in blocked or delivery.target in blocked):
                    held.append(delivery)
                else:
                    key = (delivery.account_id, delivery.target, delivery.table_name)
                    by_destination.setdefault(key, []).append(delivery)
            if held:
                with self._wakeup:
                    self._held.extend(held)
            self._capture.applying = True
            try:
                for key, batch in by_destination.items():
                    destination = self._destination(*key)
                    if destination is None:
                        continue  # the replica (or the whole global table) is gone
                    self._resolved[key] = destination
                    for delivery in batch:
                        latency_ms = self._apply(delivery)
                        if latency_ms is not None and not delivery.strong:
                            metric = (delivery.account_id, delivery.source, delivery.table_name, delivery.target)
                            metrics.setdefault(metric, []).append(latency_ms)
            finally:
                self._capture.applying = False
                self._resolved.clear()
        for (account_id, source, table_name, target), values in metrics.items():
            self._put_latency(account_id, source, table_name, target, values)

    def _destination(self, account_id: str, target: str, table_name: str) -> tuple[Any, dict[Any, Any]] | None:
        """The receiving moto Table and its version map, or None if the replica (or the global table) is gone."""
        group = self.groups.get((account_id, table_name))
        if group is None or target not in group.replicas:
            return None
        table = dynamodb_backends[account_id][target].tables.get(table_name)
        if table is None:
            return None
        return table, group.versions.setdefault(target, {})

    def _apply(self, delivery: Delivery) -> float | None:
        """Apply one delivery inside ``deliver`` (write lock held, capture off); its latency in ms, or
        None if its replica is gone. One call per replicated write: ``capacity`` charges it here."""
        key = (delivery.account_id, delivery.target, delivery.table_name)
        destination = self._resolved.get(key) or self._destination(*key)
        if destination is None:
            return None
        table, versions = destination
        incoming = (delivery.timestamp, delivery.source)
        current = versions.get(delivery.key)
        if current is None or incoming > current:
            versions[delivery.key] = incoming
            if delivery.image is None:
                table.delete_item(*delivery.key)
            else:
                # Deliveries of one write to several replicas share its image: each stores its own copy,
                # and its stream record shares the image (nobody changes it) until the record is read.
                self._store(table, copy_item(delivery.image), delivery.image)
        self.delivered += 1
        # The replica now holds this write or a newer one: the write is visible there.
        return max(0.0, (time.time() - delivery.acknowledged_at) * 1000.0)

    @staticmethod
    def _store(table: Any, item: Any, snapshot: Any = None) -> None:
        """Store an already validated item as moto's put_item does after its checks (stream included);
        ``snapshot``: an unchanging copy of ``item`` its stream record may share."""
        current = table.get_item(item.hash_key, item.range_key)
        if item.range_key is not None:
            table.items[item.hash_key][item.range_key] = item
        else:
            table.items[item.hash_key] = item
        if table.stream_shard is not None:
            if snapshot is None:
                table.stream_shard.add(current, item)
            else:
                with snapshot_images(item, snapshot):
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

    def set_isolated(self, region: str, isolated: bool) -> None:
        """The region's APIs answer, but it reaches no other region: replicated writes to and from it are
        held (MREC, as when paused); an MRSC table there has no quorum (``strong``)."""
        (self.isolated_regions.add if isolated else self.isolated_regions.discard)(region)
        self._release_held()

    def unreachable(self) -> set[str]:
        """Regions the others cannot reach now: in outage, isolated, or with replication paused."""
        return self.paused_regions | self.outage_regions | self.isolated_regions

    def take_pending(self, account_id: str, table_name: str, target: str) -> list[Delivery]:
        """Remove and return the replicated writes (queued or held) still to reach ``target``'s table
        (call with the write lock held; ``apply_now`` applies them)."""
        with self._wakeup:
            mine = [
                d
                for d in [*self._queued(), *self._held]
                if d.target == target and d.table_name == table_name and d.account_id == account_id
            ]
            if mine:
                taken = {id(d) for d in mine}
                self._requeue([d for d in self._queued() if id(d) not in taken])
                self._held = [d for d in self._held if id(d) not in taken]
        return mine

    def take(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Remove ``deliveries`` from the queue or the held ones; return those that were still there
        (the others are applied already). Call with the write lock held."""
        with self._wakeup:
            wanted = {id(d) for d in deliveries}
            found = [d for d in [*self._queued(), *self._held] if id(d) in wanted]
            if found:
                self._requeue([d for d in self._queued() if id(d) not in wanted])
                self._held = [d for d in self._held if id(d) not in wanted]
        return found

    def apply_now(self, deliveries: list[Delivery]) -> None:
        """Apply replicated writes at once, whatever their due time or the faults (write lock held,
        capture off, as ``deliver`` applies them)."""
        previous, self._capture.applying = self._capture.applying, True
        try:
            for delivery in deliveries:
                self._apply(delivery)
        finally:
            self._capture.applying = previous

    def _release_held(self) -> None:
        with self._wakeup:
            held, self._held = self._held, []
            for delivery in held:
                # Requeued as due now; still-blocked links are held again on the next pass.
                delivery.due = time.monotonic()
                heapq.heappush(self._queue, (delivery.due, delivery.sequence, delivery))
            self._wakeup.notify()

    def status(self) -> dict[str, Any]:
        return {
            "delay": self.delay.describe(),
            "replica_transition_s": self.replica_transition_s,
            "timing": self.timing.describe(),
            "backlog": self.backlog(),
            "delivered": self.delivered,
            "paused_regions": sorted(self.paused_regions),
            "outage_regions": sorted(self.outage_regions),
            "isolated_regions": sorted(self.isolated_regions),
            "global_tables": [
                {
                    "account": g.account_id,
                    "table": g.table_name,
                    "replicas": {r.region: r.status for r in g.replicas.values()},
                    "consistency": g.consistency,
                    **({"witness": {g.witness.region: g.witness.status}} if g.witness is not None else {}),
                }
                for g in self.groups.values()
            ],
        }
