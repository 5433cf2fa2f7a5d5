"""Replication between replicas: every write API, GSIs and streams, no echo, last writer wins, metrics."""

import datetime

import botocore.exceptions
import pytest

from tests.unit.local.helpers import add_replica, create_table, item, poll, scan_all, wait_global_table_active

EAST, WEST, ASIA = "us-east-1", "eu-west-1", "ap-southeast-1"
REGIONS = (EAST, WEST, ASIA)


@pytest.fixture
def ddb(clients):
    return {region: clients.client("dynamodb", region) for region in REGIONS}


@pytest.fixture
def global_table(ddb):
    name = create_table(ddb[EAST])
    add_replica(ddb[EAST], name, WEST)
    add_replica(ddb[EAST], name, ASIA)
    return name


def converged(ddb, name, admin):
    admin.wait_until_replicated()
    scans = {region: scan_all(ddb[region], name) for region in REGIONS}
    assert scans[EAST] == scans[WEST] == scans[ASIA]
    return scans[EAST]


def test_existing_items_are_copied_to_a_new_replica(ddb, admin):
    name = create_table(ddb[EAST])
    ddb[EAST].put_item(TableName=name, Item=item("before", v=1))
    add_replica(ddb[EAST], name, WEST)
    assert scan_all(ddb[WEST], name) == [item("before", v=1)]


@pytest.mark.parametrize("writer", REGIONS)
def test_put_update_delete_replicate_from_any_region(ddb, admin, global_table, writer):
    client = ddb[writer]
    client.put_item(TableName=global_table, Item=item("u1", v=1, GSI1PK="ACTIVE", GSI1SK="u1"))
    client.put_item(TableName=global_table, Item=item("u2", v=2))
    client.update_item(
        TableName=global_table,
        Key={"PK": {"S": "u1"}, "SK": {"S": "A"}},
        UpdateExpression="SET v = v + :one, note = :note",
        ExpressionAttributeValues={":one": {"N": "1"}, ":note": {"S": f"from {writer}"}},
    )
    client.update_item(  # an update that creates its item
        TableName=global_table,
        Key={"PK": {"S": "u3"}, "SK": {"S": "A"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "3"}},
    )
    client.delete_item(TableName=global_table, Key={"PK": {"S": "u2"}, "SK": {"S": "A"}})
    items = converged(ddb, global_table, admin)
    assert [i["PK"]["S"] for i in items] == ["u1", "u3"]
    assert items[0]["v"] == {"N": "2"} and items[0]["note"] == {"S": f"from {writer}"}
    for region in REGIONS:  # GSIs answer in every region
        found = ddb[region].query(
            TableName=global_table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :p",
            ExpressionAttributeValues={":p": {"S": "ACTIVE"}},
        )["Items"]
        assert [i["PK"]["S"] for i in found] == ["u1"]


def test_batch_and_transactional_writes_replicate(ddb, admin, global_table):
    ddb[WEST].batch_write_item(
        RequestItems={global_table: [{"PutRequest": {"Item": item(f"b{i}", v=i)}} for i in range(25)]}
    )
    ddb[ASIA].transact_write_items(
        TransactItems=[
            {"Put": {"TableName": global_table, "Item": item("t1", v=1)}},
            {"Delete": {"TableName": global_table, "Key": {"PK": {"S": "b0"}, "SK": {"S": "A"}}}},
            {
                "Update": {
                    "TableName": global_table,
                    "Key": {"PK": {"S": "b1"}, "SK": {"S": "A"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "100"}},
                }
            },
        ]
    )
    items = converged(ddb, global_table, admin)
    keys = {i["PK"]["S"]: i.get("v", {}).get("N") for i in items}
    assert len(keys) == 25 and "b0" not in keys and keys["t1"] == "1" and keys["b1"] == "100"


def test_failed_transaction_replicates_nothing(ddb, admin, global_table):
    ddb[EAST].put_item(TableName=global_table, Item=item("guard", v=1))
    admin.wait_until_replicated()
    with pytest.raises(botocore.exceptions.ClientError):
        ddb[EAST].transact_write_items(
            TransactItems=[
                {"Put": {"TableName": global_table, "Item": item("ghost", v=1)}},
                {
                    "ConditionCheck": {
                        "TableName": global_table,
                        "Key": {"PK": {"S": "guard"}, "SK": {"S": "A"}},
                        "ConditionExpression": "v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
            ]
        )
    items = converged(ddb, global_table, admin)
    assert [i["PK"]["S"] for i in items] == ["guard"]


def test_replicated_writes_appear_in_each_regions_stream_once_and_do_not_echo(ddb, clients, admin, global_table):
    ddb[EAST].put_item(TableName=global_table, Item=item("s1", v=1))
    admin.wait_until_replicated()
    for region in REGIONS:
        records = stream_records(clients, ddb[region], global_table, region)
        assert [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in records] == [("INSERT", "s1")]
        assert records[0]["awsRegion"] == region
        assert records[0]["dynamodb"]["NewImage"]["v"] == {"N": "1"}
    # Nothing came back to the writer: one delivery per other replica.
    assert admin.status()["backlog"] == 0


def stream_records(clients, ddb_client, table_name, region):
    streams = clients.client("dynamodbstreams", region)
    arn = ddb_client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    return streams.get_records(ShardIterator=iterator)["Records"]


def test_concurrent_writes_converge_to_the_last_writer(ddb, admin, global_table):
    admin.configure(delay="fixed:200")
    for order, region in enumerate(REGIONS):
        ddb[region].put_item(TableName=global_table, Item=item("hot", writer=region, order=order))
    # Before replication each region sees its own write ...
    assert {
        ddb[r].get_item(TableName=global_table, Key={"PK": {"S": "hot"}, "SK": {"S": "A"}})["Item"]["writer"]["S"]
        for r in REGIONS
    } == set(REGIONS)
    # ... after it, all hold the write acknowledged last.
    [winner] = converged(ddb, global_table, admin)
    assert winner["writer"] == {"S": ASIA}


def test_a_delete_after_a_put_elsewhere_wins_and_stays_deleted(ddb, admin, global_table):
    ddb[EAST].put_item(TableName=global_table, Item=item("gone", v=1))
    admin.wait_until_replicated()
    admin.configure(delay="fixed:100")
    ddb[WEST].put_item(TableName=global_table, Item=item("gone", v=2))
    ddb[EAST].delete_item(TableName=global_table, Key={"PK": {"S": "gone"}, "SK": {"S": "A"}})
    # The older put from WEST arrives in EAST after the delete: the tombstone keeps it out.
    assert converged(ddb, global_table, admin) == []


def test_replication_latency_is_published_in_the_sending_region(ddb, clients, admin, global_table):
    admin.configure(delay="fixed:30")
    for i in range(5):
        ddb[EAST].put_item(TableName=global_table, Item=item(f"m{i}", v=i))
    admin.wait_until_replicated()
    now = datetime.datetime.now(datetime.UTC)

    def datapoints(region, receiving):
        return clients.client("cloudwatch", region).get_metric_statistics(
            Namespace="AWS/DynamoDB",
            MetricName="ReplicationLatency",
            Dimensions=[{"Name": "TableName", "Value": global_table}, {"Name": "ReceivingRegion", "Value": receiving}],
            StartTime=now - datetime.timedelta(minutes=10),
            EndTime=now + datetime.timedelta(minutes=1),
            Period=60,
            Statistics=["SampleCount", "Average", "Minimum", "Maximum"],
        )["Datapoints"]

    for receiving in (WEST, ASIA):
        points = datapoints(EAST, receiving)
        assert sum(p["SampleCount"] for p in points) == 5
        assert all(p["Unit"] == "Milliseconds" for p in points)
        assert min(p["Minimum"] for p in points) >= 30
        assert max(p["Maximum"] for p in points) < 5000
    # A receiving region equal to the sender never has data (recipe defect 8, docs/recipe-defects.md).
    assert datapoints(EAST, EAST) == []


def test_writes_to_a_replica_being_created_reach_it(ddb, admin):
    admin.configure(delay="fixed:100", replica_transition_s=0.3)
    name = create_table(ddb[EAST])
    ddb[EAST].put_item(TableName=name, Item=item("early", v=1))
    ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    ddb[EAST].put_item(TableName=name, Item=item("during", v=2))
    admin.wait_until_replicated()
    wait_global_table_active(ddb[EAST], name)  # a replica serves reads only once ACTIVE, as on AWS
    poll(lambda: len(scan_all(ddb[WEST], name)) == 2, what="both items in the new replica")
