"""A load harness for the global table: closed-loop or open-loop, per region, into HDR histograms.

- **Closed loop**: ``workers`` threads each send the next operation when the previous one returns.
- **Open loop**: operations are due at a constant ``rate_per_s``; each latency is measured from the
  operation's *intended* send time, so a stalled server shows up as latency instead of silently
  lowering the load (no coordinated omission). ``workers`` bounds the operations in flight.

Both mix reads (``GetItem``) and writes (``PutItem``) at ``read_ratio``, pick keys uniformly or from a
zipfian distribution, stop after ``duration_s`` or ``operations``, and drop the first ``warmup_s``
(connection set-up, caches) from the figures. Every run is also bounded by the wall clock: workers
issue nothing after warm-up + duration, even when an open-loop schedule is behind (a rate the machine
cannot reach); the operations that were due but not sent are reported (``not_sent``), and calls still
unanswered ``IN_FLIGHT_GRACE_S`` after the end are counted as errors and left behind. Latencies go into HDR histograms (microseconds, 3
significant digits): memory stays flat whatever the number of operations; per-worker histograms are
merged at the end. The recipe timed sequential calls including the first connection (defect 18 in docs/recipe-defects.md).

**Throttles** (a provisioned table used beyond its capacity) are not errors: the harness calls
DynamoDB through a client with boto3's retries off, so that it sees every
``ProvisionedThroughputExceededException`` itself, counts it (``throttles``, per operation) and retries
the same operation after a capped exponential backoff with full jitter (``Backoff``). The operation's
latency runs from its intended send to the answer that succeeded, backoff included: what a caller of a
throttled table waits. An operation still throttled when the run ends is dropped; its throttles are
counted. (boto3's standard mode would retry throttles too, up to 5 attempts, but invisibly: the figures
would show slow calls, not why.) A closed loop against a provisioned table is paced by
``rate_cap_per_s``, which ``spec_from_params`` derives from the capacity (``capacity_rate_cap``), so that
it measures the table rather than its throttling.

**The table's mode** (``consistency``). On an eventually consistent (MREC) table the reads are eventually
consistent ``GetItem`` calls, as they always were. On a strongly consistent (MRSC) table the reads are
``GetItem`` with ``ConsistentRead=True``: the latest acknowledged write in any region, the guarantee such a
table is chosen for, paid with a round trip to another region (as every write is). A share of the reads
(``EVENTUAL_READ_SHARE``) stays eventually consistent, a second series (``eventual read``) that shows what
a reader who can accept a stale item pays. A write that races a write from another region on the same
item is refused with ``ReplicatedWriteConflictException``: counted (``conflicts``) and sent again after
the same backoff as a throttle, its latency running to the answer that succeeded.
"""

from __future__ import annotations

import csv
import json
import math
import time  # noqa: F401  (the engine's clock and sleep: callers patch them as perf.time)
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from globaltables.clients import AwsClients
from globaltables.loadgen import (  # noqa: F401  (the engine's names, re-exported for callers of perf)
    DIGITS,
    EVENTUAL_READ,
    EVENTUAL_READ_SHARE,
    HIGHEST_US,
    IN_FLIGHT_GRACE_S,
    LOWEST_US,
    OPERATIONS,
    KeyChooser,
    Pacer,
    Plan,
    Recorder,
    Sent,
    Tally,
    _offset,
    _send,
    new_histogram,
)
from globaltables.loadgen import run as run_plan
from globaltables.parallel import run_together
from globaltables.params import MAX_DURATION_S, MAX_RATE_PER_S, MAX_WARMUP_S
from globaltables.throttling import unretried_client

PERCENTILES = (50.0, 95.0, 99.0, 99.9)
# HdrHistogram's percentile iteration steps closer to 100 % by halves, this many steps per halving (its
# plotter's default): the tail (p99.9, p99.99) is drawn as finely as the median, and the last step is the
# maximum, at 100 %.
TICKS_PER_HALF_DISTANCE = 5
MODE_LABELS = {"eventual": "eventual (MREC)", "strong": "strong (MRSC)"}
ENGINE_LABELS = {"local": "this machine", "lambda": "AWS Lambda in every region"}
MAX_OPERATIONS = 1_000_000_000
MAX_KEY_SPACE = 10_000_000
# The share of the provisioned capacity a paced closed loop aims at: auto scaling's 70 % target tracks
# utilisation, and the rest is headroom for the replication and for the loop's own unevenness.
CAPACITY_SHARE = 0.8
READ_UNIT_BYTES, WRITE_UNIT_BYTES = 4096, 1024
ITEM_OVERHEAD_BYTES = 60  # the load's keys and attribute names around its payload


def capacity_rate_cap(
    read_capacity: float,
    write_capacity: float,
    read_ratio: float,
    regions: int,
    item_bytes: int,
    strong_read_share: float = 0.0,
) -> float:
    """Operations per second per region that a provisioned replica sustains (``CAPACITY_SHARE`` of it):
    reads are GetItems, eventually consistent (half a unit per 4 KB) except ``strong_read_share`` of them
    (a whole unit); every region's table also takes the other regions' writes, replicated (the same load
    runs in every region at once)."""
    size = item_bytes + ITEM_OVERHEAD_BYTES
    read_units = (0.5 + 0.5 * strong_read_share) * max(1, math.ceil(size / READ_UNIT_BYTES))
    write_units = max(1, math.ceil(size / WRITE_UNIT_BYTES)) * regions
    limits = []
    if read_ratio > 0:
        limits.append(read_capacity / (read_ratio * read_units))
    if read_ratio < 1:
        limits.append(write_capacity / ((1 - read_ratio) * write_units))
    return min(MAX_RATE_PER_S, round(CAPACITY_SHARE * min(limits), 2))


class LoadSpec(BaseModel):
    """What load to apply in each region (finite, bounded numbers only: it is also built by hand)."""

    model_config = ConfigDict(allow_inf_nan=False)

    mode: Literal["closed", "open"] = "closed"
    workers: int = Field(8, ge=1, le=256)
    rate_per_s: float = Field(100.0, gt=0, le=MAX_RATE_PER_S, description="open loop: operations per second per region")
    read_ratio: float = Field(0.8, ge=0, le=1)
    key_distribution: Literal["uniform", "zipfian"] = "uniform"
    zipf_s: float = Field(0.99, gt=0, le=10)
    key_space: int = Field(1000, ge=1, le=MAX_KEY_SPACE)
    duration_s: float | None = Field(10.0, gt=0, le=MAX_DURATION_S)
    operations: int | None = Field(None, ge=1, le=MAX_OPERATIONS)
    rate_cap_per_s: float | None = Field(
        None, gt=0, le=MAX_RATE_PER_S, description="closed loop: at most this many operations per second per region"
    )
    warmup_s: float = Field(1.0, ge=0, le=MAX_WARMUP_S)
    item_bytes: int = Field(100, ge=0, le=350_000)
    seed: int = 7
    consistency: Literal["eventual", "strong"] = Field(
        "eventual",
        description="the table's mode: strong reads with ConsistentRead=True (and some eventual reads beside)",
    )

    @model_validator(mode="after")
    def _has_a_limit(self) -> LoadSpec:
        if self.duration_s is None and self.operations is None:
            raise ValueError("give duration_s or operations (or both): a load test must stop by itself")
        return self

    def planned_s(self) -> float:
        """Seconds from the start to the wall-clock end of a region's run (warm-up included): warm-up +
        duration; an open loop limited by ``operations`` ends with its schedule; never more than warm-up
        + ``MAX_DURATION_S``."""
        planned = self.warmup_s + MAX_DURATION_S
        if self.duration_s is not None:
            planned = min(planned, self.warmup_s + self.duration_s)
        if self.mode == "open" and self.operations is not None:
            planned = min(planned, _offset(self.operations, self.rate_per_s))
        return planned

    def operation_names(self) -> tuple[str, ...]:
        """The operations measured: reads and writes, and on a strong table the eventual reads beside."""
        return OPERATIONS if self.consistency == "eventual" else (*OPERATIONS, EVENTUAL_READ)

    def plan(self) -> Plan:
        """The engine's plain copy of this load (``loadgen.Plan``), with its wall-clock end computed here."""
        values = self.model_dump()
        return Plan(**values, planned_s=self.planned_s(), operation_names=self.operation_names())


class OperationStats(BaseModel):
    operation: str
    count: int
    errors: int
    throttles: int = 0  # calls answered "throughput exceeded", backed off and sent again
    conflicts: int = 0  # strong table: writes answered ReplicatedWriteConflictException, backed off, sent again
    throughput_per_s: float
    mean_ms: float
    max_ms: float
    percentiles_ms: dict[str, float]


class RegionResult(BaseModel):
    region: str
    spec: LoadSpec
    measured_s: float
    operations: list[OperationStats]
    # Operations that were due (open loop: scheduled after warm-up; closed loop without a duration: of
    # the ``operations`` limit) but not sent before the wall-clock end: the machine could not keep up.
    not_sent: int = 0
    per_second: dict[str, list[int]]
    # operation -> (percentile, ms) at every step of HdrHistogram's percentile iteration (``distribution``);
    # runs recorded before it hold 12 fixed percentiles, in the same form.
    cdf: dict[str, list[tuple[float, float]]]
    # Where the load ran: "local" (this machine, one harness per region) or "lambda" (``invocations``
    # harnesses per region, each applying ``spec``, inside AWS Lambda; see ``fanout``).
    engine: Literal["local", "lambda"] = "local"
    invocations: int = 1

    def stats(self, operation: str) -> OperationStats:
        return next(o for o in self.operations if o.operation == operation)

    @property
    def consistency(self) -> str:
        return self.spec.consistency


def distribution(histogram: Any, ticks_per_half_distance: int = TICKS_PER_HALF_DISTANCE) -> list[tuple[float, float]]:
    """The whole latency distribution of an HDR histogram (microseconds) as (percentile, ms) pairs, in
    HdrHistogram's percentile iteration (as its ``output_percentile_distribution`` prints it): from the
    minimum at 0 % to the maximum at 100 %. Empty for an empty histogram."""
    if not histogram.get_total_count():
        return []
    return [
        (float(step.percentile_level_iterated_to), round(step.value_iterated_to / 1000, 3))
        for step in histogram.get_percentile_iterator(ticks_per_half_distance)
    ]


def _summarise(
    region: str, spec: LoadSpec, recorders: list[Recorder], measured_s: float, not_sent: int = 0
) -> RegionResult:
    return result_of(region, spec, Tally.of(recorders, spec.operation_names(), measured_s, not_sent))


def result_of(region: str, spec: LoadSpec, tally: Tally, engine: str = "local", invocations: int = 1) -> RegionResult:
    """A region's figures from what its harness (or its merged harnesses) measured."""
    operations, cdf, per_second = [], {}, {}
    measured_s = tally.measured_s
    for op in spec.operation_names():
        merged = tally.histograms.get(op) or new_histogram()
        count = merged.get_total_count()
        operations.append(
            OperationStats(
                operation=op,
                count=count,
                errors=tally.errors.get(op, 0),
                throttles=tally.throttles.get(op, 0),
                conflicts=tally.conflicts.get(op, 0),
                throughput_per_s=round(count / measured_s, 2) if measured_s else 0.0,
                mean_ms=round(merged.get_mean_value() / 1000, 3) if count else 0.0,
                max_ms=round(merged.get_max_value() / 1000, 3) if count else 0.0,
                percentiles_ms={
                    f"p{p:g}": round(merged.get_value_at_percentile(p) / 1000, 3) if count else 0.0 for p in PERCENTILES
                },
            )
        )
        cdf[op] = distribution(merged)
        per_second[op] = list(tally.per_second.get(op, []))
    return RegionResult(
        region=region,
        spec=spec,
        measured_s=round(measured_s, 3),
        operations=operations,
        not_sent=tally.not_sent,
        per_second=per_second,
        cdf=cdf,
        engine=engine,
        invocations=invocations,
    )


def run_region(client: Any, region: str, table_name: str, spec: LoadSpec) -> RegionResult:
    """Apply ``spec`` against one region's replica through ``client``; returns merged figures.

    Ends at ``spec.planned_s()`` by the wall clock (plus ``IN_FLIGHT_GRACE_S`` for calls already sent),
    whatever the mode and however far behind an open-loop schedule is (``loadgen.run``)."""
    return result_of(region, spec, run_plan(client, table_name, spec.plan()))


def run_load(clients: AwsClients, regions: list[str], table_name: str, spec: LoadSpec) -> list[RegionResult]:
    """The same load in every region at once (one thread group per region), through clients that leave
    throttles to the harness (``unretried_client``)."""
    results: dict[str, RegionResult] = {}

    def one(region: str) -> None:
        results[region] = run_region(unretried_client(clients, region), region, table_name, spec)

    run_together([(one, (region,)) for region in regions])
    return [results[region] for region in regions]


def prefill(clients: AwsClients, region: str, table_name: str, spec: LoadSpec) -> int:
    """Write every key of the key space once, so reads find items."""
    from globaltables.seeding import write_items

    items = [
        {"PK": f"PERF#{k:08d}", "SK": "ITEM", "payload": "x" * spec.item_bytes, "entity": "perf"}
        for k in range(spec.key_space)
    ]
    return write_items(clients, region, table_name, items, show_progress=False).raise_for_failures().written


def summary_rows(results: list[RegionResult]) -> list[dict[str, Any]]:
    """One row per region and operation, the table's mode first (``eventual (MREC)`` or ``strong
    (MRSC)``), with a ``conflicts`` column on a strong table; a region that could not send its whole load
    gets one more row, operation ``not sent``, counting the operations that were due but never sent."""
    rows = []
    for result in results:
        for stats in result.operations:
            conflicts = {"conflicts": stats.conflicts} if result.consistency == "strong" else {}
            rows.append(
                {
                    "table": MODE_LABELS[result.consistency],
                    "region": result.region,
                    "operation": stats.operation,
                    "count": stats.count,
                    "errors": stats.errors,
                    "throttles": stats.throttles,
                    **conflicts,
                    "ops/s": stats.throughput_per_s,
                    **stats.percentiles_ms,
                    "max": stats.max_ms,
                }
            )
        if result.not_sent:
            blank = dict.fromkeys(rows[-1]) if rows else {}
            rows.append(
                {
                    **blank,
                    "table": MODE_LABELS[result.consistency],
                    "region": result.region,
                    "operation": "not sent",
                    "count": result.not_sent,
                }
            )
    return rows


def save_results(results: list[RegionResult], folder: Path, name: str = "performance") -> tuple[Path, Path]:
    """``<name>.json`` (everything, CDFs and time series included) and ``<name>.csv`` (the summary)."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / f"{name}.json", folder / f"{name}.csv"
    json_path.write_text(json.dumps([r.model_dump() for r in results], indent=2))
    rows = summary_rows(results)
    with csv_path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]) if rows else ["region"])
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def spec_from_params(params: Any) -> LoadSpec:
    """The load that the run's ``load_*`` parameters describe, for the table's mode (``consistency``);
    against a provisioned table a closed loop is paced to what the table's capacity sustains
    (``capacity_rate_cap``), at the auto scaling minimum."""
    consistency = params.consistency
    spec = LoadSpec(
        consistency=consistency,
        mode=params.load_mode,
        workers=params.load_workers,
        rate_per_s=params.load_rate_per_s,
        read_ratio=params.load_read_ratio,
        key_distribution=params.load_key_distribution,
        key_space=params.load_key_space,
        duration_s=params.load_duration_s,
        warmup_s=params.load_warmup_s,
    )
    if params.billing_mode == "PROVISIONED" and spec.mode == "closed":
        strong_share = 1 - EVENTUAL_READ_SHARE if consistency == "strong" else 0.0
        cap = capacity_rate_cap(
            params.read_capacity,
            params.write_capacity,
            spec.read_ratio,
            len(params.regions),
            spec.item_bytes,
            strong_share,
        )
        spec = spec.model_copy(update={"rate_cap_per_s": cap})
    return spec
