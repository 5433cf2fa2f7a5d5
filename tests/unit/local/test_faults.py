"""Fault switches: a region outage and paused replication hold writes; recovery drains them, none lost."""

import json
import threading
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.local.helpers import add_replica, create_table, item, scan_all

EAST, WEST, ASIA = "us-east-1", "eu-west-1", "ap-southeast-1"
REGIONS = (EAST, WEST, ASIA)


@pytest.fixture
def ddb(clients):
    return {region: clients.client("dynamodb", region) for region in REGIONS}


def three_region_table(ddb):
    name = create_table(ddb[EAST])
    add_replica(ddb[EAST], name, WEST)
    add_replica(ddb[EAST], name, ASIA)
    return name


def impatient_client(embedded_aws, region):
    """No retries: an outage shows at once instead of after botocore's backoff."""
    return boto3.client(
        "dynamodb",
        region_name=region,
        endpoint_url=embedded_aws.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def test_region_outage_answers_unavailable_and_loses_nothing(embedded_aws, ddb, admin):
    name = three_region_table(ddb)
    admin.set_outage(WEST)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        impatient_client(embedded_aws, WEST).put_item(TableName=name, Item=item("lost?", v=1))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    for i in range(20):
        ddb[EAST if i % 2 else ASIA].put_item(TableName=name, Item=item(f"o{i}", v=i))
    time.sleep(0.1)  # give replication a chance it must not take: WEST is down
    assert admin.status()["backlog"] == 20  # held for WEST, delivered elsewhere
    assert len(scan_all(ddb[EAST], name)) == len(scan_all(ddb[ASIA], name)) == 20
    admin.set_outage(WEST, False)
    admin.wait_until_replicated()
    assert scan_all(ddb[WEST], name) == scan_all(ddb[EAST], name) == scan_all(ddb[ASIA], name)
    assert len(scan_all(ddb[WEST], name)) == 20


def test_paused_replication_holds_both_directions_until_resumed(ddb, admin):
    name = three_region_table(ddb)
    admin.pause_replication(WEST)
    ddb[EAST].put_item(TableName=name, Item=item("from-east", v=1))
    ddb[WEST].put_item(TableName=name, Item=item("from-west", v=2))
    time.sleep(0.1)
    assert [i["PK"]["S"] for i in scan_all(ddb[WEST], name)] == ["from-west"]
    assert [i["PK"]["S"] for i in scan_all(ddb[ASIA], name)] == ["from-east"]
    admin.resume_replication(WEST)
    admin.wait_until_replicated()
    for region in REGIONS:
        assert [i["PK"]["S"] for i in scan_all(ddb[region], name)] == ["from-east", "from-west"]


def test_admin_refuses_bad_settings(embedded_aws):
    for route, payload in [
        ("replication", {"delay": "gaussian:1"}),
        ("faults", {"outage": True}),
        ("replication", {"colour": 1}),
    ]:
        request = urllib.request.Request(
            f"{embedded_aws.endpoint}/_globaltables/{route}", data=json.dumps(payload).encode(), method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == 400
        assert json.loads(caught.value.read())["error"]


REGION = st.sampled_from(REGIONS)
OPERATION = st.tuples(REGION, st.integers(0, 4), st.sampled_from(["put", "update"]), st.integers(0, 3))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=st.lists(OPERATION, min_size=1, max_size=40), seed=st.integers(0, 2**16))
def test_storm_of_overlapping_writes_converges_to_a_latest_write(ddb, admin, schedule, seed):
    """Writers in every region on overlapping keys with random replication delays: after quiescence every
    replica is identical, and each key holds a write that no other write on that key followed."""
    admin.configure(delay="uniform:0:30", seed=seed)
    name = three_region_table(ddb)
    writes = []  # (key, value, sent, acknowledged)
    lock = threading.Lock()

    def writer(region, operations):
        for index, (key_number, kind, pause_ms) in enumerate(operations):
            time.sleep(pause_ms / 1000)
            key, value = f"k{key_number}", f"{region}#{index}"
            sent = time.monotonic()
            if kind == "put":
                ddb[region].put_item(TableName=name, Item=item(key, value=value))
            else:
                ddb[region].update_item(
                    TableName=name,
                    Key={"PK": {"S": key}, "SK": {"S": "A"}},
                    UpdateExpression="SET #v = :v",
                    ExpressionAttributeNames={"#v": "value"},
                    ExpressionAttributeValues={":v": {"S": value}},
                )
            with lock:
                writes.append((key, value, sent, time.monotonic()))

    per_region = {r: [(k, kind, p) for (reg, k, kind, p) in schedule if reg == r] for r in REGIONS}
    threads = [threading.Thread(target=writer, args=(r, ops)) for r, ops in per_region.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admin.wait_until_replicated()
    scans = [scan_all(ddb[region], name) for region in REGIONS]
    assert scans[0] == scans[1] == scans[2]
    final = {i["PK"]["S"]: i["value"]["S"] for i in scans[0]}
    assert set(final) == {w[0] for w in writes}
    for key, value in final.items():
        [(_, _, _, acknowledged)] = [w for w in writes if w[0] == key and w[1] == value]
        followers = [w for w in writes if w[0] == key and w[2] > acknowledged]
        assert not followers, f"{key} kept {value} though {followers} was sent after it was acknowledged"
