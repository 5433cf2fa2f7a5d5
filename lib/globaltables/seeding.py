"""Sample data for the global table, written fast and verified item by item in every replica.

Fixes of the recipe: numbers are ``Decimal`` (boto3 refuses floats) and every failed write is counted
and fails the step instead of being printed and ignored (defect 7); replicas are compared by
checksums of their items, never by ``ItemCount``, which AWS refreshes about every six hours (14).
The defects are described in docs/recipe-defects.md.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import botocore.exceptions
from boto3.dynamodb.types import TypeSerializer
from pydantic import BaseModel, Field

from globaltables.clients import AwsClients
from globaltables.errors import SeedingFailed
from globaltables.progress import progress
from globaltables.waiting import wait_until

BATCH_SIZE = 25  # BatchWriteItem's limit
CATEGORIES = ["ELECTRONICS", "BOOKS", "HOME", "SPORTS", "TOYS"]
ORDER_STATUSES = ["PENDING", "SHIPPED", "DELIVERED", "CANCELLED"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def to_dynamodb_numbers(value: Any) -> Any:
    """Floats become ``Decimal`` (through their shortest repr, so 99.99 stays 99.99), recursively."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: to_dynamodb_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_dynamodb_numbers(v) for v in value]
    return value


def sample_items(count: int, seed: int = 42) -> list[dict[str, Any]]:
    """``count`` items of a small shop, the same for the same seed: products (a tenth), users (a fifth)
    and their orders (the rest), with GSI1 keys for the access patterns "active profiles", "orders by
    status, newest first" and "products by category"."""
    rng = random.Random(seed)
    products = max(1, count // 10)
    users = max(1, min(count - products, count // 5)) if count > 1 else 0
    orders = count - products - users
    items: list[dict[str, Any]] = []
    for p in range(products):
        category = rng.choice(CATEGORIES)
        items.append(
            {
                "PK": f"PRODUCT#p{p:06d}",
                "SK": "DETAILS",
                "GSI1PK": f"PRODUCT#{category}",
                "GSI1SK": f"PRODUCT#p{p:06d}",
                "entity": "product",
                "name": f"{category.title()} item {p}",
                "price": Decimal(f"{rng.uniform(2, 500):.2f}"),
                "inventory": rng.randint(0, 1000),
            }
        )
    for u in range(users):
        status = "ACTIVE" if rng.random() < 0.8 else "INACTIVE"
        items.append(
            {
                "PK": f"USER#u{u:06d}",
                "SK": "PROFILE",
                "GSI1PK": f"PROFILE#{status}",
                "GSI1SK": f"USER#u{u:06d}",
                "entity": "user",
                "email": f"user{u}@example.com",
                "name": f"User {u}",
                "created_at": (EPOCH + timedelta(minutes=rng.randint(0, 500_000))).isoformat(),
            }
        )
    for o in range(orders):
        user = rng.randrange(max(users, 1))
        status = rng.choice(ORDER_STATUSES)
        placed = (EPOCH + timedelta(seconds=rng.randint(0, 30_000_000))).isoformat()
        items.append(
            {
                "PK": f"USER#u{user:06d}",
                "SK": f"ORDER#o{o:07d}",
                "GSI1PK": f"ORDER#{status}",
                "GSI1SK": placed,
                "entity": "order",
                "amount": Decimal(f"{rng.uniform(5, 900):.2f}"),
                "currency": rng.choice(["USD", "EUR", "SGD"]),
                "products": [f"p{rng.randrange(products):06d}" for _ in range(rng.randint(1, 4))],
            }
        )
    return items


def gsi_partition_counts(items: Iterable[dict[str, Any]]) -> Counter:
    return Counter(item["GSI1PK"] for item in items)


class WriteReport(BaseModel):
    items: int
    threads: int  # BatchWriteItem calls in flight at once
    written: int
    failed: int
    retried_unprocessed: int
    seconds: float
    errors: list[str] = Field(default_factory=list)

    @property
    def items_per_s(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0

    def raise_for_failures(self) -> WriteReport:
        """Fail loudly when any item was not written (the recipe printed errors and reported success)."""
        if self.failed:
            raise SeedingFailed(self)
        return self


def write_items(
    clients: AwsClients,
    region: str,
    table_name: str,
    items: list[dict[str, Any]],
    threads: int = 8,
    show_progress: bool = True,
    max_attempts: int = 8,
    backoff_s: float = 0.05,
) -> WriteReport:
    """BatchWriteItem in parallel: 25 items a call, ``threads`` calls at once; unprocessed items are
    retried with exponential backoff (up to ``max_attempts`` calls a batch). Counts every failure."""
    client = clients.client("dynamodb", region)
    serialize = TypeSerializer().serialize
    batches = [items[i : i + BATCH_SIZE] for i in range(0, len(items), BATCH_SIZE)]

    def write_batch(batch: list[dict[str, Any]]) -> tuple[int, int, int, str | None]:
        requests = [{"PutRequest": {"Item": {k: serialize(v) for k, v in item.items()}}} for item in batch]
        retried = 0
        for attempt in range(max_attempts):
            try:
                response = client.batch_write_item(RequestItems={table_name: requests})
            except botocore.exceptions.ClientError as error:
                return (
                    0,
                    len(batch),
                    retried,
                    f"{error.response['Error']['Code']}: {error.response['Error']['Message']}",
                )
            requests = response.get("UnprocessedItems", {}).get(table_name, [])
            if not requests:
                return len(batch), 0, retried, None
            retried += len(requests)
            time.sleep(backoff_s * 2**attempt)
        return len(batch) - len(requests), len(requests), retried, f"{len(requests)} items still unprocessed"

    written = failed = retried = 0
    errors: list[str] = []
    started = time.perf_counter()
    with (
        ThreadPoolExecutor(max_workers=threads) as pool,
        progress(total=len(items), desc=f"writing to {region}", unit="item", disable=not show_progress) as bar,
    ):
        futures = [pool.submit(write_batch, batch) for batch in batches]
        for future in as_completed(futures):
            ok, bad, again, error = future.result()
            written, failed, retried = written + ok, failed + bad, retried + again
            if error:
                errors.append(error)
            bar.update(ok + bad)
    return WriteReport(
        items=len(items),
        threads=threads,
        written=written,
        failed=failed,
        retried_unprocessed=retried,
        seconds=round(time.perf_counter() - started, 3),
        errors=errors,
    )


class TableDigest(BaseModel):
    region: str
    items: int
    sha256: str


def _canonical(value: Any) -> Any:
    """Typed JSON with numbers in one form: DynamoDB returns 12.30 as 12.3, and sets in any order."""
    if isinstance(value, dict):
        if len(value) == 1 and "N" in value:
            return {"N": str(Decimal(value["N"]).normalize())}
        if len(value) == 1 and "NS" in value:
            return {"NS": sorted(str(Decimal(n).normalize()) for n in value["NS"])}
        if len(value) == 1 and "SS" in value:
            return {"SS": sorted(value["SS"])}
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def item_digest(item: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(_canonical(item), sort_keys=True, default=str).encode()).hexdigest()


def digest_of_items(region: str, items: Iterable[dict[str, Any]]) -> TableDigest:
    """An order-independent checksum of items in DynamoDB's typed JSON (what a scan returns)."""
    hashes = sorted(item_digest(item) for item in items)
    return TableDigest(region=region, items=len(hashes), sha256=hashlib.sha256("".join(hashes).encode()).hexdigest())


def expected_digest(items: list[dict[str, Any]]) -> TableDigest:
    serialize = TypeSerializer().serialize
    return digest_of_items("expected", ({k: serialize(v) for k, v in item.items()} for item in items))


SAMPLE_ENTITIES = ("product", "user", "order")


def table_digest(
    clients: AwsClients, region: str, table_name: str, entities: tuple[str, ...] | None = None
) -> TableDigest:
    """Checksum of every item the table in ``region`` holds (a full, strongly consistent scan), or of
    the items whose ``entity`` is one of ``entities``."""
    paginator = clients.client("dynamodb", region).get_paginator("scan")
    pages = paginator.paginate(TableName=table_name, ConsistentRead=True)
    items = (item for page in pages for item in page["Items"])
    if entities is not None:
        items = (item for item in items if item.get("entity", {}).get("S") in entities)
    return digest_of_items(region, items)


def count_items(clients: AwsClients, region: str, table_name: str) -> int:
    paginator = clients.client("dynamodb", region).get_paginator("scan")
    return sum(page["Count"] for page in paginator.paginate(TableName=table_name, Select="COUNT", ConsistentRead=True))


class ReplicationSample(BaseModel):
    seconds: float
    region: str
    items: int


class ReplicaWatch:
    """Counts the items visible in each region, in the background, while data is written and replicates."""

    def __init__(self, clients: AwsClients, regions: list[str], table_name: str, interval_s: float = 0.2):
        self.clients, self.regions, self.table_name, self.interval_s = clients, regions, table_name, interval_s
        self.samples: list[ReplicationSample] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> dict[str, int]:
        counts = {}
        for region in self.regions:
            counts[region] = count_items(self.clients, region, self.table_name)
            self.samples.append(
                ReplicationSample(
                    seconds=round(time.monotonic() - self._started, 3), region=region, items=counts[region]
                )
            )
        return counts

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def wait_for(self, expected_items: int, timeout_s: float) -> list[ReplicationSample]:
        """Until every region shows ``expected_items``; stops watching and returns the samples."""
        self._stop.set()
        self._thread.join()

        def probe() -> tuple[bool, dict[str, int]]:
            counts = self._sample()
            return all(c >= expected_items for c in counts.values()), counts

        try:
            wait_until(probe, f"{expected_items} items in every replica", timeout_s, self.interval_s)
        finally:
            self._stop.set()
        return self.samples


def gsi_counts(
    clients: AwsClients, regions: list[str], table_name: str, partitions: list[str], index_name: str = "GSI1"
) -> list[dict[str, Any]]:
    """Per region, how many items each GSI1 partition returns (a Query per partition, all pages)."""
    rows = []
    for region in regions:
        paginator = clients.client("dynamodb", region).get_paginator("query")
        row: dict[str, Any] = {"region": region}
        for partition in partitions:
            pages = paginator.paginate(
                TableName=table_name,
                IndexName=index_name,
                KeyConditionExpression="GSI1PK = :p",
                ExpressionAttributeValues={":p": {"S": partition}},
                Select="COUNT",
            )
            row[partition] = sum(page["Count"] for page in pages)
        rows.append(row)
    return rows
