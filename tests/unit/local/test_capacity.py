"""Provisioned capacity enforced (``capacity=on``): a token bucket per table and index, throttles in
AWS's words, unprocessed batch items, the new rate after UpdateTable; on-demand tables untouched."""

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from globaltables.local import EmbeddedAWS

from tests.unit.local.helpers import GSI1, KEYS, create_table, poll, unique_name

EAST = "us-east-1"
TABLE_THROTTLED = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
INDEX_THROTTLED = (
    "The level of configured provisioned throughput for one or more global secondary indexes of the table was "
    "exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes "
    "with the UpdateTable API"
)
ATTEMPTS = 300  # more calls than any bucket of these tables can hold


@pytest.fixture(scope="module")
def ddb():
    with EmbeddedAWS(replication_delay="0", timing="fast,capacity=on") as server:
        yield boto3.client(
            "dynamodb",
            region_name=EAST,
            endpoint_url=server.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1}),  # every throttle reaches the test
        )


def provisioned(ddb, reads=1, writes=1, index_reads=None, index_writes=None):
    return create_table(
        ddb,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": reads, "WriteCapacityUnits": writes},
        GlobalSecondaryIndexes=[
            {
                **GSI1,
                "ProvisionedThroughput": {
                    "ReadCapacityUnits": index_reads or reads,
                    "WriteCapacityUnits": index_writes or writes,
                },
            }
        ],
    )


def first_error(call, attempts=ATTEMPTS, **kwargs):
    """Call until AWS refuses; the refusal and how many calls went through before it."""
    for done in range(attempts):
        try:
            call(**kwargs)
        except botocore.exceptions.ClientError as error:
            return error.response["Error"], done
    return None, attempts


def key(number):
    return {"PK": {"S": f"K#{number}"}, "SK": {"S": "S"}}


def test_reads_beyond_the_tables_capacity_are_throttled_in_aws_words(ddb):
    name = provisioned(ddb, reads=1)
    error, succeeded = first_error(ddb.get_item, TableName=name, Key=key(1), ConsistentRead=True)
    assert error == {"Code": "ProvisionedThroughputExceededException", "Message": TABLE_THROTTLED}
    assert succeeded >= 1  # at least one second's worth of capacity first


def test_an_on_demand_table_is_never_throttled(ddb):
    name = create_table(ddb)
    error, succeeded = first_error(ddb.get_item, attempts=100, TableName=name, Key=key(1), ConsistentRead=True)
    assert error is None and succeeded == 100


def test_writes_beyond_an_indexs_capacity_are_throttled_with_the_index_message(ddb):
    name = provisioned(ddb, writes=1000, index_writes=1)
    counter = iter(range(ATTEMPTS))

    def put(**_):
        number = next(counter)
        ddb.put_item(TableName=name, Item={**key(number), "GSI1PK": {"S": "G"}, "GSI1SK": {"S": str(number)}})

    error, _ = first_error(put)
    assert error == {"Code": "ProvisionedThroughputExceededException", "Message": INDEX_THROTTLED}
    # A write that leaves the index alone is not held back by it.
    ddb.put_item(TableName=name, Item=key("no-index"))


def test_batch_write_returns_what_does_not_fit_then_refuses_when_nothing_does(ddb):
    name = provisioned(ddb, writes=1)
    requests = [{"PutRequest": {"Item": {**key(n), "blob": {"S": "x" * 2500}}}} for n in range(25)]
    response = ddb.batch_write_item(RequestItems={name: requests})
    unprocessed = response["UnprocessedItems"].get(name, [])
    assert 0 < len(unprocessed) < 25
    assert all(request in requests for request in unprocessed)
    refusal = None
    for _ in range(20):  # the bucket is in debt now: before long no item fits at all
        try:
            unprocessed = ddb.batch_write_item(RequestItems={name: unprocessed})["UnprocessedItems"].get(name, [])
        except botocore.exceptions.ClientError as error:
            refusal = error.response["Error"]
            break
    assert refusal == {"Code": "ProvisionedThroughputExceededException", "Message": TABLE_THROTTLED}


def test_batch_get_returns_unprocessed_keys_beyond_capacity(ddb):
    name = provisioned(ddb, reads=1)
    keys = [key(n) for n in range(60)]
    response = ddb.batch_get_item(RequestItems={name: {"Keys": keys, "ConsistentRead": True}})
    unprocessed = response["UnprocessedKeys"][name]
    assert unprocessed["ConsistentRead"] is True and 0 < len(unprocessed["Keys"]) < 60
    assert all(k in keys for k in unprocessed["Keys"])


def test_a_table_given_more_capacity_gets_the_new_rate(ddb):
    name = provisioned(ddb, reads=1)
    error, _ = first_error(ddb.get_item, TableName=name, Key=key(1), ConsistentRead=True)
    assert error["Code"] == "ProvisionedThroughputExceededException"
    ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 40000, "WriteCapacityUnits": 1})
    # The last read's debt is paid back at 40,000 units a second: after the first read let through,
    # 50 in a row are.
    error, succeeded = first_error(ddb.get_item, attempts=1, TableName=name, Key=key(1), ConsistentRead=True)
    if error is not None:
        poll(lambda: first_error(ddb.get_item, attempts=1, TableName=name, Key=key(1))[0] is None, timeout=5)
    error, succeeded = first_error(ddb.get_item, attempts=50, TableName=name, Key=key(1), ConsistentRead=True)
    assert error is None and succeeded == 50


def test_eventually_consistent_reads_cost_half(ddb):
    strong, weak = provisioned(ddb, reads=2), provisioned(ddb, reads=2)
    _, strong_reads = first_error(ddb.get_item, TableName=strong, Key=key(1), ConsistentRead=True)
    _, weak_reads = first_error(ddb.get_item, TableName=weak, Key=key(1))
    assert weak_reads > strong_reads


def test_capacity_is_not_enforced_by_the_default_fast_timing(clients):
    ddb = clients.client("dynamodb", EAST)
    name = unique_name()
    ddb.create_table(
        TableName=name,
        **KEYS,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        GlobalSecondaryIndexes=[{**GSI1, "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}],
    )
    error, succeeded = first_error(ddb.get_item, attempts=50, TableName=name, Key=key(1), ConsistentRead=True)
    assert error is None and succeeded == 50
