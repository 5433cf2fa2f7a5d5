"""Stream records: built as moto builds them (with the table's region), SizeBytes measured at the first
read instead of at every change; a consumer reading through GetRecords sees complete records."""

from __future__ import annotations

import copy
import datetime
import itertools

import pytest
from globaltables.local.replication import records
from moto.dynamodb.models import table as moto_table
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, Table

from tests.unit.local.helpers import add_replica, create_table, item, unique_name, wait_global_table_active

STREAM_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
MOTO_INIT = getattr(StreamRecord.__init__, "__wrapped__", StreamRecord.__init__)
MOTO_TO_JSON = getattr(StreamRecord.to_json, "__wrapped__", StreamRecord.to_json)


@pytest.fixture
def same_ids_and_clock(monkeypatch):
    """moto's random event ids and its clock, made to repeat for each record built."""
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000)

    def restart() -> None:
        counter = itertools.count()
        uuid = type("Uuid", (), {"hex": property(lambda self: f"event{next(counter)}")})
        monkeypatch.setattr(moto_table.mock_random, "uuid4", lambda: uuid())
        monkeypatch.setattr(records.mock_random, "uuid4", lambda: uuid())

    monkeypatch.setattr(moto_table, "utcnow", lambda: moment)
    monkeypatch.setattr(records, "_clock", lambda: moment.replace(tzinfo=datetime.UTC).timestamp())
    return restart


def stored(pk: str, sk: str, **attributes: dict) -> Item:
    attrs = {"PK": {"S": pk}, "SK": {"S": sk}, **attributes}
    return Item(DynamoType({"S": pk}), DynamoType({"S": sk}), attrs)


def table(region: str = "eu-west-1") -> Table:
    return Table(
        "t",
        account_id="123456789012",
        region=region,
        schema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        attr=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
    )


BEFORE = stored("p", "s", n={"N": "1"}, tags={"SS": ["a", "b"]}, doc={"M": {"x": {"L": [{"S": "y"}]}}})
AFTER = stored("p", "s", n={"N": "2"}, tags={"SS": ["a"]}, blob={"B": "AAEC"}, doc={"M": {"x": {"L": []}}})
CHANGES = {"INSERT": (None, AFTER), "MODIFY": (BEFORE, AFTER), "REMOVE": (BEFORE, None)}


@pytest.mark.parametrize("stream_type", STREAM_TYPES)
@pytest.mark.parametrize("event_name", list(CHANGES))
def test_a_record_is_the_one_moto_builds_with_the_tables_region(same_ids_and_clock, stream_type, event_name):
    old, new = CHANGES[event_name]
    source = table("eu-west-1")
    same_ids_and_clock()
    theirs = StreamRecord.__new__(StreamRecord)
    MOTO_INIT(theirs, source, stream_type, event_name, copy.deepcopy(old), copy.deepcopy(new), 1100000000017454423042)
    same_ids_and_clock()
    ours = StreamRecord.__new__(StreamRecord)
    records.stream_record_init(ours, source, stream_type, event_name, old, new, 1100000000017454423042)
    ours_read = records.make_record_to_json(MOTO_TO_JSON)(ours)

    expected = {**theirs.to_json(), "awsRegion": "eu-west-1"}
    assert ours_read == expected
    assert list(ours_read["dynamodb"]) == list(expected["dynamodb"])  # same keys, same order
    assert ours_read["dynamodb"]["SizeBytes"] == theirs.to_json()["dynamodb"]["SizeBytes"] > 1


def test_an_item_changed_in_place_later_leaves_the_record_as_it_was(same_ids_and_clock):
    same_ids_and_clock()
    live = copy.deepcopy(AFTER)
    record = StreamRecord.__new__(StreamRecord)
    records.stream_record_init(record, table(), "NEW_AND_OLD_IMAGES", "INSERT", None, live, 1)
    live.attrs["n"] = DynamoType({"N": "99"})  # moto's update_item changes the stored item in place
    live.attrs["tags"].value.append("c")
    read = records.make_record_to_json(MOTO_TO_JSON)(record)
    assert read["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert read["dynamodb"]["NewImage"]["tags"] == {"SS": ["a"]}


def test_stream_consumers_get_complete_records_in_order(clients):
    dynamodb = clients.client("dynamodb", "eu-west-1")
    streams = clients.client("dynamodbstreams", "eu-west-1")
    name = create_table(dynamodb, unique_name("records"))
    dynamodb.put_item(TableName=name, Item=item("p1", v=1))
    dynamodb.update_item(
        TableName=name,
        Key={"PK": {"S": "p1"}, "SK": {"S": "A"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    dynamodb.delete_item(TableName=name, Key={"PK": {"S": "p1"}, "SK": {"S": "A"}})

    arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert {r["awsRegion"] for r in records} == {"eu-west-1"}
    keys = {"PK": {"S": "p1"}, "SK": {"S": "A"}}
    assert all(r["dynamodb"]["Keys"] == keys for r in records)
    insert, modify, remove = (r["dynamodb"] for r in records)
    assert insert["NewImage"] == {**keys, "v": {"N": "1"}} and "OldImage" not in insert
    assert modify["OldImage"] == {**keys, "v": {"N": "1"}} and modify["NewImage"] == {**keys, "v": {"N": "2"}}
    assert remove["OldImage"] == {**keys, "v": {"N": "2"}} and "NewImage" not in remove
    sequence = [int(r["SequenceNumber"]) for r in (insert, modify, remove)]
    assert sequence == sorted(sequence) and len(set(sequence)) == 3
    # moto's measure: the record's dynamodb part as JSON, more than the images alone.
    assert all(r["SizeBytes"] > 50 for r in (insert, modify, remove))
    assert remove["SizeBytes"] < modify["SizeBytes"]


def test_a_record_sharing_a_snapshot_reads_the_snapshot_not_the_item_changed_in_place_since(same_ids_and_clock):
    same_ids_and_clock()
    live, snapshot = copy.deepcopy(AFTER), copy.deepcopy(AFTER)
    record = StreamRecord.__new__(StreamRecord)
    with records.snapshot_images(live, snapshot):
        records.stream_record_init(record, table(), "NEW_AND_OLD_IMAGES", "MODIFY", BEFORE, live, 1)
    assert record.record["dynamodb"]["NewImage"] is None  # left to the first read
    live.attrs["n"] = DynamoType({"N": "99"})
    read = records.make_record_to_json(MOTO_TO_JSON)(record)
    assert read["dynamodb"]["NewImage"] == AFTER.to_json()["Attributes"]
    assert read["dynamodb"]["OldImage"] == BEFORE.to_json()["Attributes"]
    assert read["eventID"] and read["dynamodb"]["ApproximateCreationDateTime"] is not None


def test_replicated_and_local_records_keep_their_images_after_later_in_place_updates(clients, admin):
    """The source's record and each replica's share the replication's copy of the write until read;
    later update_items change the stored items in place, never those records."""
    primary, replica = "us-east-1", "eu-west-1"
    source = clients.client("dynamodb", primary)
    name = create_table(source, unique_name("lazy-records"))
    add_replica(source, name, replica)
    wait_global_table_active(source, name)
    source.put_item(TableName=name, Item=item("p1", v=1))
    admin.wait_until_replicated()
    for region in (primary, replica):
        clients.client("dynamodb", region).update_item(
            TableName=name,
            Key={"PK": {"S": "p1"}, "SK": {"S": "A"}},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"N": "7"}},
        )
    admin.wait_until_replicated()
    for region in (primary, replica):
        dynamodb, streams = clients.client("dynamodb", region), clients.client("dynamodbstreams", region)
        arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        found = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        assert found[0]["eventName"] == "INSERT", region
        assert found[0]["dynamodb"]["NewImage"]["v"] == {"N": "1"}, region
        assert {r["dynamodb"]["NewImage"]["v"]["N"] for r in found[1:]} == {"7"}, region
