"""Conflicting writes from every region, convergence, and patterns that keep business data safe.

Global tables resolve concurrent writes to the same item with last writer wins, on a timestamp that
DynamoDB assigns, per item: the whole item of the later write replaces the other everywhere. The
recipe's conflict test wrote from two regions, compared nothing, and reasoned with the client's clock
(defect 15). Here every region writes, convergence is checked item by item, and the demonstrations
show what last writer wins does to read-modify-write and counters, and what to do instead.

The storm's writes and the convergence polls (strongly consistent BatchGetItem every 50 ms in every
region) can exceed a provisioned table's capacity: they go through clients with boto3's retries off
(``throttling.unretried_client``), and each ``ProvisionedThroughputExceededException`` or round of
``UnprocessedKeys`` is counted (``Convergence.throttles``, a ``ThrottleCount`` for the writes) and
backed off (capped exponential backoff with full jitter, ``throttling.Backoff``), bounded by a deadline.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.embedded_admin import EmbeddedAWSAdmin
from globaltables.parallel import run_together
from globaltables.seeding import digest_of_items
from globaltables.throttling import Backoff, ThrottleCount, is_throttle, unretried_client
from globaltables.waiting import wait_until

SORT_KEY = "CONFLICT"


class ConflictWrite(BaseModel):
    key: str
    region: str
    value: str
    client_clock: float  # the writer's own (possibly skewed) clock: what a client would compare
    acknowledged: float  # time.monotonic() when the write returned


THROTTLED_CALL_TIMEOUT_S = 120.0  # how long one call may stay throttled before its error is raised


def call_backing_off(
    call: Any, throttles: ThrottleCount | None, timeout_s: float = THROTTLED_CALL_TIMEOUT_S, cap_s: float = 1.0
) -> Any:
    """``call()``, sent again after a capped exponential backoff with jitter while it is throttled, each
    throttle added to ``throttles``; the throttle is raised after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    backoff = Backoff(cap_s=cap_s)
    while True:
        try:
            return call()
        except Exception as error:
            if not is_throttle(error):
                raise
            if throttles is not None:
                throttles.add()
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
) -> tuple[list[str], list[ConflictWrite]]:
    """Every region updates the same ``keys`` items at the same time (``rounds`` times each, in its own
    random order), stamping its own clock, skewed by ``clock_skew_s[region]``. Returns keys and writes;
    a throttled update is backed off and sent again, and counted in ``throttles``."""
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
                call_backing_off(update, throttles)
                with lock:
                    writes.append(
                        ConflictWrite(
                            key=key, region=region, value=value, client_clock=clock, acknowledged=time.monotonic()
                        )
                    )

    run_together([(writer, (r, n)) for n, r in enumerate(regions)])
    return names, writes


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


class ConvergenceSample(BaseModel):
    seconds: float
    diverging_keys: int


class Convergence(BaseModel):
    seconds: float
    samples: list[ConvergenceSample]
    throttles: int = 0  # polls throttled (or with unprocessed keys), backed off and sent again
    items: dict[str, dict[str, dict[str, Any]]]  # region -> key -> item


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


class Outcome(BaseModel):
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


def check_converged(writes: list[ConflictWrite], convergence: Convergence) -> dict[str, Any]:
    """Raises AssertionError unless every replica holds identical items, each a value that was written."""
    digests = {region: digest_of_items(region, items.values()).sha256 for region, items in convergence.items.items()}
    if len(set(digests.values())) != 1:
        raise AssertionError(f"replicas differ after convergence: {digests}")
    written = {(w.key, w.value) for w in writes}
    final = next(iter(convergence.items.values()))
    strays = [key for key, item in final.items() if (key, item["value"]["S"]) not in written]
    if strays:
        raise AssertionError(f"values nobody wrote: {strays[:5]}")
    return {"regions": len(digests), "items": len(final), "sha256": next(iter(digests.values()))}


def winner_counts(rows: list[Outcome]) -> dict[str, int]:
    return dict(Counter(row.winner for row in rows))


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


class VersionConflict(RuntimeError):
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
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise VersionConflict(f"{key} is no longer at version {expected_version}") from None
        raise
    return new_version


def optimistic_increments(
    client: Any, table_name: str, key: dict[str, Any], writers: int, increments: int
) -> dict[str, int]:
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
    return {
        "expected": writers * increments,
        "balance": int(final["balance"]["N"]),
        "conflicts_retried": sum(retried.values()),
    }


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
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
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


def counter_demo(
    clients: AwsClients, regions: list[str], table_name: str, increments: int, timeout_s: float
) -> dict[str, Any]:
    """Every region adds 1 ``increments`` times, and retries each request once (as after a timeout).

    Naive: all regions ``ADD`` to one shared item; last writer wins per item, so increments made in one
    region are overwritten by another's. Safe: each region adds to its own shard item (the region is the
    sort key), conditionally on the request id not being applied yet, and the total is the sum of the
    shards. (Keep the applied ids bounded in production, e.g. per day; here they are few.)"""
    name = f"demo-{uuid.uuid4().hex[:8]}"

    def region_writer(region: str) -> None:
        client = clients.client("dynamodb", region)
        for i in range(increments):
            client.update_item(
                TableName=table_name,
                Key={"PK": {"S": f"COUNTER#{name}-naive"}, "SK": {"S": "shared"}},
                UpdateExpression="ADD #t :one SET entity = :e",
                ExpressionAttributeNames={"#t": "total"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":e": {"S": "counter"}},
            )
            request = f"{name}-{region}-{i}"
            idempotent_add(client, table_name, name, region, request, 1)
            idempotent_add(client, table_name, name, region, request, 1)  # the retry: applied once only

    run_together([(region_writer, (r,)) for r in regions])
    expected = increments * len(regions)

    def settled() -> tuple[bool, dict[str, Any]]:
        naive = {r: counter_total(clients.client("dynamodb", r), table_name, f"{name}-naive") for r in regions}
        safe = {r: counter_total(clients.client("dynamodb", r), table_name, name) for r in regions}
        return len(set(naive.values())) == 1 and set(safe.values()) == {expected}, {"naive": naive, "safe": safe}

    totals = wait_until(settled, "counters identical in every region", timeout_s, 0.05)
    return {
        "expected": expected,
        "naive_total": next(iter(totals["naive"].values())),
        "sharded_idempotent_total": next(iter(totals["safe"].values())),
    }


def cross_region_version_race(
    clients: AwsClients, regions: list[str], table_name: str, timeout_s: float
) -> dict[str, Any]:
    """Two regions update the same item at version 1 at the same moment. Each region checks the condition
    against its own replica, so both writes are accepted, and one of them is then lost to last writer
    wins: version checks protect within a region only. Route an item's writes to one home region."""
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
        start.wait()
        try:
            versioned_put(clients.client("dynamodb", region), table_name, key, {"owner": {"S": region}}, 1)
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
    return {"accepted": accepted, "final_owner": owners.pop(), "lost_update": sum(accepted.values()) > 1}
