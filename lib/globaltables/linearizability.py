"""Linearizability of single-key register histories: the proof that a strong (MRSC) table behaves as one copy.

A history is what concurrent clients saw: each operation with the moment it was invoked and the moment
it returned (``time.monotonic()``). It is linearizable when every operation can be given one instant
inside its own interval so that, in that order, every read returns the value of the latest write before
it (or "absent" when there was none): as if one register in one place served everyone. An eventually
consistent (MREC) table fails this as soon as a strongly consistent read in one region misses a write
acknowledged in another; a strong table must never fail it.

The check is Wing and Gong's search (*Testing and verifying concurrent objects*, 1993) as Lowe improved
it (*Testing for linearizability*, 2017) and Horn and Kroening described it (*Faster linearizability
checking via P-compositionality*, 2015): take the earliest pending call that is legal in the current
state, backtrack when a return is reached whose call is still pending, and remember every
(set of operations linearized, register value) already explored, so that different orders of the same
operations that leave the same value are searched once. Registers compose (P-compositionality): each key
is checked on its own. No well-kept Python package does this (Porcupine is Go, Knossos Clojure).

Writes carry values unique per key. A failed write (``ok=False``: refused, nothing applied) did not
happen and is left out; an ambiguous one (``ok=None``: timed out or a server error, it may or may not
have been applied) may take effect at any instant after its invocation, or never; a read that failed
tells nothing and is left out.

``record_history`` makes such histories against DynamoDB: concurrent clients in every region write
unique values to a few items (PutItem) and read them back (GetItem, ``ConsistentRead=True``), retrying
``ReplicatedWriteConflictException`` (a strong table's refusal of a write to an item that another
region is writing) with capped exponential backoff and jitter.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal

import botocore.exceptions
from pydantic import BaseModel, ConfigDict, model_validator

from globaltables.clients import AwsClients
from globaltables.errors import aws_error_code
from globaltables.parallel import run_together
from globaltables.throttling import THROTTLE_CODES, WRITE_CONFLICT_CODES, Backoff, is_write_conflict

SORT_KEY = "register"
# Refusals after which nothing was applied: sending the same write again is safe.
RETRIED_CODES = THROTTLE_CODES | WRITE_CONFLICT_CODES


class Operation(BaseModel):
    """One read or write of one key, as a client saw it."""

    model_config = ConfigDict(frozen=True)

    client: str
    region: str
    kind: Literal["read", "write"]
    key: str
    value: str | None  # the value written; for a read, the value read (None: the item was absent)
    invoked_at: float  # time.monotonic() when the first attempt was sent
    completed_at: float  # time.monotonic() when the last answer came
    ok: bool | None  # True: done; False: did not happen; None (writes): may or may not have happened
    conflicts: int = 0  # ReplicatedWriteConflictException answers before the outcome
    error: str | None = None  # the error code (or exception name) of a failed or ambiguous operation

    @model_validator(mode="after")
    def _returns_after_its_call(self) -> Operation:
        if self.completed_at < self.invoked_at:
            raise ValueError(f"completed_at {self.completed_at} is before invoked_at {self.invoked_at}")
        return self

    def describe(self, origin: float = 0.0) -> str:
        """One line: who, what, when (ms after ``origin``)."""
        shown = "absent" if self.value is None else repr(self.value)
        start = f"{(self.invoked_at - origin) * 1000:9.1f}"
        if self.ok is None:
            end = "   ? (ambiguous: may or may not have happened)"
        else:
            end = f"{(self.completed_at - origin) * 1000:9.1f} ms"
        return f"{self.client:<16} {self.region:<15} {self.kind:<5} {shown:<24} {start} -> {end}"


class Search(BaseModel):
    """The outcome of searching one key's operations: an order that works (indexes into them), or None."""

    order: list[int] | None
    explored: int  # search states entered (memoised ones are entered once)


class Verdict(BaseModel):
    """Whether a history is linearizable; for a violation, the key and the fewest operations that show it."""

    linearizable: bool
    operations: int  # the operations checked (failed ones and failed reads left out)
    explored: int  # search states entered, over all keys
    key: str | None = None
    violation: list[Operation] = []
    explanation: str = ""

    def __str__(self) -> str:
        if self.linearizable:
            return f"linearizable: {self.operations} operations"
        return self.explanation


def _step(state: str | None, operation: Operation) -> tuple[bool, str | None]:
    """The register's sequential specification: (legal, next value)."""
    if operation.kind == "write":
        return True, operation.value
    return state == operation.value, state


class _Event:
    """A call or return in the doubly linked list the search lifts operations out of."""

    __slots__ = ("index", "is_call", "match", "next", "prev")

    def __init__(self, index: int, is_call: bool):
        self.index, self.is_call = index, is_call
        self.match: _Event | None = None
        self.prev: _Event | None = None
        self.next: _Event | None = None


def _events(operations: Sequence[Operation]) -> _Event:
    """The calls and returns in time order behind a head sentinel. At the same instant calls come first,
    so operations that touch count as concurrent (the checker never invents an order the clocks cannot
    show). An ambiguous write returns at infinity: it may take effect any time after its call, or never
    (linearized after everything else, a write changes nothing anyone saw)."""
    timed: list[tuple[float, int, int]] = []
    for index, operation in enumerate(operations):
        returned = operation.completed_at if operation.ok else math.inf
        timed += [(operation.invoked_at, 0, index), (returned, 1, index)]
    timed.sort()
    head = _Event(-1, False)
    calls: dict[int, _Event] = {}
    previous = head
    for _, kind, index in timed:
        event = _Event(index, kind == 0)
        if event.is_call:
            calls[index] = event
        else:
            calls[index].match = event
        previous.next, event.prev = event, previous
        previous = event
    return head


def _lift(call: _Event) -> None:
    for event in (call, call.match):
        assert event is not None and event.prev is not None
        event.prev.next = event.next
        if event.next is not None:
            event.next.prev = event.prev


def _unlift(call: _Event) -> None:
    # The reverse of _lift: the lifted events kept their own links, and lifts are undone last first.
    for event in (call.match, call):
        assert event is not None and event.prev is not None
        event.prev.next = event
        if event.next is not None:
            event.next.prev = event


def search(operations: Sequence[Operation], memoise: bool = True) -> Search:
    """Wing-Gong-Lowe search over one key's operations (all ``ok`` True, or None for writes).

    ``memoise=False`` searches without the cache of explored (linearized set, value) states: only to show
    what the cache saves."""
    head = _events(operations)
    seen: set[tuple[int, str | None]] = set()
    bits = 0
    state: str | None = None
    stack: list[tuple[_Event, str | None]] = []
    explored = 0
    entry = head.next
    while head.next is not None:
        assert entry is not None  # every pending call has its return further on
        if entry.is_call:
            legal, after = _step(state, operations[entry.index])
            if legal:
                with_it = bits | (1 << entry.index)
                if not memoise or (with_it, after) not in seen:
                    seen.add((with_it, after))
                    explored += 1
                    stack.append((entry, state))
                    bits, state = with_it, after
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # The return of a pending call: it had to be linearized before this instant. Undo the last choice.
            if not stack:
                return Search(order=None, explored=explored)
            entry, state = stack.pop()
            bits &= ~(1 << entry.index)
            _unlift(entry)
            entry = entry.next
    return Search(order=[event.index for event, _ in stack], explored=explored)


def _checked(history: Sequence[Operation]) -> list[Operation]:
    """The operations that constrain the register: not failed writes (nothing applied), not failed reads."""
    return [o for o in history if o.ok is True or (o.ok is None and o.kind == "write")]


def _smallest_violation(operations: list[Operation]) -> list[Operation]:
    """A 1-minimal non-linearizable subset of ``operations`` (which has no linearization): removing any
    one of its operations (a write together with the reads of its value, which could not be explained
    without it) leaves a linearizable history."""
    written = {o.value for o in operations if o.kind == "write"}
    for operation in operations:
        if operation.kind == "read" and operation.value is not None and operation.value not in written:
            return [operation]  # read a value nobody wrote
    kept = list(range(len(operations)))
    shrunk = True
    while shrunk:
        shrunk = False
        for index in list(kept):
            if index not in kept:
                continue
            candidate = operations[index]
            dropped = {index}
            if candidate.kind == "write":
                dropped |= {i for i in kept if operations[i].kind == "read" and operations[i].value == candidate.value}
            trial = [i for i in kept if i not in dropped]
            if trial and search([operations[i] for i in trial]).order is None:
                kept, shrunk = trial, True
    return [operations[i] for i in kept]


def _explain(key: str, violation: list[Operation]) -> str:
    ordered = sorted(violation, key=lambda o: o.invoked_at)
    origin = ordered[0].invoked_at
    lines = [
        f"not linearizable: key {key!r}: no order of these {len(ordered)} operations, each at an instant "
        f"between its call and its return, makes every read return the latest write "
        f"(ms after the first call):"
    ]
    lines += ["  " + o.describe(origin) for o in ordered]
    return "\n".join(lines)


def check(history: Sequence[Operation]) -> Verdict:
    """Whether ``history`` is linearizable, key by key; the first key that is not is explained with a
    1-minimal set of its operations that cannot be ordered."""
    by_key: dict[str, list[Operation]] = {}
    for operation in _checked(history):
        by_key.setdefault(operation.key, []).append(operation)
    checked = sum(len(ops) for ops in by_key.values())
    explored = 0
    for key in sorted(by_key):
        outcome = search(by_key[key])
        explored += outcome.explored
        if outcome.order is None:
            violation = _smallest_violation(by_key[key])
            return Verdict(
                linearizable=False,
                operations=checked,
                explored=explored,
                key=key,
                violation=violation,
                explanation=_explain(key, violation),
            )
    return Verdict(linearizable=True, operations=checked, explored=explored)


# ----- recording histories against DynamoDB --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Attempts:
    """What sending one call came to, refusals sent again included: the answer (None unless ``ok``), the
    write conflicts met, the error code of a failed or ambiguous call, and ``ok``: True done, False
    refused by AWS (a 4xx: nothing applied), None unknown (a 5xx, a timeout, a lost connection)."""

    answer: Any
    conflicts: int
    error: str | None
    ok: bool | None


def _attempted(call: Callable[[], Any], retried: bool, rng: random.Random, attempts: int) -> _Attempts:
    """``call()`` with the refusals of RETRIED_CODES sent again (when ``retried``) after a capped
    exponential backoff with full jitter, up to ``attempts`` attempts in all."""
    backoff = Backoff(first_s=0.01, cap_s=0.25, rng=rng)
    conflicts = 0
    for attempt in range(attempts):
        try:
            return _Attempts(call(), conflicts, None, True)
        except botocore.exceptions.ClientError as error:
            code = aws_error_code(error) or "ClientError"
            conflicts += is_write_conflict(error)
            if retried and code in RETRIED_CODES and attempt + 1 < attempts:
                time.sleep(backoff.next_pause())
                continue
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            return _Attempts(None, conflicts, code, False if status < 500 else None)
        except botocore.exceptions.BotoCoreError as error:
            return _Attempts(None, conflicts, type(error).__name__, None)
    raise AssertionError("unreachable: the last attempt returns")


@dataclasses.dataclass(frozen=True)
class _RecordingClient:
    """One client of a recorded history: its name and region, its DynamoDB client (retries off), the
    table, and its own random source (for the backoff's jitter)."""

    name: str
    region: str
    client: Any
    table_name: str
    rng: random.Random

    def read(self, key: str, consistent_read: bool) -> Operation:
        """One GetItem, never sent again: a read that fails is recorded failed."""
        item_key = {"PK": {"S": key}, "SK": {"S": SORT_KEY}}
        get = functools.partial(
            self.client.get_item, TableName=self.table_name, Key=item_key, ConsistentRead=consistent_read
        )
        invoked = time.monotonic()
        attempts = _attempted(get, retried=False, rng=self.rng, attempts=1)
        completed = time.monotonic()
        found = attempts.ok and "Item" in attempts.answer
        return Operation(
            client=self.name,
            region=self.region,
            kind="read",
            key=key,
            value=attempts.answer["Item"]["value"]["S"] if found else None,
            invoked_at=invoked,
            completed_at=completed,
            ok=bool(attempts.ok),
            error=attempts.error,
        )

    def write(self, key: str, value: str, write_attempts: int) -> Operation:
        """One PutItem of ``value``, sent again while refused with a write conflict or a throttle."""
        item = {"PK": {"S": key}, "SK": {"S": SORT_KEY}, "value": {"S": value}}
        put = functools.partial(self.client.put_item, TableName=self.table_name, Item=item)
        invoked = time.monotonic()
        attempts = _attempted(put, retried=True, rng=self.rng, attempts=write_attempts)
        completed = time.monotonic()
        return Operation(
            client=self.name,
            region=self.region,
            kind="write",
            key=key,
            value=value,
            invoked_at=invoked,
            completed_at=completed,
            ok=attempts.ok,
            conflicts=attempts.conflicts,
            error=attempts.error,
        )


def record_history(
    clients: AwsClients,
    regions: Sequence[str],
    table_name: str,
    keys: int = 2,
    clients_per_region: int = 1,
    operations_per_client: int = 4,
    read_ratio: float = 0.5,
    rng: random.Random | None = None,
    key_prefix: str | None = None,
    pause_s: float = 0.0,
    write_attempts: int = 8,
    consistent_read: bool = True,
) -> list[Operation]:
    """Concurrent clients (``clients_per_region`` in each of ``regions``, all started together) each run
    ``operations_per_client`` operations on items ``<key_prefix>#k<n>`` (SK ``register``) of ``table_name``:
    a GetItem with probability ``read_ratio`` (strongly consistent unless ``consistent_read`` is False,
    to show what eventually consistent reads do), else a PutItem of a value unique to the history, with a
    random pause of up to ``pause_s`` before each. The check takes "absent" as every register's first
    value: each history needs items that do not exist yet, under a ``key_prefix`` of its own (default: a
    random one), so many histories can share one table.

    A write refused with ReplicatedWriteConflictException (or a throttle) is sent again, up to
    ``write_attempts`` attempts in all; a write still refused is recorded failed (``ok=False``), one
    whose outcome is unknown (server error, timeout) ambiguous (``ok=None``) and never sent again (a late
    second copy of the write could land after a later write). A read that fails is recorded failed.
    Calls go through clients with boto3's retries off, so every attempt and conflict is counted here."""
    rng = rng or random.Random()
    prefix = key_prefix or f"lin-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
    names = [f"{prefix}#k{n}" for n in range(keys)]
    writers = [(region, number) for region in regions for number in range(clients_per_region)]
    seeds = [rng.getrandbits(64) for _ in writers]
    history: list[Operation] = []
    lock = threading.Lock()
    start = threading.Barrier(len(writers), timeout=120)  # a client that died must not hang the others

    def client_run(region: str, number: int, seed: int) -> None:
        own = random.Random(seed)
        recording = _RecordingClient(
            f"{region}/{number}", region, clients.client("dynamodb", region, retries=False), table_name, own
        )
        start.wait()
        for step in range(operations_per_client):
            if pause_s > 0:
                time.sleep(own.uniform(0, pause_s))
            key = own.choice(names)
            if own.random() < read_ratio:
                operation = recording.read(key, consistent_read)
            else:
                operation = recording.write(key, f"{recording.name}#{step}", write_attempts)
            with lock:
                history.append(operation)

    run_together([(client_run, (region, number, seed)) for (region, number), seed in zip(writers, seeds, strict=True)])
    return sorted(history, key=lambda o: o.invoked_at)
