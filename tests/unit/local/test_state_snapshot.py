"""The embedded AWS's state saved to a file and restored into a new server process (``--restore``)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import zipfile

import boto3
import botocore.config
import botocore.exceptions
import pytest
from globaltables.clients import LOCAL_CREDENTIALS, AwsClients
from globaltables.embedded_admin import StateSaveError
from globaltables.local import EmbeddedAWS, EmbeddedAWSError

from tests.unit.local.helpers import add_replica, create_table, item, listed, poll, scan_all, unique_name

R1, R2, R3 = "eu-west-1", "us-east-1", "ap-southeast-2"


HANDLER = """
import os, boto3
def handler(event, context):
    ddb = boto3.client("dynamodb")
    count = ddb.scan(TableName=event["table"], Select="COUNT", ConsistentRead=True)["Count"]
    return {"endpoint": os.environ.get("AWS_ENDPOINT_URL"), "count": count, "region": os.environ["AWS_REGION"]}
"""


def zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def start(**arguments) -> EmbeddedAWS:
    server = EmbeddedAWS(**{"replication_delay": "0", "replica_transition_s": 0.1, **arguments})
    server.start()
    return server


def build_world(clients: AwsClients) -> dict:
    """One of everything the runbook makes, in two regions; returns how each describes itself."""
    kms = {region: clients.client("kms", region) for region in (R1, R2)}
    keys, aliases = {}, {}
    for region, client in kms.items():
        keys[region] = client.create_key(Description=f"table key {region}")["KeyMetadata"]
        aliases[region] = f"alias/{unique_name('gt')}"
        client.create_alias(AliasName=aliases[region], TargetKeyId=keys[region]["KeyId"])
    iam = clients.client("iam", R1)
    role_name = unique_name("role")
    role = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="table-access",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}
        ),
    )
    managed = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
    iam.attach_role_policy(RoleName=role_name, PolicyArn=managed)

    ddb = clients.client("dynamodb", R1)
    table = create_table(ddb, SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": keys[R1]["Arn"]})
    add_replica(ddb, table, R2, KMSMasterKeyId=aliases[R2])
    for n in range(40):
        ddb.put_item(TableName=table, Item=item(f"P{n:03d}", GSI1PK="G", GSI1SK=str(n), n=n))
    poll(lambda: len(scan_all(clients.client("dynamodb", R2), table)) == 40, what="replica backfill")

    alarm = unique_name("alarm")
    cloudwatch = clients.client("cloudwatch", R1)
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/DynamoDB",
        MetricName="ReplicationLatency",
        Dimensions=[{"Name": "TableName", "Value": table}, {"Name": "ReceivingRegion", "Value": R2}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1000,
        ComparisonOperator="GreaterThanThreshold",
    )
    topic = clients.client("sns", R1).create_topic(Name=unique_name("topic"))["TopicArn"]
    function = unique_name("fn")
    lambdas = clients.client("lambda", R1)
    lambdas.create_function(
        FunctionName=function,
        Runtime="python3.13",
        Role=role["Arn"],
        Handler="app.handler",
        Code={"ZipFile": zipped(HANDLER)},
        Timeout=20,
    )
    log_group = f"/globaltables/{unique_name('logs')}"
    clients.client("logs", R1).create_log_group(logGroupName=log_group)
    clients.client("application-autoscaling", R1).register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{table}",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        MinCapacity=5,
        MaxCapacity=50,
    )
    backup = clients.client("backup", R1)
    vault = unique_name("vault")
    backup.create_backup_vault(BackupVaultName=vault, EncryptionKeyArn=keys[R1]["Arn"])
    plan = backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": unique_name("plan"),
            "Rules": [{"RuleName": "daily", "TargetBackupVaultName": vault, "ScheduleExpression": "cron(0 5 * * ? *)"}],
        }
    )["BackupPlanId"]
    table_arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    selection = backup.create_backup_selection(
        BackupPlanId=plan,
        BackupSelection={"SelectionName": "table", "IamRoleArn": role["Arn"], "Resources": [table_arn]},
    )["SelectionId"]
    job = backup.start_backup_job(BackupVaultName=vault, ResourceArn=table_arn, IamRoleArn=role["Arn"])
    return {
        "keys": keys,
        "aliases": aliases,
        "role": role_name,
        "table": table,
        "alarm": alarm,
        "topic": topic,
        "function": function,
        "log_group": log_group,
        "vault": vault,
        "plan": plan,
        "selection": selection,
        "recovery_point": job["RecoveryPointArn"],
    }


def describe(clients: AwsClients, world: dict) -> dict:
    """Everything about ``world`` that must be the same after a restore."""
    described: dict = {}
    for region in (R1, R2):
        kms = clients.client("kms", region)
        key = kms.describe_key(KeyId=world["aliases"][region])["KeyMetadata"]
        described[f"key {region}"] = (key["KeyId"], key["Arn"], key["KeyState"], key["Description"])
        table = clients.client("dynamodb", region).describe_table(TableName=world["table"])["Table"]
        described[f"table {region}"] = (
            table["TableArn"],
            table["TableStatus"],
            table["SSEDescription"]["KMSMasterKeyArn"],
            table["LatestStreamArn"],
            table["GlobalTableVersion"],
            [(r["RegionName"], r["ReplicaStatus"], r.get("KMSMasterKeyId")) for r in table["Replicas"]],
            [i["IndexName"] for i in table["GlobalSecondaryIndexes"]],
        )
        described[f"items {region}"] = scan_all(clients.client("dynamodb", region), world["table"])
    iam = clients.client("iam", R1)
    role = iam.get_role(RoleName=world["role"])["Role"]
    described["role"] = (role["Arn"], role["RoleId"], role["AssumeRolePolicyDocument"])
    described["inline"] = iam.get_role_policy(RoleName=world["role"], PolicyName="table-access")["PolicyDocument"]
    described["attached"] = listed(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=world["role"])
    alarm = clients.client("cloudwatch", R1).describe_alarms(AlarmNames=[world["alarm"]])["MetricAlarms"][0]
    described["alarm"] = (alarm["AlarmArn"], alarm["Threshold"], alarm["Dimensions"])
    described["topics"] = listed(clients.client("sns", R1), "list_topics", "Topics")
    function = clients.client("lambda", R1).get_function(FunctionName=world["function"])["Configuration"]
    described["function"] = (function["FunctionArn"], function["CodeSha256"], function["Role"], function["Timeout"])
    groups = listed(
        clients.client("logs", R1), "describe_log_groups", "logGroups", logGroupNamePrefix=world["log_group"]
    )
    described["log group"] = [(g["logGroupName"], g["arn"]) for g in groups]
    targets = listed(
        clients.client("application-autoscaling", R1),
        "describe_scalable_targets",
        "ScalableTargets",
        ServiceNamespace="dynamodb",
    )
    described["scalable targets"] = [
        (t["ResourceId"], t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"]) for t in targets
    ]
    backup = clients.client("backup", R1)
    vault = backup.describe_backup_vault(BackupVaultName=world["vault"])
    described["vault"] = (vault["BackupVaultArn"], vault["EncryptionKeyArn"])
    described["plan"] = backup.get_backup_plan(BackupPlanId=world["plan"])["BackupPlan"]
    selection = backup.get_backup_selection(BackupPlanId=world["plan"], SelectionId=world["selection"])
    described["selection"] = selection["BackupSelection"]
    points = listed(backup, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=world["vault"])
    described["recovery points"] = [(p["RecoveryPointArn"], p["ResourceArn"], p["Status"]) for p in points]
    return described


@pytest.fixture(scope="module")
def origin():
    server = start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def saved(origin, tmp_path_factory):
    """The world built in the first server, described, then saved to a snapshot."""
    clients = AwsClients("local", origin.endpoint)
    world = build_world(clients)
    before = describe(clients, world)
    path = tmp_path_factory.mktemp("snapshot") / "embedded-aws.snapshot"
    answer = origin.admin.save_state(path)
    return world, before, path, answer


@pytest.fixture(scope="module")
def restored(saved, origin):
    origin.stop()  # the first server is gone, as after an interrupted run
    server = start(restore_from=saved[2])
    yield server
    server.stop()


def test_save_answers_where_how_big_and_how_long(saved):
    _, _, path, answer = saved
    assert answer["saved"] == str(path) and answer["bytes"] == path.stat().st_size > 0
    assert answer["seconds"] >= 0 and answer["held"] == 0 and answer["settled"] is True
    assert not list(path.parent.glob(".*.tmp"))  # written through a temporary file, then renamed


def test_every_resource_describes_the_same_after_a_restore(saved, restored):
    world, before, _, _ = saved
    after = describe(AwsClients("local", restored.endpoint), world)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == before[name], name
    assert len(after[f"items {R1}"]) == 40 and after[f"items {R1}"] == after[f"items {R2}"]
    assert all(status == "ACTIVE" for _, status, _ in after[f"table {R1}"][5])


def test_replication_still_works_both_ways_after_a_restore(saved, restored):
    world = saved[0]
    clients = AwsClients("local", restored.endpoint)
    table = world["table"]
    clients.client("dynamodb", R1).put_item(TableName=table, Item=item("NEW1", GSI1PK="G", GSI1SK="x"))
    clients.client("dynamodb", R2).put_item(TableName=table, Item=item("NEW2", GSI1PK="G", GSI1SK="y"))

    def arrived() -> bool:
        there = clients.client("dynamodb", R2).get_item(TableName=table, Key=item("NEW1")).get("Item")
        here = clients.client("dynamodb", R1).get_item(TableName=table, Key=item("NEW2")).get("Item")
        return bool(there and here)

    poll(arrived, what="writes made after the restore replicated")
    restored.admin.wait_until_replicated()
    assert scan_all(clients.client("dynamodb", R1), table) == scan_all(clients.client("dynamodb", R2), table)
    records = clients.client("dynamodbstreams", R2)
    stream = clients.client("dynamodb", R2).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = records.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = records.get_shard_iterator(StreamArn=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    keys = [
        r["dynamodb"]["Keys"]["PK"]["S"]
        for r in records.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    ]
    assert "P000" in keys and "NEW1" in keys  # the stream kept its records and goes on


def test_the_lambda_function_runs_in_the_new_server_and_calls_it_back(saved, restored):
    world = saved[0]
    response = (
        AwsClients("local", restored.endpoint)
        .client("lambda", R1)
        .invoke(FunctionName=world["function"], Payload=json.dumps({"table": world["table"]}))
    )
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, result
    assert result["endpoint"] == restored.endpoint and result["region"] == R1 and result["count"] >= 40


def test_a_recovery_point_restores_in_the_new_server(saved, restored):
    world = saved[0]
    ddb = AwsClients("local", restored.endpoint).client("dynamodb", R1)
    target = unique_name("restored")
    ddb.restore_table_from_backup(TargetTableName=target, BackupArn=world["recovery_point"])
    assert len(scan_all(ddb, target)) == 40


SLEEPER = """
import time, boto3
def handler(event, context):
    time.sleep(event["sleep"])
    return boto3.client("dynamodb").list_tables()["TableNames"]
"""


def test_a_save_waits_for_requests_in_flight_and_lets_their_callbacks_through(saved, restored, tmp_path):
    lambdas = AwsClients("local", restored.endpoint).client("lambda", R1)
    function = unique_name("sleeper")
    lambdas.create_function(
        FunctionName=function,
        Runtime="python3.13",
        Role=lambdas.get_function(FunctionName=saved[0]["function"])["Configuration"]["Role"],
        Handler="app.handler",
        Code={"ZipFile": zipped(SLEEPER)},
        Timeout=20,
    )
    results: list = []

    def invoke() -> None:
        response = lambdas.invoke(FunctionName=function, Payload=json.dumps({"sleep": 1.5}))
        results.append((response.get("FunctionError"), json.loads(response["Payload"].read())))

    caller = threading.Thread(target=invoke)
    caller.start()
    time.sleep(0.5)
    with pytest.raises(StateSaveError, match=r"AWS requests still in flight after 0.2s \(1\)"):
        restored.admin.save_state(tmp_path / "busy.snapshot", quiesce_s=0.2)
    caller.join()
    caller = threading.Thread(target=invoke)
    caller.start()
    time.sleep(0.5)
    answer = restored.admin.save_state(tmp_path / "after.snapshot")  # waits for the invocation
    caller.join()
    assert answer["bytes"] > 0 and not (tmp_path / "busy.snapshot").exists()
    assert [error for error, _ in results] == [None, None]
    assert saved[0]["table"] in results[1][1]  # its call back into the server got through


def test_faults_settings_and_held_writes_survive_a_restore(tmp_path):
    first = start()
    try:
        clients = AwsClients("local", first.endpoint)
        ddb = clients.client("dynamodb", R1)
        table = create_table(ddb)
        add_replica(ddb, table, R2)
        add_replica(ddb, table, R3)
        first.admin.configure(delay="uniform:5:20", replica_transition_s=0.25)
        first.admin.pause_replication(R2)
        first.admin.set_outage(R3)
        for n in range(5):
            ddb.put_item(TableName=table, Item=item(f"H{n}"))
        answer = first.admin.save_state(tmp_path / "faults.snapshot")
        assert answer["held"] == 10 and answer["paused_regions"] == [R2] and answer["outage_regions"] == [R3]
    finally:
        first.stop()
    # The flags say otherwise: the snapshot's settings win.
    second = start(restore_from=tmp_path / "faults.snapshot", replication_delay="7", replica_transition_s=3)
    try:
        status = second.admin.status()
        assert status["delay"] == {"kind": "uniform", "low_ms": 5.0, "high_ms": 20.0}
        assert status["replica_transition_s"] == 0.25
        assert status["paused_regions"] == [R2] and status["outage_regions"] == [R3]
        assert status["backlog"] == 10
        clients = AwsClients("local", second.endpoint)
        no_retries = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
        down = boto3.client(
            "dynamodb", region_name=R3, endpoint_url=second.endpoint, config=no_retries, **LOCAL_CREDENTIALS
        )
        with pytest.raises(botocore.exceptions.ClientError, match="ServiceUnavailable"):
            down.describe_table(TableName=table)
        assert len(scan_all(clients.client("dynamodb", R2), table)) == 0  # still held
        second.admin.resume_replication(R2)
        second.admin.set_outage(R3, False)
        second.admin.wait_until_replicated()
        for region in (R2, R3):
            assert [i["PK"]["S"] for i in scan_all(clients.client("dynamodb", region), table)] == [
                f"H{n}" for n in range(5)
            ]
    finally:
        second.stop()


def test_save_refuses_a_relative_path_or_a_missing_folder(tmp_path):
    server = start()
    try:
        with pytest.raises(StateSaveError, match="does not exist"):
            server.admin.save_state(tmp_path / "no" / "such" / "folder" / "x.snapshot")
        reply = server.admin._call("GET", "health")
        assert reply["status"] == "ok"
    finally:
        server.stop()


def corrupted(saved_path, tmp_path, change) -> str:
    data = bytearray(saved_path.read_bytes())
    target = tmp_path / "bad.snapshot"
    target.write_bytes(bytes(change(data)))
    return str(target)


def flip_last_byte(data: bytearray) -> bytearray:
    data[-1] ^= 0xFF
    return data


def other_moto(data: bytearray) -> bytearray:
    return bytearray(bytes(data).replace(b'"moto": "5.2.5"', b'"moto": "5.0.0"', 1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (flip_last_byte, "is corrupt: its content does not match its checksum"),
        (lambda data: data[: len(data) // 2], "is corrupt: its content does not match its checksum"),
        (lambda data: b"not a snapshot at all\n", "is not an embedded-AWS snapshot"),
        (other_moto, "was written with moto 5.0.0; this embedded AWS runs moto 5.2.5"),
    ],
    ids=["flipped byte", "truncated", "garbage", "other moto"],
)
def test_a_snapshot_that_cannot_be_loaded_stops_the_start_with_its_reason(saved, tmp_path, change, message):
    path = corrupted(saved[2], tmp_path, change)
    with pytest.raises(EmbeddedAWSError) as raised:
        start(restore_from=path)
    assert message in str(raised.value) and path in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_server_exits_non_zero_with_one_line_for_a_missing_snapshot(tmp_path):
    missing = tmp_path / "missing.snapshot"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "globaltables.local.server", "--restore", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3 and time.monotonic() - started < 60
    assert "READY" not in done.stdout
    assert done.stderr.strip() == f"ERROR cannot restore the embedded AWS: snapshot {missing} does not exist"
