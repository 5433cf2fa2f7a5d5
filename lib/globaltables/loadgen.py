"""The load harness's engine: workers, the open or closed loop, backoff, and a ``Tally`` of HDR histograms.

It runs in two places: in the notebook's process (``perf.run_region``) and inside the load harness's
Lambda function (``functions/load_harness.py``, 07 with ``load_engine: lambda``), whose zip carries this
module. So it imports the standard library, ``hdrh`` (shipped in the zip, see ``fanout.package``) and
``globaltables.errors`` and ``globaltables.waiting`` only: no pydantic, no client factory. What to run arrives as a ``Plan`` (plain
numbers, validated beforehand by ``perf.LoadSpec``); what was measured leaves as a ``Tally``, whose
histograms travel in HdrHistogram's compressed form (``HdrHistogram.encode``: zlib + base64) and merge
exactly (``add``), so N invocations' figures sum to what one harness with all their samples would show.

The semantics of the loops (intended send times, warm-up, the wall-clock end, ``not_sent``, throttles
and write conflicts backed off) are described in ``perf``'s module docstring.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hdrh.histogram import HdrHistogram

from globaltables.errors import aws_error_code

LOWEST_US, HIGHEST_US, DIGITS = 1, 60_000_000, 3
OPERATIONS = ("read", "write")
EVENTUAL_READ = "eventual read"  # strong table: the reads that stay eventually consistent
# On a strong table, the share of reads sent eventually consistent, as a second series beside the strong
# reads: enough calls for stable percentiles, few enough that the strong reads remain the measure.
EVENTUAL_READ_SHARE = 0.25
IN_FLIGHT_GRACE_S = 2.0  # how long the end of a run waits for calls sent before its deadline
HORIZON_WITHOUT_DURATION_S = 3600  # per-second counts kept for a run limited by ``operations`` only
# AWS's answers to a request beyond capacity or request rate: back off and send again.
THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# An MRSC table's answer to a write racing a write from another region on the same item: retry later.
WRITE_CONFLICT_CODES = frozenset({"ReplicatedWriteConflictException"})


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


@dataclass(frozen=True)
class Plan:
    """One harness's load, as plain values (``perf.LoadSpec.plan()`` makes it; JSON both ways)."""

    mode: Literal["closed", "open"]
    workers: int
    rate_per_s: float
    read_ratio: float
    key_distribution: Literal["uniform", "zipfian"]
    zipf_s: float
    key_space: int
    duration_s: float | None
    operations: int | None
    rate_cap_per_s: float | None
    warmup_s: float
    item_bytes: int
    seed: int
    consistency: Literal["eventual", "strong"]
    planned_s: float  # seconds from the start to the wall-clock end, warm-up included
    operation_names: tuple[str, ...] = OPERATIONS

    def __post_init__(self) -> None:
        object.__setattr__(self, "operation_names", tuple(self.operation_names))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown plan fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


def _offset(index: int, rate_per_s: float) -> float:
    """When the open loop's operation ``index`` is due, in seconds from the start (one formula for the
    workers and for the count of due operations, so that they agree to the operation)."""
    return index / rate_per_s


def _first_due_at_or_after(seconds: float, rate_per_s: float) -> int:
    """The smallest index whose operation is due at or after ``seconds``."""
    index = max(0, math.ceil(seconds * rate_per_s))
    while index > 0 and _offset(index - 1, rate_per_s) >= seconds:
        index -= 1
    while _offset(index, rate_per_s) < seconds:
        index += 1
    return index


def due_after_warmup(plan: Any, planned_s: float) -> int:
    """How many operations an open loop schedules from the end of warm-up to ``planned_s``."""
    limit = plan.operations if plan.operations is not None else math.inf
    first = min(_first_due_at_or_after(plan.warmup_s, plan.rate_per_s), limit)
    end = min(_first_due_at_or_after(planned_s, plan.rate_per_s), limit)
    return int(max(0, end - first))


class KeyChooser:
    """Uniform or zipfian (rank k has weight 1/k^s) choice of key numbers in [0, key_space)."""

    def __init__(self, spec: Any, rng: random.Random):
        self.rng = rng
        self.size = spec.key_space
        self.cumulative: list[float] | None = None
        if spec.key_distribution == "zipfian":
            weights = [1.0 / (rank**spec.zipf_s) for rank in range(1, spec.key_space + 1)]
            self.cumulative = list(itertools.accumulate(weights))

    def __call__(self) -> int:
        if self.cumulative is None:
            return self.rng.randrange(self.size)
        point = self.rng.random() * self.cumulative[-1]
        return min(bisect.bisect_left(self.cumulative, point), self.size - 1)


class Recorder:
    """One worker's histograms and per-second counts; merged into a Tally at the end.

    ``issued`` counts the operations actually sent, ``sent`` those of them after warm-up; ``closed``
    (under ``lock``) tells a worker whose call outlived the run that its figures are already summed."""

    def __init__(self, seconds: int, operations: tuple[str, ...] = OPERATIONS):
        self.histograms = {op: new_histogram() for op in operations}
        self.per_second = {op: [0] * seconds for op in operations}
        self.errors = {op: 0 for op in operations}
        self.throttles = {op: 0 for op in operations}
        self.conflicts = {op: 0 for op in operations}
        self.issued = 0
        self.sent = 0
        self.lock = threading.Lock()
        self.closed = False
        self.in_flight: str | None = None  # the measured operation awaiting its answer, if any

    def record(self, operation: str, latency_s: float, second: int) -> None:
        self.histograms[operation].record_value(max(LOWEST_US, min(HIGHEST_US, int(latency_s * 1e6))))
        if 0 <= second < len(self.per_second[operation]):
            self.per_second[operation][second] += 1


@dataclass
class Tally:
    """What one or more harnesses measured, per operation: latencies (HDR histograms), errors, throttles,
    write conflicts, completions per second from the end of warm-up; operations due but not sent; the
    measured seconds. Tallies merge (``add``) and travel as JSON (``to_json``, ``from_json``)."""

    histograms: dict[str, HdrHistogram]
    errors: dict[str, int]
    throttles: dict[str, int]
    conflicts: dict[str, int]
    per_second: dict[str, list[int]]
    not_sent: int = 0
    measured_s: float = 0.0
    harnesses: int = 1  # how many harness runs were merged into this one
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, recorders: list[Recorder], operations: tuple[str, ...], measured_s: float, not_sent: int = 0) -> Tally:
        histograms = {}
        for op in operations:
            merged = new_histogram()
            for recorder in recorders:
                merged.add(recorder.histograms[op])
            histograms[op] = merged
        seconds = len(recorders[0].per_second[operations[0]]) if recorders else 0
        return cls(
            histograms=histograms,
            errors={op: sum(r.errors[op] for r in recorders) for op in operations},
            throttles={op: sum(r.throttles[op] for r in recorders) for op in operations},
            conflicts={op: sum(r.conflicts[op] for r in recorders) for op in operations},
            per_second={op: [sum(r.per_second[op][i] for r in recorders) for i in range(seconds)] for op in operations},
            not_sent=not_sent,
            measured_s=measured_s,
        )

    def copy(self) -> Tally:
        fresh = Tally(histograms={}, errors={}, throttles={}, conflicts={}, per_second={}, harnesses=0)
        fresh.add(self)
        return fresh

    def add(self, other: Tally) -> None:
        """Merge ``other`` (a harness that ran at the same time): counts add up, histograms merge, the
        per-second series add up second by second from each one's own end of warm-up, and the measured
        time is the longer of the two (they overlap)."""
        for op, histogram in other.histograms.items():
            self.histograms.setdefault(op, new_histogram()).add(histogram)
            for counts in (self.errors, self.throttles, self.conflicts):
                counts.setdefault(op, 0)
            self.errors[op] += other.errors.get(op, 0)
            self.throttles[op] += other.throttles.get(op, 0)
            self.conflicts[op] += other.conflicts.get(op, 0)
            mine, theirs = self.per_second.setdefault(op, []), other.per_second.get(op, [])
            mine.extend([0] * (len(theirs) - len(mine)))
            for i, count in enumerate(theirs):
                mine[i] += count
        self.not_sent += other.not_sent
        self.measured_s = max(self.measured_s, other.measured_s)
        self.harnesses += other.harnesses
        self.notes.extend(other.notes)

    def to_json(self) -> dict[str, Any]:
        return {
            "histograms": {op: h.encode().decode("ascii") for op, h in self.histograms.items()},
            "errors": self.errors,
            "throttles": self.throttles,
            "conflicts": self.conflicts,
            "per_second": self.per_second,
            "not_sent": self.not_sent,
            "measured_s": self.measured_s,
            "harnesses": self.harnesses,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        histograms = {}
        for op, encoded in data["histograms"].items():
            histogram = new_histogram()
            histogram.decode_and_add(encoded)
            histograms[op] = histogram
        return cls(
            histograms=histograms,
            errors=dict(data["errors"]),
            throttles=dict(data["throttles"]),
            conflicts=dict(data["conflicts"]),
            per_second={op: list(counts) for op, counts in data["per_second"].items()},
            not_sent=int(data["not_sent"]),
            measured_s=float(data["measured_s"]),
            harnesses=int(data.get("harnesses", 1)),
            notes=list(data.get("notes", [])),
        )


class Backoff:
    """Capped exponential backoff with full jitter: the n-th pause is uniform in [0, min(cap, first * 2^n)]
    (AWS's recommendation for throttles, *Error retries and exponential backoff in AWS*). The runbook's one
    backoff: ``globaltables.throttling`` re-exports it for 07's and 08's clients."""

    def __init__(self, first_s: float = 0.05, cap_s: float = 2.0, rng: random.Random | None = None):
        self.first_s, self.cap_s = first_s, cap_s
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_pause(self) -> float:
        ceiling = min(self.cap_s, self.first_s * 2**self.attempt)
        self.attempt += 1
        return self.rng.uniform(0, ceiling)


def _operation_factory(
    client: Any, table_name: str, spec: Any, rng: random.Random
) -> Callable[[], tuple[str, Callable[[], Any]]]:
    """Draws the next operation: its kind ("read", "write", or on a strong table "eventual read") and the
    call that performs it. A strong table's reads are strongly consistent, but for ``EVENTUAL_READ_SHARE``."""
    choose_key = KeyChooser(spec, rng)
    payload = {"S": "x" * spec.item_bytes}
    strong = spec.consistency == "strong"

    def next_operation() -> tuple[str, Callable[[], Any]]:
        key = {"PK": {"S": f"PERF#{choose_key():08d}"}, "SK": {"S": "ITEM"}}
        if rng.random() < spec.read_ratio:
            if strong and rng.random() >= EVENTUAL_READ_SHARE:
                return "read", lambda: client.get_item(TableName=table_name, Key=key, ConsistentRead=True)
            return EVENTUAL_READ if strong else "read", lambda: client.get_item(TableName=table_name, Key=key)
        item = {**key, "payload": payload, "entity": {"S": "perf"}}
        return "write", lambda: client.put_item(TableName=table_name, Item=item)

    return next_operation


class Pacer:
    """Spaces a region's sends ``1 / rate_per_s`` apart, whichever worker sends next."""

    def __init__(self, rate_per_s: float, start: float):
        self.interval = 1.0 / rate_per_s
        self.next = start
        self.lock = threading.Lock()

    def next_slot(self) -> float:
        with self.lock:
            slot = max(time.perf_counter(), self.next)
            self.next = slot + self.interval
            return slot


@dataclass
class Sent:
    """How one operation ended: ``done``, ``failed`` (an error other than a throttle or a write
    conflict), or still ``throttled`` (or conflicting) at the deadline; and how often it was sent again."""

    outcome: Literal["done", "failed", "throttled"]
    throttles: int = 0
    conflicts: int = 0


def _send(call: Callable[[], Any], deadline: float) -> Sent:
    """``call()`` until it is neither throttled nor refused for a write conflict, backing off between
    attempts (one backoff for both: each says "not now"), but not past ``deadline``. An error of another
    kind is counted, not raised (one failed call must not end the test)."""
    backoff = Backoff()
    sent = Sent("done")
    while True:
        try:
            call()
            return sent
        except Exception as error:
            code = aws_error_code(error)
            if code in THROTTLE_CODES:
                sent.throttles += 1
            elif code in WRITE_CONFLICT_CODES:
                sent.conflicts += 1
            else:
                sent.outcome = "failed"
                return sent
            pause = backoff.next_pause()
            if time.perf_counter() + pause >= deadline:
                sent.outcome = "throttled"
                return sent
            time.sleep(pause)


@dataclass(frozen=True)
class _Slot:
    """When an operation is meant to be sent (``intended``, on ``time.perf_counter()``'s clock), and
    whether it counts (sent after the warm-up)."""

    intended: float
    measured: bool


class _LoadRun:
    """One run of the harness: the plan, its clock (start, end of warm-up, deadline), and one recorder
    per worker; ``worker`` is each thread's loop, ``tally`` what they measured once they stopped."""

    def __init__(self, client: Any, table_name: str, plan: Any):
        self.client, self.table_name, self.plan = client, table_name, plan
        self.operations = tuple(plan.operation_names)
        horizon = int(plan.warmup_s + (plan.duration_s or HORIZON_WITHOUT_DURATION_S)) + 2
        self.recorders = [Recorder(horizon, self.operations) for _ in range(plan.workers)]
        self.counter = itertools.count()
        self.stop = threading.Event()
        self.planned_s = plan.planned_s
        self.started = time.perf_counter()
        self.measure_from = self.started + plan.warmup_s
        self.deadline = self.started + self.planned_s
        paced = plan.mode == "closed" and plan.rate_cap_per_s
        self.pacer = Pacer(plan.rate_cap_per_s, self.started) if paced else None

    def open_slot(self, index: int) -> _Slot | None:
        """The ``index``-th send of the open loop's schedule, once due; None when the schedule ends, or
        when the run is still behind it at the deadline (the rest is counted as not sent)."""
        offset = _offset(index, self.plan.rate_per_s)
        if offset >= self.planned_s:
            return None
        intended = self.started + offset
        wait = intended - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # due before the deadline: an on-time operation is sent
        elif time.perf_counter() >= self.deadline:
            return None
        return _Slot(intended, offset >= self.plan.warmup_s)

    def closed_slot(self) -> _Slot | None:
        """The closed loop's next send: now, or at the pacer's next slot; None at the deadline."""
        if self.pacer is not None:
            slot = self.pacer.next_slot()
            if slot >= self.deadline:
                return None
            time.sleep(max(0.0, slot - time.perf_counter()))
        intended = time.perf_counter()
        if intended >= self.deadline:
            return None
        return _Slot(intended, intended - self.started >= self.plan.warmup_s)

    def worker(self, number: int) -> None:
        rng = random.Random(self.plan.seed * 1000 + number)
        next_operation = _operation_factory(self.client, self.table_name, self.plan, rng)
        recorder = self.recorders[number]
        while not self.stop.is_set():
            index = next(self.counter)
            if self.plan.operations is not None and index >= self.plan.operations:
                return
            slot = self.open_slot(index) if self.plan.mode == "open" else self.closed_slot()
            if slot is None:
                self.stop.set()
                return
            operation, call = next_operation()
            with recorder.lock:
                recorder.issued += 1
                if slot.measured:
                    recorder.sent += 1
                    recorder.in_flight = operation
            sent = _send(call, self.deadline)
            done = time.perf_counter()
            if slot.measured and not self.record(recorder, operation, sent, done - slot.intended, done):
                return

    def record(self, recorder: Recorder, operation: str, sent: Sent, latency_s: float, done: float) -> bool:
        """Count a measured operation's outcome; False when it was answered after the run ended (already
        counted as an error)."""
        with recorder.lock:
            if recorder.closed:
                return False
            recorder.in_flight = None
            recorder.throttles[operation] += sent.throttles
            recorder.conflicts[operation] += sent.conflicts
            if sent.outcome == "failed":
                recorder.errors[operation] += 1
            elif sent.outcome == "done":
                recorder.record(operation, latency_s, int(done - self.measure_from))
        return True

    def tally(self) -> Tally:
        """What was measured, once the workers stopped (or were left behind with a call unanswered)."""
        plan, recorders = self.plan, self.recorders
        for recorder in recorders:  # a call still unanswered now is an error; its thread is left behind
            with recorder.lock:
                recorder.closed = True
                if recorder.in_flight is not None:
                    recorder.errors[recorder.in_flight] += 1
        if plan.mode == "open":  # scheduled after warm-up, not sent
            not_sent = due_after_warmup(plan, self.planned_s) - sum(recorder.sent for recorder in recorders)
        elif plan.duration_s is None and plan.operations is not None:  # asked for, not sent before the cap
            not_sent = plan.operations - sum(recorder.issued for recorder in recorders)
        else:  # a closed loop with a duration promises no count
            not_sent = 0
        measured_s = max(0.0, min(time.perf_counter(), self.deadline) - self.measure_from)
        return Tally.of(recorders, self.operations, measured_s, not_sent=max(0, not_sent))


def run(client: Any, table_name: str, plan: Any) -> Tally:
    """Apply ``plan`` (a ``Plan``, or anything with its attributes) against one replica through
    ``client``; returns what was measured.

    Ends at ``plan.planned_s`` by the wall clock (plus ``IN_FLIGHT_GRACE_S`` for calls already sent),
    whatever the mode and however far behind an open-loop schedule is."""
    load = _LoadRun(client, table_name, plan)
    threads = [threading.Thread(target=load.worker, args=(n,), daemon=True) for n in range(plan.workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, load.deadline + IN_FLIGHT_GRACE_S - time.perf_counter()))
    load.stop.set()
    return load.tally()
