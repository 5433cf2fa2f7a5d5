"""03_seed_data's library: Decimal numbers and counted failures (recipe defect 7, docs/recipe-defects.md), checksums instead of
ItemCount (defect 14), retries of unprocessed items."""

from decimal import Decimal

import pytest
from globaltables.clients import AwsClients
from globaltables.seeding import (
    ReplicaWatch,
    SeedingFailed,
    expected_digest,
    gsi_counts,
    gsi_partition_counts,
    sample_items,
    table_digest,
    to_dynamodb_numbers,
    write_items,
)

from tests.unit.local.helpers import add_replica, create_table


def test_sample_items_are_deterministic_unique_and_use_decimal():
    first, again, other = sample_items(500, seed=7), sample_items(500, seed=7), sample_items(500, seed=8)
    assert first == again and first != other
    assert len(first) == 500 and len({(i["PK"], i["SK"]) for i in first}) == 500
    assert {i["entity"] for i in first} == {"product", "user", "order"}
    numbers = [v for item in first for v in item.values() if isinstance(v, int | float | Decimal)]
    assert numbers and not any(isinstance(v, float) for v in numbers)
    assert all(i["GSI1PK"] and i["GSI1SK"] for i in first)


def test_floats_become_decimals_that_keep_their_value():
    converted = to_dynamodb_numbers({"price": 99.99, "nested": [{"x": 0.1}], "count": 3, "name": "a"})
    assert converted == {"price": Decimal("99.99"), "nested": [{"x": Decimal("0.1")}], "count": 3, "name": "a"}


@pytest.fixture
def global_table(clients):
    ddb = clients.client("dynamodb", "us-east-1")
    name = create_table(ddb)
    add_replica(ddb, name, "eu-west-1")
    return name


def test_seeded_items_reach_every_replica_identically(clients, admin, global_table):
    items = sample_items(400, seed=1)
    watch = ReplicaWatch(clients, ["us-east-1", "eu-west-1"], global_table, interval_s=0.05)
    report = write_items(clients, "us-east-1", global_table, items, threads=4, show_progress=False)
    assert (report.written, report.failed) == (400, 0)
    samples = watch.wait_for(400, timeout_s=30)
    assert {s.region for s in samples} == {"us-east-1", "eu-west-1"}
    assert max(s.items for s in samples if s.region == "eu-west-1") == 400
    expected = expected_digest(items)
    for region in ("us-east-1", "eu-west-1"):
        digest = table_digest(clients, region, global_table)
        assert (digest.items, digest.sha256) == (expected.items, expected.sha256)
    counts = gsi_counts(clients, ["us-east-1", "eu-west-1"], global_table, ["ORDER#PENDING", "PROFILE#ACTIVE"])
    wanted = gsi_partition_counts(items)
    assert all(row[p] == wanted[p] for row in counts for p in ("ORDER#PENDING", "PROFILE#ACTIVE"))


def test_checksums_catch_a_replica_that_item_counts_call_equal(clients, admin, global_table):
    items = sample_items(50, seed=2)
    write_items(clients, "us-east-1", global_table, items, show_progress=False).raise_for_failures()
    admin.wait_until_replicated()
    admin.pause_replication("eu-west-1")
    changed = dict(items[0], name="changed while replication was paused")
    write_items(clients, "eu-west-1", global_table, [changed], show_progress=False)
    east, west = (table_digest(clients, r, global_table) for r in ("us-east-1", "eu-west-1"))
    assert east.items == west.items == 50  # what ItemCount would compare
    assert east.sha256 != west.sha256  # what the checksum sees


def test_failed_writes_are_counted_and_fail_loudly(clients):
    report = write_items(clients, "us-east-1", "no-such-table", sample_items(30), show_progress=False)
    assert (report.written, report.failed) == (0, 30)
    assert "ResourceNotFoundException" in report.errors[0]
    with pytest.raises(SeedingFailed, match="30 of 30 items were not written"):
        report.raise_for_failures()


class _Throttled:
    """A DynamoDB client that leaves part of each batch unprocessed for the first calls, as AWS does under throttling."""

    def __init__(self, real, unprocessed_calls):
        self.real, self.left, self.calls = real, unprocessed_calls, 0

    def batch_write_item(self, RequestItems):
        self.calls += 1
        [(table, requests)] = RequestItems.items()
        if self.left > 0:
            self.left -= 1
            self.real.batch_write_item(RequestItems={table: requests[:5]})
            return {"UnprocessedItems": {table: requests[5:]}}
        return self.real.batch_write_item(RequestItems=RequestItems)


def test_unprocessed_items_are_retried_until_written(clients, embedded_aws):
    name = create_table(clients.client("dynamodb", "us-east-1"))
    throttled = _Throttled(clients.client("dynamodb", "us-east-1"), unprocessed_calls=3)

    class Clients(AwsClients):
        def client(self, service, region):
            return throttled

    report = write_items(
        Clients("local", embedded_aws.endpoint),
        "us-east-1",
        name,
        sample_items(25),
        threads=1,
        show_progress=False,
        backoff_s=0.001,
    )
    assert (report.written, report.failed) == (25, 0)
    assert report.retried_unprocessed == 20 + 15 + 10
    assert throttled.calls == 4


def test_items_left_unprocessed_after_every_attempt_are_failures(clients, embedded_aws):
    name = create_table(clients.client("dynamodb", "us-east-1"))
    throttled = _Throttled(clients.client("dynamodb", "us-east-1"), unprocessed_calls=100)

    class Clients(AwsClients):
        def client(self, service, region):
            return throttled

    report = write_items(
        Clients("local", embedded_aws.endpoint),
        "us-east-1",
        name,
        sample_items(25),
        threads=1,
        show_progress=False,
        max_attempts=2,
        backoff_s=0.001,
    )
    assert report.failed > 0 and report.written + report.failed == 25
