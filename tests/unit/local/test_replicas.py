"""Replica lifecycle and validation of the embedded global tables, through real boto3 calls."""

import pytest

from tests.unit.local.helpers import (
    GSI1,
    add_replica,
    create_table,
    error_of,
    poll,
    table_names,
    unique_name,
    wait_global_table_active,
)

EAST, WEST, ASIA = "us-east-1", "eu-west-1", "ap-southeast-1"


@pytest.fixture
def ddb(clients):
    return {region: clients.client("dynamodb", region) for region in (EAST, WEST, ASIA, "us-west-2")}


def test_replica_is_created_with_the_same_schema_indexes_stream_and_key(ddb, clients):
    key_west = clients.client("kms", WEST).create_key(Description="west")["KeyMetadata"]
    key_east = clients.client("kms", EAST).create_key(Description="east")["KeyMetadata"]
    name = create_table(
        ddb[EAST], SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_east["KeyId"]}
    )
    response = ddb[EAST].update_table(
        TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST, "KMSMasterKeyId": key_west["KeyId"]}}]
    )["TableDescription"]
    # Replica creation takes time, as on AWS: callers must wait.
    assert response["TableStatus"] == "UPDATING"
    assert response["Replicas"] == [
        {
            "RegionName": WEST,
            "ReplicaStatus": "CREATING",
            "KMSMasterKeyId": key_west["Arn"],
            "ReplicaTableClassSummary": {"TableClass": "STANDARD"},
        }
    ]
    assert ddb[WEST].describe_table(TableName=name)["Table"]["TableStatus"] == "CREATING"
    east = wait_global_table_active(ddb[EAST], name)
    west = wait_global_table_active(ddb[WEST], name)
    assert east["GlobalTableVersion"] == west["GlobalTableVersion"] == "2019.11.21"
    assert [r["RegionName"] for r in east["Replicas"]] == [WEST]
    assert [r["RegionName"] for r in west["Replicas"]] == [EAST]
    assert west["KeySchema"] == east["KeySchema"]
    assert [i["IndexName"] for i in west["GlobalSecondaryIndexes"]] == ["GSI1"]
    assert west["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert west["SSEDescription"]["KMSMasterKeyArn"] == key_west["Arn"]
    assert east["SSEDescription"]["KMSMasterKeyArn"] == key_east["Arn"]
    assert west["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_kms_alias_is_reported_as_the_key_arn(ddb, clients):
    kms = clients.client("kms", EAST)
    key = kms.create_key()["KeyMetadata"]
    alias = f"alias/{unique_name('k')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    name = create_table(ddb[EAST], SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": alias})
    assert ddb[EAST].describe_table(TableName=name)["Table"]["SSEDescription"]["KMSMasterKeyArn"] == key["Arn"]


def test_replica_over_existing_table_is_refused(ddb):
    name = create_table(ddb[EAST])
    create_table(ddb[WEST], name)
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert error["Code"] == "ValidationException"
    assert "because one or more replicas already existed as tables" in error["Message"]


@pytest.mark.parametrize("action", ["Create", "Update", "Delete"])
def test_local_region_through_replica_updates_is_refused(ddb, action):
    name = create_table(ddb[EAST])
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{action: {"RegionName": EAST}}])
    assert error["Code"] == "ValidationException"
    assert "the local region through ReplicaUpdates" in error["Message"]


def test_two_replica_changes_in_one_call_are_refused(ddb):
    name = create_table(ddb[EAST])
    error = error_of(
        ddb[EAST].update_table,
        TableName=name,
        ReplicaUpdates=[{"Create": {"RegionName": WEST}}, {"Create": {"RegionName": ASIA}}],
    )
    assert error["Code"] == "ValidationException" and "more than one create or delete replica" in error["Message"]
    assert "Replicas" not in ddb[EAST].describe_table(TableName=name)["Table"]


def test_changing_a_replica_key_through_sse_specification_is_refused(ddb, clients):
    name = create_table(ddb[EAST])
    add_replica(ddb[EAST], name, WEST)
    key = clients.client("kms", EAST).create_key()["KeyMetadata"]["KeyId"]
    error = error_of(
        ddb[EAST].update_table,
        TableName=name,
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
    )
    assert error["Code"] == "ValidationException" and "ReplicaUpdates" in error["Message"]


def test_replica_key_is_changed_through_replica_updates(ddb, clients):
    name = create_table(ddb[EAST])
    add_replica(ddb[EAST], name, WEST)
    key = clients.client("kms", WEST).create_key()["KeyMetadata"]
    ddb[EAST].update_table(
        TableName=name, ReplicaUpdates=[{"Update": {"RegionName": WEST, "KMSMasterKeyId": key["KeyId"]}}]
    )
    [replica] = ddb[EAST].describe_table(TableName=name)["Table"]["Replicas"]
    assert replica["KMSMasterKeyId"] == key["Arn"]


def test_customer_managed_key_table_needs_a_key_per_replica(ddb, clients):
    key = clients.client("kms", EAST).create_key()["KeyMetadata"]["KeyId"]
    name = create_table(ddb[EAST], SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key})
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert error["Code"] == "ValidationException" and "KMSMasterKeyId" in error["Message"]


def test_replica_key_must_exist_in_the_replica_region(ddb, clients):
    east_key = clients.client("kms", EAST).create_key()["KeyMetadata"]["Arn"]
    name = create_table(ddb[EAST])
    error = error_of(
        ddb[EAST].update_table,
        TableName=name,
        ReplicaUpdates=[{"Create": {"RegionName": WEST, "KMSMasterKeyId": east_key}}],
    )
    assert error["Code"] == "ValidationException" and WEST in error["Message"]


def test_provisioned_capacity_without_auto_scaling_is_refused(ddb, clients):
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    name = create_table(
        ddb[EAST],
        BillingMode="PROVISIONED",
        ProvisionedThroughput=throughput,
        GlobalSecondaryIndexes=[{**GSI1, "ProvisionedThroughput": throughput}],
    )
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert error["Code"] == "ValidationException"
    assert "Table write capacity should either be Pay-Per-Request or AutoScaled" in error["Message"]

    scaling = clients.client("application-autoscaling", EAST)
    scaling.register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{name}",
        ScalableDimension="dynamodb:table:WriteCapacityUnits",
        MinCapacity=5,
        MaxCapacity=50,
    )
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert error["Message"] == "GSI write capacity should either be Pay-Per-Request or AutoScaled."

    scaling.register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{name}/index/GSI1",
        ScalableDimension="dynamodb:index:WriteCapacityUnits",
        MinCapacity=5,
        MaxCapacity=50,
    )
    west = add_replica(ddb[EAST], name, WEST) and ddb[WEST].describe_table(TableName=name)["Table"]
    assert west["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert west["ProvisionedThroughput"]["WriteCapacityUnits"] == 5


def test_stream_with_another_view_type_is_refused(ddb):
    name = create_table(ddb[EAST], StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert error["Code"] == "ValidationException" and "NEW_AND_OLD_IMAGES" in error["Message"]


def test_table_without_stream_gets_new_and_old_images(ddb):
    name = create_table(ddb[EAST], StreamSpecification={"StreamEnabled": False})
    east = add_replica(ddb[EAST], name, WEST)
    assert east["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_second_replica_change_while_updating_is_refused(ddb, admin):
    admin.configure(replica_transition_s=1.0)
    name = create_table(ddb[EAST])
    ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": ASIA}}])
    assert error["Code"] == "ResourceInUseException" and "is in use" in error["Message"]
    error = error_of(ddb[EAST].delete_table, TableName=name)
    assert error["Code"] == "ResourceInUseException"
    wait_global_table_active(ddb[EAST], name)
    add_replica(ddb[EAST], name, ASIA)
    assert sorted(r["RegionName"] for r in ddb[EAST].describe_table(TableName=name)["Table"]["Replicas"]) == [
        ASIA,
        WEST,
    ]


def test_deletion_protection_blocks_replica_and_table_deletion(ddb):
    name = create_table(ddb[EAST], DeletionProtectionEnabled=True)
    add_replica(ddb[EAST], name, WEST)
    # Deletion protection is per replica: the new replica starts without it.
    assert ddb[WEST].describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is False
    ddb[WEST].update_table(TableName=name, DeletionProtectionEnabled=True)
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    assert error["Code"] == "ValidationException" and "deletion protection" in error["Message"]
    error = error_of(ddb[EAST].delete_table, TableName=name)
    assert error["Code"] == "ValidationException" and "deletion protection" in error["Message"]


def test_replicas_are_removed_one_by_one_then_the_table(ddb):
    name = create_table(ddb[EAST])
    add_replica(ddb[EAST], name, WEST)
    add_replica(ddb[EAST], name, ASIA)
    response = ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": ASIA}}])
    statuses = {r["RegionName"]: r["ReplicaStatus"] for r in response["TableDescription"]["Replicas"]}
    assert statuses == {WEST: "ACTIVE", ASIA: "DELETING"}
    poll(lambda: name not in table_names(ddb[ASIA]), what="replica table gone")
    table = wait_global_table_active(ddb[EAST], name)
    assert [r["RegionName"] for r in table["Replicas"]] == [WEST]
    ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    poll(lambda: name not in table_names(ddb[WEST]), what="last replica gone")
    table = wait_global_table_active(ddb[EAST], name)
    assert "Replicas" not in table or table["Replicas"] == []
    ddb[EAST].delete_table(TableName=name)
    assert name not in table_names(ddb[EAST])


def test_deleting_an_unknown_replica_is_refused(ddb):
    name = create_table(ddb[EAST])
    add_replica(ddb[EAST], name, WEST)
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": ASIA}}])
    assert error["Code"] == "ValidationException" and ASIA in error["Message"]


def test_recipe_validation_query_through_the_aws_cli(embedded_aws, ddb, tmp_path):
    """The recipe's validation step, `aws dynamodb describe-table --query ...`, against the embedded AWS."""
    import json
    import os
    import subprocess
    import sys

    name = create_table(ddb[EAST])
    add_replica(ddb[EAST], name, WEST)
    add_replica(ddb[EAST], name, ASIA)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    for region in (EAST, WEST, ASIA):
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "awscli",
                "dynamodb",
                "describe-table",
                "--region",
                region,
                "--endpoint-url",
                embedded_aws.endpoint,
                "--table-name",
                name,
                "--output",
                "json",
                "--query",
                "Table.[TableName,TableStatus,GlobalTableVersion,ItemCount,Replicas[*].RegionName]",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert completed.returncode == 0, completed.stderr
        table_name, status, version, count, regions = json.loads(completed.stdout)
        assert (table_name, status, version, count) == (name, "ACTIVE", "2019.11.21", 0)
        assert sorted(regions) == sorted({EAST, WEST, ASIA} - {region})
