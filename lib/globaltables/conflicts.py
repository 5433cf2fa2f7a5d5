"""Conflicting writes from every region, convergence, and patterns that keep business data safe.

Global tables resolve concurrent writes to the same item with last writer wins, on a timestamp that
DynamoDB assigns, per item: the whole item of the later write replaces the other everywhere. The
recipe's conflict test wrote from two regions, compared nothing, and reasoned with the client's clock
(defect 15 in docs/recipe-defects.md). Here every region writes, convergence is checked item by item, and the demonstrations
show what last writer wins does to read-modify-write and counters, and what to do instead.

The storm's writes and the convergence polls (strongly consistent BatchGetItem every 50 ms in every
region) can exceed a provisioned table's capacity: they go through clients with boto3's retries off
(``throttling.unretried_client``), and each ``ProvisionedThroughputExceededException`` or round of
``UnprocessedKeys`` is counted (``Convergence.throttles``, a ``ThrottleCount`` for the writes) and
backed off (capped exponential backoff with full jitter, ``throttling.Backoff``), bounded by a deadline.

On a strongly consistent (MRSC) table the same writes meet ``ReplicatedWriteConflictException`` instead
of last writer wins: a write on an item that a write from another region is still modifying is refused,
counted (a ``ConflictCount``) and sent again after the same backoff. The scenarios here run on either
mode; ``side_by_side`` runs one contended workload on a table of each mode (the run's, and a companion
table of the other mode that it creates and removes, recorded in the manifest first) and counts what each
mode does to it: writes lost, reads that missed an acknowledged write, conflicts retried.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

import botocore.exceptions
from pydantic import BaseModel

from globaltables import cleanup
from globaltables.clients import AwsClients
from globaltables.embedded_admin import EmbeddedAWSAdmin
from globaltables.errors import GlobalTablesError, aws_error_code
from globaltables.kinds import ResourceKind
from globaltables.names import RUN_TAG_KEY
from globaltables.parallel import run_together
from globaltables.perf import MODE_LABELS
from globaltables.seeding import digest_of_items
from globaltables.state import RunState
from globaltables.tables import (
    STRONG,
    TABLE_BUSY,
    describe,
    is_strong,
    wait_for_replica,
    wait_for_table,
    witness_regions,
)
from globaltables.throttling import (
    Backoff,
    ConflictCount,
    ThrottleCount,
    is_throttle,
    is_write_conflict,
    unretried_client,
)
from globaltables.waiting import retry_on_codes, wait_until

SORT_KEY = "CONFLICT"


class ConflictWrite(BaseModel, frozen=True):
    """One acknowledged write of the storm."""

    key: str
    region: str
    value: str
    client_clock: float  # the writer's own (possibly skewed) clock: what a client would compare
    acknowledged: float  # time.monotonic() when the write returned


class ConflictingWrites(BaseModel, frozen=True):
    """The storm's items (their keys) and every write acknowledged on them, from every region."""

    keys: list[str]
    writes: list[ConflictWrite]


THROTTLED_CALL_TIMEOUT_S = 120.0  # how long one call may stay throttled before its error is raised


def call_backing_off(
    call: Any,
    throttles: ThrottleCount | None,
    timeout_s: float = THROTTLED_CALL_TIMEOUT_S,
    cap_s: float = 1.0,
    conflicts: ConflictCount | None = None,
) -> Any:
    """``call()``, sent again after a capped exponential backoff with jitter while it is throttled or
    refused for a write conflict (a strong table), each one added to ``throttles`` or ``conflicts``; the
    last error is raised after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    backoff = Backoff(cap_s=cap_s)
    while True:
        try:
            return call()
        except Exception as error:
            if is_throttle(error):
                count = throttles
            elif is_write_conflict(error):
                count = conflicts
            else:
                raise
            if count is not None:
                count.add()
            pause = backoff.next_pause()
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)


def conflicting_updates(
    clients: AwsClients,
    regions: list[str],
    table_name: str,
    keys: int,
    rounds: int = 1,
    clock_skew_s: dict[str, float] | None = None,
    seed: int = 0,
    throttles: ThrottleCount | None = None,
    conflicts: ConflictCount | None = None,
) -> ConflictingWrites:
    """Every region updates the same ``keys`` items at the same time (``rounds`` times each, in its own
    random order), stamping its own clock, skewed by ``clock_skew_s[region]``. Returns keys and writes;
    a throttled update (or one refused for a write conflict, on a strong table) is backed off and sent
    again, and counted in ``throttles`` (``conflicts``)."""
    marker = uuid.uuid4().hex[:8]
    names = [f"CONFLICT#{marker}#{i:05d}" for i in range(keys)]
    skew = clock_skew_s or {}
    writes: list[ConflictWrite] = []
    lock = threading.Lock()
    start = threading.Barrier(len(regions), timeout=120)  # a writer that died must not hang the others

    def writer(region: str, number: int) -> None:
        client = unretried_client(clients, region)
        order = list(names)
        random.Random(seed * 100 + number).shuffle(order)
        start.wait()
        for round_number in range(rounds):
            for key in order:
                value = f"{region}#{round_number}"
                clock = time.time() + skew.get(region, 0.0)
                update = functools.partial(
                    client.update_item,
                    TableName=table_name,
                    Key={"PK": {"S": key}, "SK": {"S": SORT_KEY}},
                    UpdateExpression="SET #v = :v, writer = :w, client_clock = :c, entity = :e",
                    ExpressionAttributeNames={"#v": "value"},
                    ExpressionAttributeValues={
                        ":v": {"S": value},
                        ":w": {"S": region},
                        ":c": {"N": f"{clock:.6f}"},
                        ":e": {"S": "conflict"},
                    },
                )
                call_backing_off(update, throttles, conflicts=conflicts)
                with lock:
                    writes.append(
                        ConflictWrite(
                            key=key, region=region, value=value, client_clock=clock, acknowledged=time.monotonic()
                        )
                    )

    run_together([(writer, (r, n)) for n, r in enumerate(regions)])
    return ConflictingWrites(keys=names, writes=writes)


def read_items(
    clients: AwsClients,
    region: str,
    table_name: str,
    keys: list[str],
    throttles: ThrottleCount | None = None,
    timeout_s: float = THROTTLED_CALL_TIMEOUT_S,
) -> dict[str, dict[str, Any]]:
    """The items of ``keys`` in ``region`` (BatchGetItem, strongly consistent). Unprocessed keys and
    throttled calls are sent again after a capped exponential backoff with jitter, each round counted in
    ``throttles``; raises TimeoutError if keys are still unprocessed after ``timeout_s``."""
    client = unretried_client(clients, region)
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    for start in range(0, len(keys), 100):
        pending = {
            table_name: {
                "Keys": [{"PK": {"S": k}, "SK": {"S": SORT_KEY}} for k in keys[start : start + 100]],
                "ConsistentRead": True,
            }
        }
        backoff = Backoff(cap_s=1.0)
        while pending:
            read = functools.partial(client.batch_get_item, RequestItems=pending)
            response = call_backing_off(read, throttles, max(0.0, deadline - time.monotonic()))
            for item in response["Responses"].get(table_name, []):
                found[item["PK"]["S"]] = item
            pending = response.get("UnprocessedKeys") or {}
            if pending:
                if throttles is not None:
                    throttles.add()
                pause = backoff.next_pause()
                if time.monotonic() + pause > deadline:
                    raise TimeoutError(f"{region}: keys still unprocessed after {timeout_s:g} s of backing off")
                time.sleep(pause)
    return found


class ConvergenceSample(BaseModel, frozen=True):
    """One poll of every region: when (seconds after the first), and how many keys still differed."""

    seconds: float
    diverging_keys: int


class Convergence(BaseModel, frozen=True):
    """How the replicas converged: the time it took, each poll, and the items every region held last."""

    seconds: float
    samples: list[ConvergenceSample]
    throttles: int = 0  # polls throttled (or with unprocessed keys), backed off and sent again
    items: dict[str, dict[str, dict[str, Any]]]  # region -> key -> item

    @property
    def agreed_items(self) -> dict[str, dict[str, Any]]:
        """The items (key -> item) of the first region: those every region holds once converged."""
        return next(iter(self.items.values()))


def wait_for_convergence(
    clients: AwsClients,
    regions: list[str],
    table_name: str,
    keys: list[str],
    timeout_s: float,
    interval_s: float = 0.05,
) -> Convergence:
    """Poll every region until all hold the same item for every key; returns the time it took and how
    many keys still differed at each poll."""
    started = time.monotonic()
    samples: list[ConvergenceSample] = []
    throttles = ThrottleCount()

    def probe() -> tuple[bool, dict[str, dict[str, dict[str, Any]]]]:
        items = {region: read_items(clients, region, table_name, keys, throttles, timeout_s) for region in regions}
        diverging = sum(
            1
            for key in keys
            if len({repr(items[r].get(key)) for r in regions}) > 1 or any(key not in items[r] for r in regions)
        )
        samples.append(ConvergenceSample(seconds=round(time.monotonic() - started, 3), diverging_keys=diverging))
        return diverging == 0, items

    items = wait_until(
        probe,
        f"{len(keys)} conflicting items identical in every region",
        timeout_s,
        interval_s,
        show=lambda _: f"{samples[-1].diverging_keys} keys still differ",
    )
    return Convergence(seconds=samples[-1].seconds, samples=samples, items=items, throttles=throttles.total)


class Outcome(BaseModel, frozen=True):
    """One item after the storm: the value every replica kept, the region that wrote it, how many writes
    it received, and the region whose write carried the latest client clock."""

    key: str
    value: str
    winner: str
    written_values: int
    latest_client_clock_region: str


def outcomes(writes: list[ConflictWrite], final: dict[str, dict[str, Any]]) -> list[Outcome]:
    """Per key: the value every replica kept, the region that wrote it, and the region whose write carried
    the latest client clock (what a client would predict)."""
    by_key: dict[str, list[ConflictWrite]] = {}
    for write in writes:
        by_key.setdefault(write.key, []).append(write)
    rows = []
    for key, key_writes in sorted(by_key.items()):
        item = final[key]
        rows.append(
            Outcome(
                key=key,
                value=item["value"]["S"],
                winner=item["writer"]["S"],
                written_values=len(key_writes),
                latest_client_clock_region=max(key_writes, key=lambda w: w.client_clock).region,
            )
        )
    return rows


class IdenticalReplicas(BaseModel, frozen=True):
    """What ``check_converged`` found: ``regions`` replicas holding the same ``items`` items (``sha256``,
    their digest), each a value that was written."""

    regions: int
    items: int
    sha256: str


def check_converged(writes: list[ConflictWrite], convergence: Convergence) -> IdenticalReplicas:
    """Raises AssertionError unless every replica holds identical items, each a value that was written."""
    digests = {region: digest_of_items(region, items.values()).sha256 for region, items in convergence.items.items()}
    if len(set(digests.values())) != 1:
        raise AssertionError(f"replicas differ after convergence: {digests}")
    written = {(w.key, w.value) for w in writes}
    final = convergence.agreed_items
    strays = [key for key, item in final.items() if (key, item["value"]["S"]) not in written]
    if strays:
        raise AssertionError(f"values nobody wrote: {strays[:5]}")
    return IdenticalReplicas(regions=len(digests), items=len(final), sha256=next(iter(digests.values())))


def winner_counts(rows: list[Outcome]) -> dict[str, int]:
    """Region -> how many items its write won."""
    return dict(Counter(row.winner for row in rows))


class Storm(BaseModel, frozen=True):
    """One storm under one replication delay (``scenario``): its writes, how the replicas converged, what
    they agreed on, and the calls backed off on the way."""

    scenario: str
    writes: list[ConflictWrite]
    convergence: Convergence
    replicas: IdenticalReplicas
    throttled_calls: int  # writes and convergence polls throttled, backed off and sent again
    conflicts_retried: int  # writes refused with ReplicatedWriteConflictException (strong tables), sent again

    def outcomes(self) -> list[Outcome]:
        """Per item: who won, and who the client clocks would have said."""
        return outcomes(self.writes, self.convergence.agreed_items)

    def row(self) -> dict[str, Any]:
        """One line of 08's storm table."""
        return {
            "scenario": self.scenario,
            "writes": len(self.writes),
            "conflicts retried": self.conflicts_retried,
            "converged after s": self.convergence.seconds,
            "identical items": self.replicas.items,
            "throttled calls": self.throttled_calls,
            "checksum": self.replicas.sha256[:16],
        }


def storm(
    clients: AwsClients,
    regions: list[str],
    table_name: str,
    keys: int,
    rounds: int,
    clock_skew_s: dict[str, float] | None,
    timeout_s: float,
    delay: str | None,
) -> Storm:
    """``conflicting_updates`` from every region under the replication ``delay`` (see
    ``replication_delay``), then the wait until every replica holds the same items, checked by
    ``check_converged`` (which raises AssertionError if they differ or hold a value nobody wrote)."""
    with replication_delay(clients, delay) as scenario:
        throttles, conflicts = ThrottleCount(), ConflictCount()
        written = conflicting_updates(
            clients, regions, table_name, keys, rounds, clock_skew_s, throttles=throttles, conflicts=conflicts
        )
        convergence = wait_for_convergence(clients, regions, table_name, written.keys, timeout_s)
        replicas = check_converged(written.writes, convergence)
    return Storm(
        scenario=scenario,
        writes=written.writes,
        convergence=convergence,
        replicas=replicas,
        throttled_calls=throttles.total + convergence.throttles,
        conflicts_retried=conflicts.total,
    )


@contextlib.contextmanager
def replication_delay(clients: AwsClients, delay: str | None) -> Iterator[str]:
    """Run a scenario under a given replication delay (``"0"``, ``"fixed:400"``, ...) on the embedded AWS,
    restoring its setting after. AWS's replication delay is AWS's: on ``target: aws`` the scenario runs
    as AWS replicates, and the name says so."""
    if clients.target != "local" or delay is None:
        yield "as the target replicates"
        return
    admin = EmbeddedAWSAdmin(clients.endpoint_url or "")
    before = admin.status()["delay"]
    admin.configure(delay=delay)
    try:
        yield f"replication delay {delay} ms"
    finally:
        admin.configure(delay=_delay_text(before))


def delay_scenarios(clients: AwsClients, delays_ms: list[float]) -> list[str | None]:
    """The replication delays to run a scenario under: each one on the embedded AWS; on AWS just one
    run, under AWS's own replication (``None``)."""
    if clients.target != "local":
        return [None]
    return [f"fixed:{delay:g}" for delay in delays_ms]


def _delay_text(description: dict[str, Any]) -> str:
    if description["kind"] == "fixed":
        return f"fixed:{description['value_ms']}"
    if description["kind"] == "uniform":
        return f"uniform:{description['low_ms']}:{description['high_ms']}"
    return f"lognormal:{description['median_ms']}:{description['sigma']}"


# ----- safe patterns -------------------------------------------------------------------------


class VersionConflict(GlobalTablesError, RuntimeError):
    """The item changed since it was read: read it again and reapply the change."""


def versioned_put(
    client: Any, table_name: str, key: dict[str, Any], attributes: dict[str, Any], expected_version: int | None
) -> int:
    """Write ``attributes`` only if the item still has ``expected_version`` (None: must not exist);
    returns the new version. Raises VersionConflict otherwise."""
    new_version = (expected_version or 0) + 1
    condition = "attribute_not_exists(PK)" if expected_version is None else "version = :expected"
    values = {":expected": {"N": str(expected_version)}} if expected_version is not None else {}
    try:
        client.put_item(
            TableName=table_name,
            Item={**key, **attributes, "version": {"N": str(new_version)}},
            ConditionExpression=condition,
            **({"ExpressionAttributeValues": values} if values else {}),
        )
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) == "ConditionalCheckFailedException":
            raise VersionConflict(f"{key} is no longer at version {expected_version}") from None
        raise
    return new_version


class VersionedIncrements(BaseModel, frozen=True):
    """Concurrent read-modify-write increments with a version check, in one region: the balance every
    increment should make, the balance made, and the version conflicts read again and retried."""

    expected: int
    balance: int
    conflicts_retried: int


def optimistic_increments(
    client: Any, table_name: str, key: dict[str, Any], writers: int, increments: int
) -> VersionedIncrements:
    """``writers`` threads each add 1, ``increments`` times, by read-modify-write with a version check and
    retry on conflict (in one region). Returns the final balance and how many conflicts were retried."""
    client.put_item(
        TableName=table_name, Item={**key, "balance": {"N": "0"}, "version": {"N": "1"}, "entity": {"S": "versioned"}}
    )
    retried = Counter()

    def writer(number: int) -> None:
        for _ in range(increments):
            while True:
                item = client.get_item(TableName=table_name, Key=key, ConsistentRead=True)["Item"]
                balance, version = int(item["balance"]["N"]), int(item["version"]["N"])
                try:
                    versioned_put(
                        client,
                        table_name,
                        key,
                        {"balance": {"N": str(balance + 1)}, "entity": {"S": "versioned"}},
                        version,
                    )
                    break
                except VersionConflict:
                    retried[number] += 1

    run_together([(writer, (n,)) for n in range(writers)])
    final = client.get_item(TableName=table_name, Key=key, ConsistentRead=True)["Item"]
    return VersionedIncrements(
        expected=writers * increments, balance=int(final["balance"]["N"]), conflicts_retried=sum(retried.values())
    )


def idempotent_add(client: Any, table_name: str, counter: str, shard: str, request_id: str, amount: int) -> bool:
    """Add ``amount`` to the counter's ``shard`` item once per ``request_id``: the item keeps the ids of the
    requests it applied, and the update is conditional on this id not being among them, so a retried
    request is a no-op. Returns whether this call applied the change."""
    try:
        client.update_item(
            TableName=table_name,
            Key={"PK": {"S": f"COUNTER#{counter}"}, "SK": {"S": shard}},
            UpdateExpression="ADD #t :n, applied :ids SET entity = :e",
            ConditionExpression="attribute_not_exists(applied) OR NOT contains(applied, :id)",
            ExpressionAttributeNames={"#t": "total"},
            ExpressionAttributeValues={
                ":n": {"N": str(amount)},
                ":ids": {"SS": [request_id]},
                ":id": {"S": request_id},
                ":e": {"S": "counter"},
            },
        )
        return True
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) == "ConditionalCheckFailedException":
            return False
        raise


def counter_total(client: Any, table_name: str, counter: str) -> int:
    """The counter's value: the sum of its shards (one per region)."""
    response = client.query(
        TableName=table_name,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": f"COUNTER#{counter}"}},
        ConsistentRead=True,
    )
    return sum(int(item.get("total", {"N": "0"})["N"]) for item in response["Items"])


class CounterTotals(BaseModel, frozen=True):
    """The counter demonstration's totals, identical in every region: what every increment should make,
    the naive shared counter's, and the sharded idempotent counter's."""

    expected: int
    naive_total: int
    sharded_idempotent_total: int


def counter_demo(
    clients: AwsClients, regions: list[str], table_name: str, increments: int, timeout_s: float
) -> CounterTotals:
    """Every region adds 1 ``increments`` times, and retries each request once (as after a timeout).

    Naive: all regions ``ADD`` to one shared item; last writer wins per item, so increments made in one
    region are overwritten by another's (on a strong table the shared item's ``ADD`` meets write
    conflicts instead, retried, and loses nothing). Safe: each region adds to its own shard item (the
    region is the sort key), conditionally on the request id not being applied yet, and the total is
    the sum of the shards. (Keep the applied ids bounded in production, e.g. per day; here they are few.)"""
    name = f"demo-{uuid.uuid4().hex[:8]}"

    def region_writer(region: str) -> None:
        client = clients.client("dynamodb", region)
        for i in range(increments):
            call_backing_off(
                functools.partial(
                    client.update_item,
                    TableName=table_name,
                    Key={"PK": {"S": f"COUNTER#{name}-naive"}, "SK": {"S": "shared"}},
                    UpdateExpression="ADD #t :one SET entity = :e",
                    ExpressionAttributeNames={"#t": "total"},
                    ExpressionAttributeValues={":one": {"N": "1"}, ":e": {"S": "counter"}},
                ),
                None,
            )
            request = f"{name}-{region}-{i}"
            add = functools.partial(idempotent_add, client, table_name, name, region, request, 1)
            call_backing_off(add, None)
            call_backing_off(add, None)  # the retry: applied once only

    run_together([(region_writer, (r,)) for r in regions])
    expected = increments * len(regions)

    def settled() -> tuple[bool, dict[str, Any]]:
        naive = {r: counter_total(clients.client("dynamodb", r), table_name, f"{name}-naive") for r in regions}
        safe = {r: counter_total(clients.client("dynamodb", r), table_name, name) for r in regions}
        return len(set(naive.values())) == 1 and set(safe.values()) == {expected}, {"naive": naive, "safe": safe}

    totals = wait_until(settled, "counters identical in every region", timeout_s, 0.05)
    return CounterTotals(
        expected=expected,
        naive_total=next(iter(totals["naive"].values())),
        sharded_idempotent_total=next(iter(totals["safe"].values())),
    )


class VersionRace(BaseModel, frozen=True):
    """Two regions' conditional claims of the same item version: which were accepted (region -> bool),
    the owner every region finally holds, and whether an accepted claim was lost (both accepted)."""

    accepted: dict[str, bool]
    final_owner: str

    @property
    def lost_update(self) -> bool:
        return sum(self.accepted.values()) > 1


def cross_region_version_race(
    clients: AwsClients, regions: list[str], table_name: str, timeout_s: float
) -> VersionRace:
    """Two regions update the same item at version 1 at the same moment. On an eventually consistent
    table each region checks the condition against its own replica, so both writes are accepted, and one
    of them is then lost to last writer wins: version checks protect within a region only (route an
    item's writes to one home region). On a strong table the condition is checked against the latest
    version: the second claim is refused (a write conflict, retried, then the failed condition), and
    nothing is lost."""
    key = {"PK": {"S": f"VERSIONED#{uuid.uuid4().hex[:8]}"}, "SK": {"S": "RACE"}}
    home, other = regions[0], regions[1]
    versioned_put(clients.client("dynamodb", home), table_name, key, {"owner": {"S": "nobody"}}, None)
    wait_until(
        lambda: (
            all(
                "Item" in clients.client("dynamodb", r).get_item(TableName=table_name, Key=key, ConsistentRead=True)
                for r in regions
            ),
            None,
        ),
        "the item in every region",
        timeout_s,
        0.02,
    )
    accepted: dict[str, bool] = {}
    start = threading.Barrier(2, timeout=120)

    def claim(region: str) -> None:
        client = clients.client("dynamodb", region)
        start.wait()
        try:
            call_backing_off(lambda: versioned_put(client, table_name, key, {"owner": {"S": region}}, 1), None)
            accepted[region] = True
        except VersionConflict:
            accepted[region] = False

    run_together([(claim, (home,)), (claim, (other,))])

    def settled() -> tuple[bool, set[str]]:
        owners = {
            clients.client("dynamodb", r).get_item(TableName=table_name, Key=key, ConsistentRead=True)["Item"]["owner"][
                "S"
            ]
            for r in regions
        }
        return len(owners) == 1, owners

    owners = wait_until(settled, "the raced item identical everywhere", timeout_s, 0.02)
    return VersionRace(accepted=accepted, final_owner=owners.pop())


# ----- the two modes side by side -----------------------------------------------------------------

Consistency = Literal["eventual", "strong"]
NOTEBOOK = "08_conflicts"
STRONG_PARAMS_FILE = "params/strong.yaml"
CONTENDED_PREFIX = "CONTENDED"


def other_mode(consistency: str) -> Consistency:
    return "eventual" if consistency == "strong" else "strong"


class CompanionPlan(BaseModel):
    """Where 08 puts a table of the mode the run's table is not, or why the run's regions cannot hold one.

    ``regions`` are the companion's replica regions (primary first: the run's primary), ``witness`` the
    third region of a strong companion with two replicas; ``unavailable`` says why there is no companion
    (then nothing is created and 08 shows the run's mode only)."""

    run_consistency: Consistency
    consistency: Consistency
    table_name: str
    regions: list[str]
    witness: str | None = None
    unavailable: str | None = None

    @property
    def available(self) -> bool:
        return self.unavailable is None

    def __str__(self) -> str:
        if not self.available:
            return (
                f"{MODE_LABELS[self.run_consistency]} only: {self.unavailable}; "
                f"{STRONG_PARAMS_FILE} shows both modes side by side"
            )
        witness = f" and a witness in {self.witness}" if self.witness else ""
        return (
            f"{MODE_LABELS[self.consistency]} side: companion table {self.table_name} in "
            f"{', '.join(self.regions)}{witness}, made for this step and removed at its end"
        )


def companion_plan(params: Any, table_name: str) -> CompanionPlan:
    """The companion of the other mode for a run (``params``: its regions, ``consistency`` and
    ``witness_region``). A strong companion needs the run's regions in one MRSC region set: three of them
    (three replicas), or two and a third region of their set as the witness. An eventual companion uses
    the strong run's replica regions."""
    run_consistency: Consistency = params.consistency
    mode = other_mode(run_consistency)
    regions = list(params.regions)
    plan = CompanionPlan(
        run_consistency=run_consistency, consistency=mode, table_name=f"{table_name}-{mode}", regions=regions
    )
    if mode == "eventual":
        return plan
    from globaltables.regions import MRSC_REGION_SETS, mrsc_region_set

    sets = {region: mrsc_region_set(region) for region in regions}
    named = ", ".join(f"{region} ({sets[region] or 'no'} set)" for region in regions)
    if len(regions) not in (2, 3):
        reason = (
            f"a strong table spans exactly 3 regions (3 replicas, or 2 and a witness) and this run has {len(regions)}"
        )
        return plan.model_copy(update={"unavailable": reason})
    if None in sets.values() or len(set(sets.values())) > 1:
        reason = f"the run's regions {named} are not in one MRSC region set"
        return plan.model_copy(update={"unavailable": reason})
    if len(regions) == 3:
        return plan
    (region_set,) = set(sets.values())
    witness = next(region for region in MRSC_REGION_SETS[region_set] if region not in regions)
    return plan.model_copy(update={"witness": witness})


def _companion_definition(name: str, run_id: str) -> dict[str, Any]:
    """The smallest table the contended workload needs: the run's key schema, on demand (no capacity to
    plan or throttle), a stream (an eventual table replicates through it; a strong one ignores it), no
    deletion protection (it lives for one step), the run's tag (so the orphan finder knows it)."""
    return {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK")],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "Tags": [{"Key": RUN_TAG_KEY, "Value": run_id}],
    }


def _strong_table_settled(table: dict[str, Any] | None, plan: CompanionPlan) -> bool:
    if table is None or table["TableStatus"] != "ACTIVE" or not is_strong(table):
        return False
    replicas = {r["RegionName"]: r["ReplicaStatus"] for r in table.get("Replicas", [])}
    witnesses = {w["RegionName"]: w["WitnessStatus"] for w in table.get("GlobalTableWitnesses", [])}
    return (
        all(replicas.get(region) == "ACTIVE" for region in plan.regions[1:])
        and witness_regions(table) == ([plan.witness] if plan.witness else [])
        and all(status == "ACTIVE" for status in witnesses.values())
    )


def ensure_companion(clients: AwsClients, run: RunState, plan: CompanionPlan) -> dict[str, Any]:
    """Create (or adopt, on a rerun) the companion table, each part recorded in the manifest before the
    call that makes it, so that a step stopped midway leaves nothing cleanup does not know; returns its
    description in the primary region once it and every replica (and witness) are ACTIVE.

    Eventual: the table, then one replica at a time (AWS adds one per UpdateTable). Strong: the empty
    table, then one UpdateTable creating the replicas and the witness with ``MultiRegionConsistency``
    ``STRONG`` (AWS's only way to make one)."""
    if not plan.available:
        raise ValueError(f"no companion table: {plan.unavailable}")
    primary, name, timeout = plan.regions[0], plan.table_name, run.params.wait_timeout_s
    run.record(ResourceKind.TABLE, name, primary, notebook=NOTEBOOK, companion=plan.consistency)
    if describe(clients, primary, name) is None:
        try:
            clients.client("dynamodb", primary).create_table(**_companion_definition(name, run.run_id))
        except botocore.exceptions.ClientError as error:
            if aws_error_code(error) != "ResourceInUseException":
                raise
    table = wait_for_table(clients, primary, name, timeout)
    if plan.consistency == "eventual":
        return _add_eventual_replicas(clients, run, plan, table)
    return _make_strong(clients, run, plan, table)


def _add_eventual_replicas(
    clients: AwsClients, run: RunState, plan: CompanionPlan, table: dict[str, Any]
) -> dict[str, Any]:
    """One replica at a time (AWS adds one per UpdateTable), each recorded before its call; the table's
    description once the last is ACTIVE."""
    primary, name, timeout = plan.regions[0], plan.table_name, run.params.wait_timeout_s
    ddb = clients.client("dynamodb", primary)
    for region in plan.regions[1:]:
        run.record(ResourceKind.REPLICA, name, region, notebook=NOTEBOOK, companion=plan.consistency)
        if region not in {r["RegionName"] for r in table.get("Replicas", [])}:
            retry_on_codes(
                lambda region=region: ddb.update_table(
                    TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region}}]
                ),
                TABLE_BUSY,
                timeout,
            )
        table = wait_for_replica(clients, primary, region, name, timeout)
    return table


def _make_strong(clients: AwsClients, run: RunState, plan: CompanionPlan, table: dict[str, Any]) -> dict[str, Any]:
    """The replicas and the witness, recorded first, made in one UpdateTable with
    ``MultiRegionConsistency`` ``STRONG`` (unless an earlier attempt's call went through); the table's
    description once it, every replica and the witness are ACTIVE."""
    primary, name, timeout = plan.regions[0], plan.table_name, run.params.wait_timeout_s
    for region in plan.regions[1:]:
        run.record(
            ResourceKind.REPLICA, name, region, notebook=NOTEBOOK, companion=plan.consistency, consistency="strong"
        )
    if plan.witness:
        run.record(
            ResourceKind.WITNESS,
            name,
            plan.witness,
            notebook=NOTEBOOK,
            companion=plan.consistency,
            source_region=primary,
        )
    # Right after the call DescribeTable may still show the table alone: a replica's own table that
    # exists already says an earlier attempt's call went through.
    requested = is_strong(table) or any(describe(clients, region, name) for region in plan.regions[1:])
    if not requested:
        witness = {"GlobalTableWitnessUpdates": [{"Create": {"RegionName": plan.witness}}]} if plan.witness else {}
        retry_on_codes(
            lambda: clients.client("dynamodb", primary).update_table(
                TableName=name,
                ReplicaUpdates=[{"Create": {"RegionName": region}} for region in plan.regions[1:]],
                MultiRegionConsistency=STRONG,
                **witness,
            ),
            TABLE_BUSY,
            timeout,
        )

    def probe() -> tuple[bool, dict[str, Any] | None]:
        table = describe(clients, primary, name)
        settled = _strong_table_settled(table, plan) and all(
            (describe(clients, region, name) or {}).get("TableStatus") == "ACTIVE" for region in plan.regions[1:]
        )
        return settled, table

    what = f"strong (MRSC) table {name} ACTIVE in {', '.join(plan.regions)}"
    return wait_until(probe, what, timeout, clients.poll_interval_s)


def remove_companion(clients: AwsClients, run: RunState, plan: CompanionPlan) -> list[cleanup.Step]:
    """Remove the companion table as cleanup would (its replicas, witness and table, in cleanup's order),
    dropping each from the manifest once gone; raises ``CleanupIncomplete`` if any part stays."""
    steps = []
    for resource in cleanup.plan(run):
        if resource.name != plan.table_name or resource.details.get("companion") != plan.consistency:
            continue
        outcome = cleanup.remove(clients, run, resource)
        run.forget(resource.kind, resource.name, resource.region)
        steps.append(cleanup.Step(kind=resource.kind, name=resource.name, region=resource.region, outcome=outcome))
    return steps


class RegionTally(BaseModel, frozen=True):
    """What one region's writer saw in the contended workload."""

    region: str
    writes: int = 0  # acknowledged
    conflicts_retried: int = 0  # refused with ReplicatedWriteConflictException, sent again
    throttles: int = 0
    reads: int = 0  # in the next region, right after each acknowledged write
    stale_reads: int = 0  # ... that did not see the write
    lost_updates: int = 0  # acknowledged, and not in the item every region finally holds


class ContendedOutcome(BaseModel, frozen=True):
    """One mode's outcome of the contended workload: per region, and whether the replicas converged to
    items holding only values that were written."""

    consistency: Consistency
    table_name: str
    scenario: str
    keys: int
    per_region: list[RegionTally]
    converged_after_s: float
    identical_everywhere: bool
    values_nobody_wrote: int

    @property
    def label(self) -> str:
        return MODE_LABELS[self.consistency]

    def total(self, field: str) -> int:
        return sum(getattr(tally, field) for tally in self.per_region)

    def row(self) -> dict[str, Any]:
        """One line of the side-by-side table."""
        return {
            "table": self.label,
            "scenario": self.scenario,
            "writes acknowledged": self.total("writes"),
            "conflicts retried": self.total("conflicts_retried"),
            "updates lost": self.total("lost_updates"),
            "reads right after a write": self.total("reads"),
            "stale reads": self.total("stale_reads"),
            "converged after s": self.converged_after_s,
        }


class TokensAdded(BaseModel, frozen=True):
    """One region's writer in the contended workload: its tally (the updates lost are counted later, once
    the replicas agree) and the (item, token) pairs acknowledged to it."""

    tally: RegionTally
    tokens: list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class _Contention:
    """The fixed facts of one contended workload: where, on which items, how many writes per region."""

    table_name: str
    regions: list[str]
    items: list[str]
    writes_per_region: int
    timeout_s: float
    seed: int

    @staticmethod
    def key(item: str) -> dict[str, Any]:
        return {"PK": {"S": item}, "SK": {"S": SORT_KEY}}

    def add_tokens(self, clients: AwsClients, number: int, start: threading.Barrier) -> TokensAdded:
        """Region ``number``'s writer: each write adds one token to an item picked at random; right after
        it is acknowledged, the next region reads the item, strongly consistent."""
        region = self.regions[number]
        client = unretried_client(clients, region)
        reader = unretried_client(clients, self.regions[(number + 1) % len(self.regions)])
        rng = random.Random(self.seed * 100 + number)
        throttles, conflicts = ThrottleCount(), ConflictCount()
        tokens: list[tuple[str, str]] = []
        stale = 0
        start.wait()
        for index in range(self.writes_per_region):
            item, token = rng.choice(self.items), f"{region}#{index:04d}"
            update = functools.partial(
                client.update_item,
                TableName=self.table_name,
                Key=self.key(item),
                UpdateExpression="ADD tokens :t SET last_writer = :w, entity = :e",
                ExpressionAttributeValues={":t": {"SS": [token]}, ":w": {"S": region}, ":e": {"S": "contended"}},
            )
            call_backing_off(update, throttles, self.timeout_s, conflicts=conflicts)
            tokens.append((item, token))
            read = functools.partial(
                reader.get_item, TableName=self.table_name, Key=self.key(item), ConsistentRead=True
            )
            found = call_backing_off(read, throttles, self.timeout_s).get("Item", {})
            stale += token not in found.get("tokens", {}).get("SS", [])
        tally = RegionTally(
            region=region,
            writes=len(tokens),
            reads=len(tokens),
            stale_reads=stale,
            throttles=throttles.total,
            conflicts_retried=conflicts.total,
        )
        return TokensAdded(tally=tally, tokens=tokens)


def contended_workload(
    clients: AwsClients,
    regions: list[str],
    table_name: str,
    consistency: Consistency,
    scenario: str,
    keys: int = 4,
    writes_per_region: int = 12,
    timeout_s: float = 60.0,
    seed: int = 0,
) -> ContendedOutcome:
    """Every region adds its own tokens to the same ``keys`` items at once (``UpdateItem ADD`` to a string
    set, an item picked at random each time); right after each acknowledged write, the next region reads
    the item (``ConsistentRead=True``, the strongest read either mode offers) and counts it stale if the
    token is not there. Then, once every region holds identical items, counts the acknowledged tokens
    the items do not hold: updates lost.

    Eventual: the write is acknowledged by its own region and replicates after; the item replicates
    whole, so a concurrent write in another region replaces it (last writer wins) and takes the tokens it
    did not hold with it. Strong: the write is acknowledged once a second region has it, a concurrent write
    from another region is refused (``ReplicatedWriteConflictException``, counted and retried), and the
    ``ADD`` applies to the latest item, so nothing is lost and no strongly consistent read is stale."""
    marker = uuid.uuid4().hex[:8]
    items = [f"{CONTENDED_PREFIX}#{marker}#{i:03d}" for i in range(keys)]
    contention = _Contention(table_name, regions, items, writes_per_region, timeout_s, seed)
    added: dict[str, TokensAdded] = {}
    start = threading.Barrier(len(regions), timeout=120)  # a writer that died must not hang the others

    def writer(number: int, region: str) -> None:
        added[region] = contention.add_tokens(clients, number, start)

    run_together([(writer, (n, r)) for n, r in enumerate(regions)])
    return _count_losses(clients, contention, [added[region] for region in regions], consistency, scenario)


def _count_losses(
    clients: AwsClients, contention: _Contention, added: list[TokensAdded], consistency: Consistency, scenario: str
) -> ContendedOutcome:
    """Once every region holds identical items: per region, the acknowledged tokens they do not hold
    (updates lost), and over all, the tokens they hold that nobody had acknowledged."""
    acknowledged: dict[str, set[str]] = {item: set() for item in contention.items}
    for tokens_added in added:
        for item, token in tokens_added.tokens:
            acknowledged[item].add(token)
    written = [item for item in contention.items if acknowledged[item]]
    convergence = wait_for_convergence(
        clients, contention.regions, contention.table_name, written, contention.timeout_s
    )
    digests = {digest_of_items(r, items.values()).sha256 for r, items in convergence.items.items()}
    kept = {item: set(convergence.agreed_items[item].get("tokens", {}).get("SS", [])) for item in written}
    per_region = [
        tokens_added.tally.model_copy(
            update={"lost_updates": sum(token not in kept[item] for item, token in tokens_added.tokens)}
        )
        for tokens_added in added
    ]
    return ContendedOutcome(
        consistency=consistency,
        table_name=contention.table_name,
        scenario=scenario,
        keys=len(contention.items),
        per_region=per_region,
        converged_after_s=convergence.seconds,
        identical_everywhere=len(digests) == 1,
        values_nobody_wrote=sum(len(kept[item] - acknowledged[item]) for item in written),
    )


def side_by_side(
    clients: AwsClients,
    run: RunState,
    plan: CompanionPlan,
    delay: str | None,
    keys: int = 4,
    writes_per_region: int = 12,
) -> list[ContendedOutcome]:
    """The contended workload on the run's table and, when ``plan`` allows, on a companion table of the
    other mode (created here, recorded first, removed at the end), each in its replica regions under the
    same replication delay; eventual first. A step that fails midway leaves the companion in the
    manifest, for the next run of this step or for cleanup."""
    timeout = run.params.wait_timeout_s
    run_mode: Consistency = plan.run_consistency
    tables = [(run_mode, run.names.table_name, list(run.params.regions))]
    if plan.available:
        ensure_companion(clients, run, plan)
        tables.append((plan.consistency, plan.table_name, plan.regions))
    outcomes_by_mode = []
    with replication_delay(clients, delay) as scenario:
        for mode, table_name, regions in sorted(tables, key=lambda entry: entry[0]):
            outcomes_by_mode.append(
                contended_workload(
                    clients, regions, table_name, mode, scenario, keys, writes_per_region, timeout, seed=len(regions)
                )
            )
    if plan.available:
        remove_companion(clients, run, plan)
    return outcomes_by_mode


def check_side(outcome: ContendedOutcome) -> None:
    """Raises AssertionError unless the replicas converged to identical items holding only written values,
    and, on a strong table, no strongly consistent read missed an acknowledged write and nothing was lost."""
    if not outcome.identical_everywhere:
        raise AssertionError(f"{outcome.label}: replicas differ after convergence")
    if outcome.values_nobody_wrote:
        raise AssertionError(f"{outcome.label}: {outcome.values_nobody_wrote} values nobody wrote")
    if outcome.consistency == "strong":
        if outcome.total("stale_reads"):
            raise AssertionError(f"strong: {outcome.total('stale_reads')} strongly consistent reads were stale")
        if outcome.total("lost_updates"):
            raise AssertionError(f"strong: {outcome.total('lost_updates')} acknowledged updates lost")
