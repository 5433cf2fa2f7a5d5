"""Multi-Region strong consistency (MRSC) global tables on the embedded AWS, through real boto3 calls:
the conversion and its refusals, dissolution, the write and read semantics, conflicts, the isolated
fault switch (MRSC and MREC) and snapshots."""

from __future__ import annotations

import threading
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest
from globaltables import regions
from globaltables.clients import LOCAL_CREDENTIALS, AwsClients
from globaltables.local import EmbeddedAWS
from globaltables.local.replication import strong

from tests.unit.local.helpers import add_replica, error_of, item, poll, scan_all, table_names, unique_name

HOME, REPLICA, WITNESS = "us-east-2", "us-east-1", "us-west-2"
US = (HOME, REPLICA, WITNESS)
KEY_SCHEMA = {
    "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
STRONG = "global tables with MultiRegionConsistency set to STRONG"
NO_RETRIES = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def ddb(clients):
    return {region: clients.client("dynamodb", region) for region in US}


@pytest.fixture
def faults(admin):
    """``admin``, whose teardown also ends isolation (tests/conftest.py)."""
    return admin


def impatient(embedded_aws, region):
    """No retries: a refusal shows at once instead of after botocore's backoff."""
    return boto3.client(
        "dynamodb", region_name=region, endpoint_url=embedded_aws.endpoint, config=NO_RETRIES, **LOCAL_CREDENTIALS
    )


def empty_table(client, **overrides) -> str:
    name = unique_name("mrsc")
    client.create_table(TableName=name, **{**KEY_SCHEMA, **overrides})
    return name


def convert(client, name, replicas=(REPLICA,), witness=WITNESS, **extra):
    arguments = {
        "TableName": name,
        "ReplicaUpdates": [{"Create": {"RegionName": region}} for region in replicas],
        "MultiRegionConsistency": "STRONG",
        **extra,
    }
    if witness:
        arguments["GlobalTableWitnessUpdates"] = [{"Create": {"RegionName": witness}}]
    return client.update_table(**arguments)["TableDescription"]


def all_active(client, name) -> dict | None:
    table = client.describe_table(TableName=name)["Table"]
    members = [r["ReplicaStatus"] for r in table.get("Replicas", [])]
    members += [w["WitnessStatus"] for w in table.get("GlobalTableWitnesses", [])]
    return table if table["TableStatus"] == "ACTIVE" and set(members) <= {"ACTIVE"} else None


def strong_table(ddb, witness=True) -> str:
    """An ACTIVE MRSC table: us-east-2 and us-east-1 with a us-west-2 witness, or three replicas."""
    name = empty_table(ddb[HOME])
    if witness:
        convert(ddb[HOME], name)
    else:
        convert(ddb[HOME], name, replicas=(REPLICA, WITNESS), witness=None)
    poll(lambda: all_active(ddb[HOME], name), what=f"{name} ACTIVE with its members")
    for region in (REPLICA,) if witness else (REPLICA, WITNESS):
        poll(lambda region=region: all_active(ddb[region], name), what=f"{name} ACTIVE in {region}")
    return name


def key(pk: str) -> dict:
    return {"PK": {"S": pk}, "SK": {"S": "A"}}


# ----- conversion and DescribeTable --------------------------------------------------------------------


def test_region_sets_are_the_libraries(clients):
    assert strong.MRSC_REGION_SETS == regions.MRSC_REGION_SETS


def test_conversion_goes_through_creating_to_active_and_every_member_describes_it(ddb):
    name = empty_table(ddb[HOME])
    answer = convert(ddb[HOME], name)
    assert answer["TableStatus"] == "UPDATING"
    assert answer["MultiRegionConsistency"] == "STRONG"
    assert answer["GlobalTableWitnesses"] == [{"RegionName": WITNESS, "WitnessStatus": "CREATING"}]
    assert [(r["RegionName"], r["ReplicaStatus"]) for r in answer["Replicas"]] == [(REPLICA, "CREATING")]
    home = poll(lambda: all_active(ddb[HOME], name))
    replica = poll(lambda: all_active(ddb[REPLICA], name))
    for table, other in ((home, REPLICA), (replica, HOME)):
        assert table["MultiRegionConsistency"] == "STRONG"
        assert table["GlobalTableVersion"] == "2019.11.21"
        assert table["GlobalTableWitnesses"] == [{"RegionName": WITNESS, "WitnessStatus": "ACTIVE"}]
        assert [(r["RegionName"], r["ReplicaStatus"]) for r in table["Replicas"]] == [(other, "ACTIVE")]
        assert "StreamSpecification" not in table  # AWS leaves an MRSC replica's stream off
    # The witness holds no table of the account's.
    assert error_of(ddb[WITNESS].describe_table, TableName=name)["Code"] == "ResourceNotFoundException"
    assert name not in table_names(ddb[WITNESS])


def test_three_replicas_without_a_witness(ddb):
    name = strong_table(ddb, witness=False)
    for region in US:
        table = ddb[region].describe_table(TableName=name)["Table"]
        assert table["MultiRegionConsistency"] == "STRONG" and "GlobalTableWitnesses" not in table
        assert sorted(r["RegionName"] for r in table["Replicas"]) == sorted(set(US) - {region})


def test_an_eventual_table_shows_no_consistency_key(ddb):
    name = empty_table(ddb[HOME], StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    table = add_replica(ddb[HOME], name, REPLICA)
    assert "Replicas" in table and "MultiRegionConsistency" not in table and "GlobalTableWitnesses" not in table


def test_explicit_eventual_consistency_creates_an_eventual_table(ddb):
    name = empty_table(ddb[HOME])
    ddb[HOME].update_table(
        TableName=name, ReplicaUpdates=[{"Create": {"RegionName": REPLICA}}], MultiRegionConsistency="EVENTUAL"
    )
    table = poll(lambda: all_active(ddb[HOME], name))
    assert [r["RegionName"] for r in table["Replicas"]] == [REPLICA] and "MultiRegionConsistency" not in table


def test_each_replica_gets_the_key_of_its_region(clients, ddb):
    keys = {region: clients.client("kms", region).create_key()["KeyMetadata"]["Arn"] for region in (HOME, REPLICA)}
    name = empty_table(ddb[HOME], SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": keys[HOME]})
    ddb[HOME].update_table(
        TableName=name,
        ReplicaUpdates=[{"Create": {"RegionName": REPLICA, "KMSMasterKeyId": keys[REPLICA]}}],
        GlobalTableWitnessUpdates=[{"Create": {"RegionName": WITNESS}}],
        MultiRegionConsistency="STRONG",
    )
    table = poll(lambda: all_active(ddb[HOME], name))
    assert [r["KMSMasterKeyId"] for r in table["Replicas"]] == [keys[REPLICA]]
    replica = ddb[REPLICA].describe_table(TableName=name)["Table"]
    assert replica["SSEDescription"]["KMSMasterKeyArn"] == keys[REPLICA]
    # A customer managed key table without a key for its replica is refused, as for any global table.
    other = empty_table(ddb[HOME], SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": keys[HOME]})
    error = error_of(convert, ddb[HOME], other)
    assert (
        error["Message"]
        == "One or more parameter values were invalid: KMSMasterKeyId must be specified for each replica."
    )


# ----- refusals ---------------------------------------------------------------------------------------


def refused(client, name, **arguments) -> dict:
    error = error_of(client.update_table, TableName=name, **arguments)
    assert error["Code"] == "ValidationException", error
    return error


CONVERSIONS = [
    (
        "one replica and no witness",
        {"ReplicaUpdates": [{"Create": {"RegionName": REPLICA}}], "MultiRegionConsistency": "STRONG"},
        f"Unsupported replica count for {STRONG}.",
    ),
    (
        "a witness without STRONG",
        {
            "ReplicaUpdates": [{"Create": {"RegionName": REPLICA}}],
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": WITNESS}}],
        },
        "MultiRegionConsistency must be set as STRONG when GlobalTableWitnessUpdates parameter is present.",
    ),
    (
        "two witnesses",
        {
            "MultiRegionConsistency": "STRONG",
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": WITNESS}}, {"Create": {"RegionName": REPLICA}}],
        },
        "Member must have length less than or equal to 1",
    ),
    (
        "the witness in the table's region",
        {
            "ReplicaUpdates": [{"Create": {"RegionName": REPLICA}}],
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": HOME}}],
            "MultiRegionConsistency": "STRONG",
        },
        "Cannot add a witness in the same region as an existing replica when creating a global table with "
        "MultiRegionConsistency set to STRONG.",
    ),
    (
        "the witness in the new replica's region",
        {
            "ReplicaUpdates": [{"Create": {"RegionName": REPLICA}}],
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": REPLICA}}],
            "MultiRegionConsistency": "STRONG",
        },
        "Cannot target multiple regions with the same action",
    ),
    (
        "a region outside every set",
        {
            "ReplicaUpdates": [{"Create": {"RegionName": "us-west-1"}}],
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": WITNESS}}],
            "MultiRegionConsistency": "STRONG",
        },
        f"Unsupported Region(s) specified for {STRONG}: [us-west-1].",
    ),
    (
        "regions of two sets",
        {
            "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}],
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": WITNESS}}],
            "MultiRegionConsistency": "STRONG",
        },
        f"Unsupported Region combination for {STRONG}: us-east-2 (US), eu-west-1 (EU), us-west-2 (US).",
    ),
    (
        "another setting in the same call",
        {
            "ReplicaUpdates": [{"Create": {"RegionName": REPLICA}}],
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": WITNESS}}],
            "MultiRegionConsistency": "STRONG",
            "DeletionProtectionEnabled": True,
        },
        "Requests that modify replicas or witnesses must not also modify other fields",
    ),
    (
        "a replica Delete with STRONG",
        {"ReplicaUpdates": [{"Delete": {"RegionName": REPLICA}}], "MultiRegionConsistency": "STRONG"},
        "Only Replica Create actions are supported when MultiRegionConsistency parameter is provided.",
    ),
]


@pytest.mark.parametrize(("situation", "arguments", "message"), CONVERSIONS, ids=[c[0] for c in CONVERSIONS])
def test_a_conversion_aws_refuses_is_refused_before_anything_changes(ddb, situation, arguments, message):
    name = empty_table(ddb[HOME])
    error = refused(ddb[HOME], name, **arguments)
    assert message in error["Message"]
    table = ddb[HOME].describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE" and "Replicas" not in table and "MultiRegionConsistency" not in table
    assert name not in table_names(ddb[REPLICA])


def test_a_table_with_items_is_not_converted(ddb):
    name = empty_table(ddb[HOME])
    ddb[HOME].put_item(TableName=name, Item=item("already-here"))
    error = error_of(convert, ddb[HOME], name)
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f"Table {name} contains items. Only an empty table can be converted to a global table with "
        "MultiRegionConsistency set to STRONG; converting a table with existing items is not supported."
    )
    assert name not in table_names(ddb[REPLICA])


def test_a_table_with_local_secondary_indexes_or_time_to_live_is_not_converted(ddb):
    index = {
        "IndexName": "LSI1",
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "L", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    attributes = [*KEY_SCHEMA["AttributeDefinitions"], {"AttributeName": "L", "AttributeType": "S"}]
    name = empty_table(ddb[HOME], LocalSecondaryIndexes=[index], AttributeDefinitions=attributes)
    error = error_of(convert, ddb[HOME], name)
    assert error["Message"] == f"Local secondary indexes are not supported for {STRONG}. Table {name} has: LSI1."
    name = empty_table(ddb[HOME])
    ddb[HOME].update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    error = error_of(convert, ddb[HOME], name)
    assert error["Message"] == f"Time to Live is not supported for {STRONG}: {name}."


def test_an_eventual_global_table_cannot_become_strong(ddb):
    name = empty_table(ddb[HOME], StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    add_replica(ddb[HOME], name, REPLICA)
    error = refused(
        ddb[HOME],
        name,
        ReplicaUpdates=[{"Create": {"RegionName": WITNESS}}],
        GlobalTableWitnessUpdates=[{"Create": {"RegionName": "us-east-1"}}],
        MultiRegionConsistency="STRONG",
    )
    assert error["Message"] == "MultiRegionConsistency parameter is unsupported on existing global table"
    assert "MultiRegionConsistency" not in ddb[HOME].describe_table(TableName=name)["Table"]


CHANGES = [
    (
        "adding a replica",
        {"ReplicaUpdates": [{"Create": {"RegionName": WITNESS}}]},
        "Cannot add replicas to a global table with strong MultiRegionConsistency",
    ),
    (
        "the consistency again",
        {"ReplicaUpdates": [{"Create": {"RegionName": WITNESS}}], "MultiRegionConsistency": "EVENTUAL"},
        "MultiRegionConsistency parameter is unsupported on existing global table",
    ),
    (
        "deleting with STRONG",
        {
            "ReplicaUpdates": [{"Delete": {"RegionName": REPLICA}}],
            "GlobalTableWitnessUpdates": [{"Delete": {"RegionName": WITNESS}}],
            "MultiRegionConsistency": "STRONG",
        },
        "Only Replica Create actions are supported when MultiRegionConsistency parameter is provided.",
    ),
    (
        "deleting the replica alone",
        {"ReplicaUpdates": [{"Delete": {"RegionName": REPLICA}}]},
        "Update table delete operation does not include all witnesses.",
    ),
    (
        "deleting the witness alone",
        {"GlobalTableWitnessUpdates": [{"Delete": {"RegionName": WITNESS}}]},
        f"Deletion of only the witness is not supported for {STRONG}.",
    ),
    (
        "a witness that is not the table's",
        {
            "ReplicaUpdates": [{"Delete": {"RegionName": REPLICA}}],
            "GlobalTableWitnessUpdates": [{"Delete": {"RegionName": "eu-west-1"}}],
        },
        "one or more witnesses were not part of the global table. Please retry the request without these "
        "witnesses: [eu-west-1].",
    ),
    (
        "adding a witness",
        {"GlobalTableWitnessUpdates": [{"Create": {"RegionName": "eu-west-1"}}]},
        "Cannot add a witness to an existing global table. The witness must be added when creating a global "
        "table with MultiRegionConsistency set to STRONG, in the same UpdateTable as its replicas.",
    ),
    (
        "another setting with the dissolution",
        {
            "ReplicaUpdates": [{"Delete": {"RegionName": REPLICA}}],
            "GlobalTableWitnessUpdates": [{"Delete": {"RegionName": WITNESS}}],
            "BillingMode": "PAY_PER_REQUEST",
        },
        "Requests that modify replicas or witnesses must not also modify other fields",
    ),
]


@pytest.fixture(scope="module")
def shared_strong_table(clients):
    """One MRSC table (with a witness) for the refusals that must leave it as it is."""
    return strong_table({region: clients.client("dynamodb", region) for region in US})


@pytest.mark.parametrize(("situation", "arguments", "message"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_change_aws_refuses_leaves_the_strong_table_as_it_is(ddb, shared_strong_table, situation, arguments, message):
    name = shared_strong_table
    error = refused(ddb[HOME], name, **arguments)
    assert message in error["Message"]
    table = all_active(ddb[HOME], name)
    assert table is not None and table["MultiRegionConsistency"] == "STRONG"
    assert [r["RegionName"] for r in table["Replicas"]] == [REPLICA]
    assert table["GlobalTableWitnesses"] == [{"RegionName": WITNESS, "WitnessStatus": "ACTIVE"}]


def test_one_replica_of_three_cannot_be_deleted(ddb):
    name = strong_table(ddb, witness=False)
    error = refused(ddb[HOME], name, ReplicaUpdates=[{"Delete": {"RegionName": REPLICA}}])
    assert error["Message"] == f"Deletion of only one table replica is not supported for {STRONG}."


@pytest.mark.parametrize("region", [HOME, REPLICA])
def test_delete_table_of_a_member_is_refused(ddb, shared_strong_table, region):
    error = error_of(ddb[region].delete_table, TableName=shared_strong_table)
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        f"Deletion of only one table replica is not supported for {STRONG}.",
    )


def test_time_to_live_and_transactions_are_refused(ddb, shared_strong_table):
    name = shared_strong_table
    error = error_of(
        ddb[REPLICA].update_time_to_live,
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
    )
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        f"Time to Live is not supported for {STRONG}: {name}.",
    )
    put = {"Put": {"TableName": name, "Item": item("t")}}
    error = error_of(ddb[HOME].transact_write_items, TransactItems=[put])
    assert error["Code"] == "ValidationException"
    assert error["Message"] == f"Transactions are not supported for {STRONG}: TransactWriteItems names table {name}."
    error = error_of(ddb[REPLICA].transact_get_items, TransactItems=[{"Get": {"TableName": name, "Key": key("t")}}])
    assert f"TransactGetItems names table {name}" in error["Message"]
    assert "Item" not in ddb[HOME].get_item(TableName=name, Key=key("t"), ConsistentRead=True)


# ----- dissolution ----------------------------------------------------------------------------------


@pytest.mark.parametrize("witness", [True, False], ids=["replica and witness", "two replicas"])
def test_dissolution_leaves_a_plain_table_in_the_calling_region(ddb, witness):
    name = strong_table(ddb, witness=witness)
    ddb[HOME].put_item(TableName=name, Item=item("kept"))
    removed = [REPLICA] if witness else [REPLICA, WITNESS]
    arguments = {"ReplicaUpdates": [{"Delete": {"RegionName": region}} for region in removed]}
    if witness:
        arguments["GlobalTableWitnessUpdates"] = [{"Delete": {"RegionName": WITNESS}}]
    answer = ddb[HOME].update_table(TableName=name, **arguments)["TableDescription"]
    assert answer["TableStatus"] == "UPDATING"
    listed = {r["RegionName"]: r["ReplicaStatus"] for r in answer["Replicas"]}
    assert listed == dict.fromkeys(removed, "DELETING")
    if witness:
        assert answer["GlobalTableWitnesses"] == [{"RegionName": WITNESS, "WitnessStatus": "DELETING"}]

    def plain():
        table = ddb[HOME].describe_table(TableName=name)["Table"]
        return table if table["TableStatus"] == "ACTIVE" else None

    table = poll(plain, what=f"{name} a single-region table")
    for gone in ("MultiRegionConsistency", "Replicas", "GlobalTableWitnesses", "GlobalTableVersion"):
        assert gone not in table
    for region in removed:
        assert name not in table_names(ddb[region])
    assert [i["PK"]["S"] for i in scan_all(ddb[HOME], name)] == ["kept"]
    ddb[HOME].delete_table(TableName=name)


# ----- writes and reads --------------------------------------------------------------------------------


def test_a_strong_read_anywhere_returns_the_acknowledged_write_an_eventual_one_may_miss(ddb, admin):
    """Three replicas; us-east-2's writes are acknowledged by us-east-1, so us-west-2 gets them after a
    draw of its own: an eventually consistent read there may miss one, a strongly consistent read never
    does (nor a conditional write there)."""
    name = strong_table(ddb, witness=False)
    admin.configure(delay="uniform:0:200", seed=16)
    missed = 0
    for n in range(12):
        ddb[HOME].put_item(TableName=name, Item=item(f"k{n}", v=n))
        eventual = ddb[WITNESS].get_item(TableName=name, Key=key(f"k{n}"))
        missed += "Item" not in eventual
        strong_read = ddb[WITNESS].get_item(TableName=name, Key=key(f"k{n}"), ConsistentRead=True)
        assert strong_read["Item"]["v"] == {"N": str(n)}
        ddb[WITNESS].update_item(
            TableName=name,
            Key=key(f"k{n}"),
            UpdateExpression="SET w = :w",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":w": {"S": "seen"}},
        )
        if missed >= 2:
            break
    assert missed >= 1, "no eventually consistent read was stale: the strong reads proved nothing"
    admin.wait_until_replicated()
    assert scan_all(ddb[HOME], name) == scan_all(ddb[REPLICA], name) == scan_all(ddb[WITNESS], name)


def test_strong_query_and_scan_see_the_latest_writes(ddb, admin):
    name = strong_table(ddb, witness=False)
    admin.configure(delay="fixed:150")
    ddb[HOME].batch_write_item(RequestItems={name: [{"PutRequest": {"Item": item(f"b{n}")}} for n in range(3)]})
    query = ddb[WITNESS].query(
        TableName=name,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "b1"}},
        ConsistentRead=True,
    )
    assert [i["PK"]["S"] for i in query["Items"]] == ["b1"]
    assert len(ddb[WITNESS].scan(TableName=name, ConsistentRead=True)["Items"]) == 3
    batch = ddb[WITNESS].batch_get_item(RequestItems={name: {"Keys": [key("b2")], "ConsistentRead": True}})
    assert [i["PK"]["S"] for i in batch["Responses"][name]] == ["b2"]


def test_a_write_returns_after_the_round_trip_to_a_second_region(ddb, admin):
    name = strong_table(ddb)
    admin.configure(delay="fixed:300")
    started = time.monotonic()
    ddb[REPLICA].put_item(TableName=name, Item=item("slow"))
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    ddb[REPLICA].get_item(TableName=name, Key=key("slow"), ConsistentRead=True)
    assert time.monotonic() - started >= 0.3


def test_a_write_to_an_item_another_region_is_writing_conflicts(embedded_aws, ddb, admin):
    name = strong_table(ddb)
    # A long round trip: the second write must be sent while the first is in flight, on a busy machine too.
    admin.configure(delay="fixed:2000")
    first = threading.Thread(
        target=ddb[HOME].put_item, kwargs={"TableName": name, "Item": item("contended", by="home")}
    )
    first.start()
    try:
        # Applied in us-east-2, not yet acknowledged: in flight.
        poll(lambda: "Item" in ddb[HOME].get_item(TableName=name, Key=key("contended")), timeout=5)
        client = impatient(embedded_aws, REPLICA)
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.put_item(TableName=name, Item=item("contended", by="replica"))
        error = caught.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 409  # botocore's _retry.json: write_conflict
        assert error["Error"] == {
            "Code": "ReplicatedWriteConflictException",
            "Message": "The request was rejected because one or more items in the request are being modified by "
            "a request in another Region.",
        }
        # Another item is no conflict.
        client.put_item(TableName=name, Item=item("elsewhere"))
    finally:
        first.join()
    # Once the first write is acknowledged, the retry succeeds.
    impatient(embedded_aws, REPLICA).put_item(TableName=name, Item=item("contended", by="replica"))
    assert ddb[HOME].get_item(TableName=name, Key=key("contended"), ConsistentRead=True)["Item"]["by"]["S"] == "replica"


def test_no_replication_latency_metric_for_a_strong_table(clients, ddb, admin):
    name = strong_table(ddb, witness=False)
    for n in range(3):
        ddb[HOME].put_item(TableName=name, Item=item(f"m{n}"))
    admin.wait_until_replicated()
    assert len(scan_all(ddb[WITNESS], name)) == 3
    cloudwatch = clients.client("cloudwatch", HOME)
    metrics = cloudwatch.list_metrics(Namespace="AWS/DynamoDB", MetricName="ReplicationLatency")["Metrics"]
    assert [m for m in metrics if {"Name": "TableName", "Value": name} in m["Dimensions"]] == []


# ----- the isolated switch ---------------------------------------------------------------------------


def test_an_isolated_region_serves_only_eventual_reads_and_the_others_keep_their_quorum(embedded_aws, ddb, faults):
    name = strong_table(ddb)  # us-east-2 and us-east-1, witness us-west-2
    ddb[HOME].put_item(TableName=name, Item=item("before", v=1))
    faults.set_isolated(REPLICA)
    cut_off = impatient(embedded_aws, REPLICA)
    for call, arguments in (
        (cut_off.put_item, {"Item": item("during")}),
        (cut_off.get_item, {"Key": key("before"), "ConsistentRead": True}),
        (
            cut_off.query,
            {
                "KeyConditionExpression": "PK = :p",
                "ExpressionAttributeValues": {":p": {"S": "before"}},
                "ConsistentRead": True,
            },
        ),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            call(TableName=name, **arguments)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert caught.value.response["Error"]["Code"] == "InternalServerError"
        assert "cannot reach another Region" in caught.value.response["Error"]["Message"]
    assert cut_off.get_item(TableName=name, Key=key("before"))["Item"]["v"] == {"N": "1"}
    # us-east-2 and the witness make a quorum of two.
    ddb[HOME].put_item(TableName=name, Item=item("during", v=2))
    assert ddb[HOME].get_item(TableName=name, Key=key("during"), ConsistentRead=True)["Item"]["v"] == {"N": "2"}
    assert "Item" not in cut_off.get_item(TableName=name, Key=key("during"))  # held, not lost
    faults.set_isolated(REPLICA, False)
    faults.wait_until_replicated()
    assert cut_off.get_item(TableName=name, Key=key("during"), ConsistentRead=True)["Item"]["v"] == {"N": "2"}
    assert scan_all(ddb[HOME], name) == scan_all(ddb[REPLICA], name)


def test_a_region_whose_partners_are_down_has_no_quorum(embedded_aws, ddb, faults):
    name = strong_table(ddb)
    faults.set_outage(WITNESS)
    faults.set_isolated(REPLICA)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        impatient(embedded_aws, HOME).put_item(TableName=name, Item=item("alone"))
    assert caught.value.response["Error"]["Code"] == "InternalServerError"
    faults.set_isolated(REPLICA, False)
    ddb[HOME].put_item(TableName=name, Item=item("alone"))  # us-east-1 is back: quorum


def test_an_isolated_region_of_an_eventual_table_holds_its_writes_then_converges(ddb, faults):
    name = empty_table(ddb[HOME], StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    add_replica(ddb[HOME], name, REPLICA)
    add_replica(ddb[HOME], name, WITNESS)
    faults.set_isolated(REPLICA)
    ddb[HOME].put_item(TableName=name, Item=item("from-home"))
    ddb[REPLICA].put_item(TableName=name, Item=item("from-isolated"))  # accepted
    time.sleep(0.1)  # give replication a chance it must not take
    assert [i["PK"]["S"] for i in scan_all(ddb[REPLICA], name)] == ["from-isolated"]
    assert [i["PK"]["S"] for i in scan_all(ddb[WITNESS], name)] == ["from-home"]
    assert faults.status()["backlog"] == 3
    faults.set_isolated(REPLICA, False)
    faults.wait_until_replicated()
    for region in US:
        assert [i["PK"]["S"] for i in scan_all(ddb[region], name)] == ["from-home", "from-isolated"]


# ----- snapshots ------------------------------------------------------------------------------------


def test_a_strong_table_and_the_isolated_switch_survive_a_snapshot(tmp_path):
    first = EmbeddedAWS(replication_delay="0", replica_transition_s=0.1)
    first.start()
    try:
        ddb = {region: AwsClients("local", first.endpoint).client("dynamodb", region) for region in US}
        name = strong_table(ddb)
        ddb[HOME].put_item(TableName=name, Item=item("saved"))
        first.admin.set_isolated(REPLICA)
        ddb[HOME].put_item(TableName=name, Item=item("held"))
        answer = first.admin.save_state(tmp_path / "mrsc.snapshot")
        assert answer["isolated_regions"] == [REPLICA] and answer["held"] == 1
    finally:
        first.stop()
    second = EmbeddedAWS(replication_delay="0", replica_transition_s=0.1, restore_from=tmp_path / "mrsc.snapshot")
    second.start()
    try:
        ddb = {region: AwsClients("local", second.endpoint).client("dynamodb", region) for region in US}
        assert second.admin.status()["isolated_regions"] == [REPLICA]
        for region in (HOME, REPLICA):
            table = ddb[region].describe_table(TableName=name)["Table"]
            assert table["MultiRegionConsistency"] == "STRONG"
            assert table["GlobalTableWitnesses"] == [{"RegionName": WITNESS, "WitnessStatus": "ACTIVE"}]
        with pytest.raises(botocore.exceptions.ClientError, match="InternalServerError"):
            impatient(second, REPLICA).put_item(TableName=name, Item=item("refused"))
        second.admin.set_isolated(REPLICA, False)
        second.admin.wait_until_replicated()
        got = ddb[REPLICA].get_item(TableName=name, Key=key("held"), ConsistentRead=True)
        assert got["Item"]["PK"] == {"S": "held"}
        ddb[REPLICA].put_item(TableName=name, Item=item("after"))
        assert len(scan_all(ddb[HOME], name)) == 3
    finally:
        second.stop()
