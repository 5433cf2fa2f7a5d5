"""Tables and replicas go through CREATING and DELETING as on AWS, refuse reads and writes meanwhile, and
the embedded AWS's timing (fast or realistic) says how long that takes."""

import json
import subprocess
import sys
import time
import urllib.error

import nbformat
import pytest
from globaltables.batch import PROJECT_DIR
from globaltables.local import EmbeddedAWS

from tests.unit.local.helpers import (
    GSI1,
    KEYS,
    add_replica,
    create_table,
    error_of,
    item,
    poll,
    scan_all,
    table_names,
    unique_name,
    wait_global_table_active,
)

EAST, WEST, ASIA = "us-east-1", "eu-west-1", "ap-southeast-1"
# Transitions long enough to act during them, short enough for a unit test.
TIMING = "fast,create_table=1.5,delete_table=1.5,create_replica=1.5,delete_replica=1.5,sync=0.5"


@pytest.fixture
def ddb(clients, admin):
    admin.configure(timing=TIMING)
    yield {region: clients.client("dynamodb", region) for region in (EAST, WEST, ASIA)}
    admin.configure(timing="fast", replica_transition_s=0.1)


def status(client, name):
    return client.describe_table(TableName=name)["Table"]["TableStatus"]


def gone(client, name):
    return name not in table_names(client)


def test_create_table_answers_creating_and_the_table_is_active_after_the_timing(ddb):
    name = unique_name()
    started = time.monotonic()
    created = ddb[EAST].create_table(
        TableName=name,
        **KEYS,
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[GSI1],
    )["TableDescription"]
    assert created["TableStatus"] == "CREATING"
    assert [i["IndexStatus"] for i in created["GlobalSecondaryIndexes"]] == ["CREATING"]
    described = ddb[EAST].describe_table(TableName=name)["Table"]
    assert described["TableStatus"] == "CREATING"
    assert [i["IndexStatus"] for i in described["GlobalSecondaryIndexes"]] == ["CREATING"]
    wait_global_table_active(ddb[EAST], name)
    assert time.monotonic() - started >= 1.4
    assert ddb[EAST].describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"


def test_create_table_answers_creating_even_when_the_timing_is_fast(clients, admin):
    ddb = clients.client("dynamodb", EAST)
    name = unique_name()
    assert ddb.create_table(TableName=name, **KEYS, GlobalSecondaryIndexes=[GSI1], BillingMode="PAY_PER_REQUEST")[
        "TableDescription"
    ]["TableStatus"] == ("CREATING")
    assert status(ddb, name) == "ACTIVE"
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    assert gone(ddb, name)


def test_reads_and_writes_to_a_creating_table_are_refused_as_aws_refuses_them(ddb):
    name = create_table(ddb[EAST])
    key = item("k")
    calls = {
        "PutItem": lambda: ddb[EAST].put_item(TableName=name, Item=item("k", v=1)),
        "GetItem": lambda: ddb[EAST].get_item(TableName=name, Key=key),
        "UpdateItem": lambda: ddb[EAST].update_item(
            TableName=name, Key=key, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": "1"}}
        ),
        "DeleteItem": lambda: ddb[EAST].delete_item(TableName=name, Key=key),
        "Query": lambda: ddb[EAST].query(
            TableName=name, KeyConditionExpression="PK = :k", ExpressionAttributeValues={":k": {"S": "k"}}
        ),
        "Scan": lambda: ddb[EAST].scan(TableName=name),
        "BatchWriteItem": lambda: ddb[EAST].batch_write_item(
            RequestItems={name: [{"PutRequest": {"Item": item("k", v=1)}}]}
        ),
        "BatchGetItem": lambda: ddb[EAST].batch_get_item(RequestItems={name: {"Keys": [key]}}),
        "TransactWriteItems": lambda: ddb[EAST].transact_write_items(
            TransactItems=[{"Put": {"TableName": name, "Item": item("k", v=1)}}]
        ),
        "TransactGetItems": lambda: ddb[EAST].transact_get_items(
            TransactItems=[{"Get": {"TableName": name, "Key": key}}]
        ),
        "ExecuteStatement": lambda: ddb[EAST].execute_statement(Statement=f"SELECT * FROM \"{name}\" WHERE PK = 'k'"),
    }
    for operation, call in calls.items():
        error = error_of(call)
        assert (operation, error) == (
            operation,
            {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"},
        )
    # Only DescribeTable answers; changes wait too (ResourceInUseException, as the API reference says).
    assert status(ddb[EAST], name) == "CREATING"
    assert error_of(ddb[EAST].delete_table, TableName=name)["Code"] == "ResourceInUseException"
    assert error_of(ddb[EAST].update_table, TableName=name, DeletionProtectionEnabled=True)["Code"] == (
        "ResourceInUseException"
    )
    wait_global_table_active(ddb[EAST], name)
    ddb[EAST].put_item(TableName=name, Item=item("k", v=1))
    assert len(scan_all(ddb[EAST], name)) == 1


def test_delete_table_answers_deleting_and_the_table_stays_visible_until_it_is_gone(ddb):
    name = create_table(ddb[EAST])
    wait_global_table_active(ddb[EAST], name)
    deleted = ddb[EAST].delete_table(TableName=name)["TableDescription"]
    assert deleted["TableStatus"] == "DELETING"
    assert status(ddb[EAST], name) == "DELETING"
    assert name in table_names(ddb[EAST])
    # Deleting a table already DELETING is not an error (DeleteTable reference).
    assert ddb[EAST].delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    error = error_of(ddb[EAST].put_item, TableName=name, Item=item("late"))
    assert error["Code"] == "ResourceNotFoundException"
    error = error_of(
        ddb[EAST].create_table, TableName=name, **KEYS, GlobalSecondaryIndexes=[GSI1], BillingMode="PAY_PER_REQUEST"
    )
    assert error["Code"] == "ResourceInUseException"
    poll(lambda: gone(ddb[EAST], name), timeout=10, what="table gone")
    assert error_of(ddb[EAST].describe_table, TableName=name)["Code"] == "ResourceNotFoundException"


def test_delete_table_in_a_replica_region_removes_that_replica_from_the_global_table(ddb):
    name = create_table(ddb[EAST])
    wait_global_table_active(ddb[EAST], name)
    add_replica(ddb[EAST], name, WEST)
    add_replica(ddb[EAST], name, ASIA)
    assert ddb[WEST].delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    east = ddb[EAST].describe_table(TableName=name)["Table"]
    assert east["TableStatus"] == "UPDATING"
    assert {r["RegionName"]: r["ReplicaStatus"] for r in east["Replicas"]} == {WEST: "DELETING", ASIA: "ACTIVE"}
    assert status(ddb[WEST], name) == "DELETING"
    poll(lambda: gone(ddb[WEST], name), timeout=10, what="replica table gone")
    east = wait_global_table_active(ddb[EAST], name)
    assert [r["RegionName"] for r in east["Replicas"]] == [ASIA]
    assert [r["RegionName"] for r in ddb[ASIA].describe_table(TableName=name)["Table"]["Replicas"]] == [EAST]
    ddb[EAST].put_item(TableName=name, Item=item("after", v=1))
    poll(lambda: len(scan_all(ddb[ASIA], name)) == 1, what="write replicated to the remaining replica")


def test_writes_to_a_replica_being_created_are_refused_until_it_is_active(ddb):
    name = create_table(ddb[EAST])
    wait_global_table_active(ddb[EAST], name)
    ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert status(ddb[WEST], name) == "CREATING"
    error = error_of(ddb[WEST].put_item, TableName=name, Item=item("early"))
    assert error["Code"] == "ResourceNotFoundException"
    # The source is UPDATING, and UPDATING tables serve reads and writes.
    ddb[EAST].put_item(TableName=name, Item=item("source", v=1))
    wait_global_table_active(ddb[EAST], name)
    ddb[WEST].put_item(TableName=name, Item=item("west", v=2))
    poll(lambda: len(scan_all(ddb[EAST], name)) == 2, what="both writes in the source")
    poll(lambda: len(scan_all(ddb[WEST], name)) == 2, what="both writes in the new replica")


def test_timing_is_chosen_by_name_and_an_unknown_one_is_refused(admin):
    try:
        realistic = admin.configure(timing="realistic")["timing"]
        assert realistic["name"] == "realistic"
        assert 10 <= realistic["create_table_s"] <= 30 and 10 <= realistic["create_replica_s"] <= 30
        overridden = admin.configure(timing="realistic,create_replica=5", replica_transition_s=None)["timing"]
        assert overridden["create_replica_s"] == 5
        with pytest.raises(urllib.error.HTTPError) as caught:
            admin.configure(timing="glacial")
        assert caught.value.code == 400
        assert "glacial" in json.loads(caught.value.read())["error"]
    finally:
        admin.configure(timing="fast", replica_transition_s=0.1)


def test_the_command_line_refuses_an_unknown_timing_in_one_line(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "globaltables", "local", "--timing", "glacial"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"GLOBALTABLES_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 2
    assert (
        completed.stderr.count("\n") == 1 and "--timing" in completed.stderr and "fast or realistic" in completed.stderr
    )


@pytest.mark.e2e
def test_the_table_and_replicas_notebook_runs_under_realistic_timing(tmp_path, isolated_home):
    """00-02 in a batch run against an embedded AWS whose table takes 10 s to create and each replica
    15 s to add: the runbook's waits really wait, and the run still succeeds (about 70 s)."""
    with EmbeddedAWS(replication_delay="0", timing="realistic") as server:
        assert server.admin.status()["timing"]["name"] == "realistic"
        started = time.monotonic()
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "globaltables",
                "run",
                "--outputs",
                str(tmp_path),
                "--run-id",
                "realistic",
                "--only",
                "00_setup,01_iam_kms,02_table_replicas",
                "-p",
                f"endpoint_url={server.endpoint}",
            ],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # One table (10 s) and two replicas (15 s each) were waited for.
    assert elapsed >= 40
    executed = nbformat.read(tmp_path / "realistic" / "02_table_replicas.ipynb", as_version=4)
    last = [c for c in executed.cells if c.cell_type == "code"][-1]
    verdict = "".join(o.get("text", "") for o in last.outputs if o.output_type == "stream").strip()
    assert verdict.endswith("3 regions ACTIVE: 2 replicas, PITR and deletion protection on everywhere")
