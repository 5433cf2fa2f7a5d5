"""The embedded AWS answers as AWS does, in AWS's words, and never with a 500 an SDK retries.

Through plain boto3 against a real embedded AWS: the legacy global-table API on a 2019.11.21 table,
replica auto scaling over Application Auto Scaling, made-up regions, parameters not emulated, unknown
operations, and the refusals whose messages a user's script may match on."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from globaltables.local.unknown import UnknownRequests
from werkzeug.test import Client

from tests.unit.local.helpers import (
    GSI1,
    add_replica,
    create_table,
    error_of,
    listed,
    poll,
    provisioned_global_table,
    table_names,
    unique_name,
    wait_global_table_active,
)

EAST, WEST, ASIA = "us-east-1", "eu-west-1", "ap-southeast-1"
LEGACY_REFUSAL = (
    "One or more parameter values were invalid: DynamoDB global tables version 2017.11.29 is not supported. "
    "We recommend using DynamoDB global tables version 2019.11.21, instead of version 2017.11.29 (Legacy)."
)
THROUGHPUT = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}


@pytest.fixture
def ddb(clients):
    return {region: clients.client("dynamodb", region) for region in (EAST, WEST, ASIA)}


def patient_client(embedded_aws, service, region):
    """A client that would retry a 500 nine times, as an impatient user's would not: retries show."""
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=embedded_aws.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )


def failure_of(call, *args, **kwargs):
    """The error, the HTTP status, how many times the SDK retried and how long the call took."""
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    metadata = response["ResponseMetadata"]
    return response["Error"], metadata["HTTPStatusCode"], metadata.get("RetryAttempts", 0), time.monotonic() - started


def active_table(client, **overrides):
    name = create_table(client, **overrides)
    return wait_global_table_active(client, name) and name


def global_table(ddb, **overrides):
    name = active_table(ddb[EAST], **overrides)
    add_replica(ddb[EAST], name, WEST)
    return name


# ----- the legacy (2017.11.29) API on a current-version table --------------------------------------


def test_describe_global_table_answers_not_found_for_a_current_version_table(ddb):
    name = global_table(ddb)
    assert ddb[EAST].describe_table(TableName=name)["Table"]["GlobalTableVersion"] == "2019.11.21"
    error = error_of(ddb[EAST].describe_global_table, GlobalTableName=name)
    assert error["Code"] == "GlobalTableNotFoundException"
    assert error["Message"] == f"Global table not found: Global table with name: '{name}' does not exist."


def test_list_global_tables_lists_no_current_version_table(ddb):
    global_table(ddb)
    assert ddb[EAST].list_global_tables()["GlobalTables"] == []
    assert ddb[WEST].list_global_tables(RegionName=EAST, Limit=1)["GlobalTables"] == []
    error = error_of(ddb[EAST].list_global_tables, RegionName="us-fake-9")
    assert error["Code"] == "ValidationException" and "Region us-fake-9 is not supported" in error["Message"]


def test_global_table_settings_answer_not_found(ddb):
    name = global_table(ddb)
    for call, kwargs in [
        (ddb[EAST].describe_global_table_settings, {}),
        (ddb[EAST].update_global_table_settings, {"GlobalTableBillingMode": "PAY_PER_REQUEST"}),
        (ddb[EAST].update_global_table, {"ReplicaUpdates": [{"Delete": {"RegionName": WEST}}]}),
    ]:
        error = error_of(call, GlobalTableName=name, **kwargs)
        assert error["Code"] == "GlobalTableNotFoundException"
        assert error["Message"] == f"Global table with name: '{name}' does not exist."


def test_legacy_global_table_creation_is_refused_as_aws_refuses_it(ddb):
    name = active_table(ddb[EAST])
    active_table(ddb[WEST], name=name)
    error = error_of(
        ddb[EAST].create_global_table,
        GlobalTableName=name,
        ReplicationGroup=[{"RegionName": EAST}, {"RegionName": WEST}],
    )
    assert error == {"Code": "ValidationException", "Message": LEGACY_REFUSAL}
    error = error_of(
        ddb[EAST].update_global_table, GlobalTableName=name, ReplicaUpdates=[{"Create": {"RegionName": ASIA}}]
    )
    assert error == {"Code": "ValidationException", "Message": LEGACY_REFUSAL}
    assert "Replicas" not in ddb[EAST].describe_table(TableName=name)["Table"]


# ----- replica auto scaling --------------------------------------------------------------------------


def settings_update(minimum, maximum, target, policy_name=None):
    policy = {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": target}}
    if policy_name:
        policy["PolicyName"] = policy_name
    return {"MinimumUnits": minimum, "MaximumUnits": maximum, "ScalingPolicyUpdate": policy}


def by_region(description):
    return {replica["RegionName"]: replica for replica in description["TableAutoScalingDescription"]["Replicas"]}


def test_replica_auto_scaling_shows_the_application_auto_scaling_state(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST], units=5, max_units=100, policies=True)
    described = ddb[EAST].describe_table_replica_auto_scaling(TableName=name)
    assert described["TableAutoScalingDescription"]["TableName"] == name
    replicas = by_region(described)
    assert list(replicas) == [WEST, EAST]  # every replica, home included, in region order
    east = replicas[EAST]
    assert east["ReplicaStatus"] == "ACTIVE"
    write = east["ReplicaProvisionedWriteCapacityAutoScalingSettings"]
    assert (write["MinimumUnits"], write["MaximumUnits"], write["AutoScalingDisabled"]) == (5, 100, False)
    assert write["AutoScalingRoleArn"].endswith("/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable")
    assert write["ScalingPolicies"] == [
        {"PolicyName": f"{name}-write-{name}", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0}}
    ]
    assert east["ReplicaProvisionedReadCapacityAutoScalingSettings"] == {
        "AutoScalingDisabled": True,
        "ScalingPolicies": [],
    }
    [index] = east["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "GSI1"
    assert index["ProvisionedWriteCapacityAutoScalingSettings"]["MaximumUnits"] == 100


def test_replica_auto_scaling_update_writes_application_auto_scaling_in_each_region(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST], units=5, max_units=100, policies=True)
    updated = ddb[EAST].update_table_replica_auto_scaling(
        TableName=name,
        ProvisionedWriteCapacityAutoScalingUpdate=settings_update(2, 20, 60.0),
        ReplicaUpdates=[
            {
                "RegionName": WEST,
                "ReplicaProvisionedReadCapacityAutoScalingUpdate": settings_update(3, 30, 40.0, "west-read"),
            }
        ],
    )
    replicas = by_region(updated)
    # Write auto scaling is the same in every replica; read auto scaling is the named replica's own.
    for region in (EAST, WEST):
        targets = listed(
            clients.client("application-autoscaling", region),
            "describe_scalable_targets",
            "ScalableTargets",
            ServiceNamespace="dynamodb",
            ResourceIds=[f"table/{name}"],
            ScalableDimension="dynamodb:table:WriteCapacityUnits",
        )
        assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(2, 20)]
        write = replicas[region]["ReplicaProvisionedWriteCapacityAutoScalingSettings"]
        assert [p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] for p in write["ScalingPolicies"]] == [
            60.0
        ]
    west_policies = listed(
        clients.client("application-autoscaling", WEST),
        "describe_scaling_policies",
        "ScalingPolicies",
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{name}",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
    )
    assert [p["PolicyName"] for p in west_policies] == ["west-read"]
    assert west_policies[0]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "DynamoDBReadCapacityUtilization"
    }
    assert replicas[EAST]["ReplicaProvisionedReadCapacityAutoScalingSettings"]["AutoScalingDisabled"] is True
    assert replicas[WEST]["ReplicaProvisionedReadCapacityAutoScalingSettings"]["MinimumUnits"] == 3

    # Disabling deregisters the target and deletes its policies, as AWS does.
    disabled = ddb[WEST].update_table_replica_auto_scaling(
        TableName=name,
        ReplicaUpdates=[
            {"RegionName": WEST, "ReplicaProvisionedReadCapacityAutoScalingUpdate": {"AutoScalingDisabled": True}}
        ],
    )
    west = by_region(disabled)[WEST]["ReplicaProvisionedReadCapacityAutoScalingSettings"]
    assert west == {"AutoScalingDisabled": True, "ScalingPolicies": []}
    scaling = clients.client("application-autoscaling", WEST)
    assert not listed(
        scaling,
        "describe_scalable_targets",
        "ScalableTargets",
        ServiceNamespace="dynamodb",
        ResourceIds=[f"table/{name}"],
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
    )
    assert not listed(
        scaling,
        "describe_scaling_policies",
        "ScalingPolicies",
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{name}",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
    )


def test_replica_auto_scaling_of_a_table_without_replicas_is_not_found(ddb):
    name = active_table(ddb[EAST])
    for call, kwargs in [
        (ddb[EAST].describe_table_replica_auto_scaling, {}),
        (
            ddb[EAST].update_table_replica_auto_scaling,
            {"ProvisionedWriteCapacityAutoScalingUpdate": {"AutoScalingDisabled": True}},
        ),
    ]:
        error = error_of(call, TableName=name, **kwargs)
        assert error == {
            "Code": "ResourceNotFoundException",
            "Message": f"Global table with name: '{name}' does not exist.",
        }


def test_replica_auto_scaling_refusals_are_aws_words(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST], units=5, max_units=100, policies=True)
    update = ddb[EAST].update_table_replica_auto_scaling
    error = error_of(
        update,
        TableName=name,
        ProvisionedWriteCapacityAutoScalingUpdate={
            "ScalingPolicyUpdate": settings_update(1, 2, 50.0)["ScalingPolicyUpdate"]
        },
    )
    assert error["Message"] == (
        f"Failed to update settings for global table with name: ‘{name}’: Parameters 'MaximumUnits', 'MinimumUnits' "
        "are required unless auto scaling is being disabled."
    )
    error = error_of(
        update,
        TableName=name,
        ProvisionedWriteCapacityAutoScalingUpdate={"AutoScalingDisabled": True, "MinimumUnits": 1, "MaximumUnits": 2},
    )
    assert error["Message"] == (
        f"Failed to update settings for global table with name ‘{name}’: Parameters 'MaximumUnits', 'MinimumUnits' "
        "must be left blank when disabling auto scaling."
    )
    error = error_of(update, TableName=name, ReplicaUpdates=[{"RegionName": WEST}])
    assert error["Message"] == (
        f"Failed to update settings for global table with name: ‘{name}’ because at least one update parameter must "
        f"be specified for region: ‘{WEST}’."
    )
    error = error_of(update, TableName=name, ProvisionedWriteCapacityAutoScalingUpdate=settings_update(9, 3, 50.0))
    assert error["Message"].startswith("Maximum capacity cannot be less than minimum capacity")
    error = error_of(update, TableName=name, ProvisionedWriteCapacityAutoScalingUpdate=settings_update(1, 3, 90.5))
    assert error["Message"].startswith(
        "For predefined metric type DynamoDBWriteCapacityUtilization, target value must be between '10.0' and '90.0', "
        "but was '90.5'."
    )


def test_replica_auto_scaling_of_an_on_demand_table_is_refused(ddb):
    name = global_table(ddb)
    error = error_of(
        ddb[EAST].update_table_replica_auto_scaling,
        TableName=name,
        ProvisionedWriteCapacityAutoScalingUpdate=settings_update(1, 5, 50.0),
    )
    assert error["Message"] == (
        f"Failed to update global table with name ‘{name}‘. Replicas '{WEST}', '{EAST}' BillingMode is PayPerRequest. "
        "You must convert table's BillingMode to PROVISIONED to set parameters: 'ProvisionedWriteCapacityAutoScalingUpdate'."
    )
    # Disabling is accepted, and changes nothing.
    ddb[EAST].update_table_replica_auto_scaling(
        TableName=name, ProvisionedWriteCapacityAutoScalingUpdate={"AutoScalingDisabled": True}
    )


# ----- regions that do not exist -----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["Create", "Update", "Delete"])
@pytest.mark.parametrize("region", ["us-fake-1", "EU-WEST-1"])
def test_replica_in_a_region_that_does_not_exist_is_refused(ddb, action, region):
    name = active_table(ddb[EAST])
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{action: {"RegionName": region}}])
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(
        f"Region {region} is not supported. The latest version of global tables are only supported in the following "
        "regions: [af-south-1, "
    )
    assert f" {WEST}," in error["Message"]


def test_request_signed_for_a_region_that_does_not_exist_fails_at_once(embedded_aws):
    error, status, retries, _ = failure_of(patient_client(embedded_aws, "dynamodb", "mars-east-1").list_tables)
    assert (error["Code"], status, retries) == ("InvalidSignatureException", 400, 0)
    assert error["Message"] == "Credential should be scoped to a valid region, not 'mars-east-1'."
    error, status, retries, _ = failure_of(patient_client(embedded_aws, "sts", "mars-east-1").get_caller_identity)
    assert (error["Code"], status, retries) == ("SignatureDoesNotMatch", 403, 0)


# ----- parameters the embedded AWS does not emulate ------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "arguments"),
    [
        # MultiRegionConsistency and GlobalTableWitnessUpdates are emulated since issue 16 (test_mrsc.py).
        (
            "ReplicaUpdates.Disassociate",
            {"ReplicaUpdates": [{"Disassociate": {"RegionName": WEST, "DisassociationMode": "DISASSOCIATE"}}]},
        ),
    ],
)
def test_update_table_parameter_not_emulated_is_refused_naming_it(ddb, parameter, arguments):
    name = active_table(ddb[EAST])
    error = error_of(ddb[EAST].update_table, TableName=name, **arguments)
    assert error["Code"] == "ValidationException"
    assert f"UpdateTable parameter {parameter} is not emulated by the embedded AWS" in error["Message"]
    assert "Fidelity table in README.md" in error["Message"]
    # Refused, not half done: no replica was started.
    assert "Replicas" not in ddb[EAST].describe_table(TableName=name)["Table"]
    assert name not in table_names(ddb[WEST])


def test_create_table_parameter_not_emulated_is_refused_naming_it(ddb):
    name = unique_name()
    error = error_of(create_table, ddb[EAST], name, GlobalTableSettingsReplicationMode="ENABLED")
    assert "CreateTable parameter GlobalTableSettingsReplicationMode is not emulated" in error["Message"]
    assert name not in table_names(ddb[EAST])


# ----- unknown operations ----------------------------------------------------------------------------------


def test_operation_moto_lacks_fails_at_once_without_retries(embedded_aws, ddb):
    name = active_table(ddb[EAST])
    client = patient_client(embedded_aws, "dynamodb", EAST)
    error, status, retries, seconds = failure_of(client.describe_contributor_insights, TableName=name)
    assert (error["Code"], status, retries) == ("UnknownOperationException", 400, 0)
    assert error["Message"].startswith("Unknown operation exception.")
    assert "DescribeContributorInsights" in error["Message"] and "README.md" in error["Message"]
    assert seconds < 5  # a retried 500 takes tens of seconds


def test_query_protocol_operation_moto_lacks_answers_invalid_action(embedded_aws):
    client = patient_client(embedded_aws, "ec2", EAST)
    error, status, retries, _ = failure_of(client.describe_capacity_block_offerings, CapacityDurationHours=24)
    assert (error["Code"], status, retries) == ("InvalidAction", 400, 0)
    assert error["Message"].startswith("The action or operation requested is invalid.")


def test_made_up_operation_in_a_signed_request_answers_unknown_operation(embedded_aws):
    body = b"{}"
    request = AWSRequest(
        method="POST",
        url=embedded_aws.endpoint + "/",
        data=body,
        headers={"X-Amz-Target": "DynamoDB_20120810.MadeUpOperation", "Content-Type": "application/x-amz-json-1.0"},
    )
    SigV4Auth(Credentials("testing", "testing"), "dynamodb", EAST).add_auth(request)
    raw = urllib.request.Request(request.url, data=body, headers=dict(request.headers.items()), method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(raw, timeout=10)
    assert caught.value.code == 400
    answer = json.loads(caught.value.read())
    assert answer["__type"].endswith("#UnknownOperationException")
    assert "MadeUpOperation" in answer["message"]


# ----- AWS's wording of the refusals a script matches on ------------------------------------------------


def test_refusals_of_replica_changes_are_aws_words(ddb):
    name = global_table(ddb)
    error = error_of(
        ddb[EAST].update_table,
        TableName=name,
        ReplicaUpdates=[{"Create": {"RegionName": ASIA}}, {"Delete": {"RegionName": WEST}}],
    )
    assert error["Message"] == "Update table operation with more than one create or delete replica actions not allowed"
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert error["Message"] == (
        f"Failed to create a the new replica of table with name: ‘{name}’ because one or more replicas already "
        "existed as tables."
    )
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": EAST}}])
    assert error["Message"] == (
        "Cannot add or delete the local region through ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required."
    )
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": ASIA}}])
    assert error["Message"] == (
        "Update global table operation failed because one or more replicas were not part of the global table. "
        f"Please retry the request without these replicas: [{ASIA}]."
    )
    error = error_of(ddb[WEST].update_table, TableName=name, StreamSpecification={"StreamEnabled": False})
    assert error["Message"] == (
        "One or more parameter values were invalid: Disabling Stream is not allowed for a Global Table replica."
    )


def test_change_while_the_global_table_is_updating_is_refused_in_aws_words(ddb, admin):
    admin.configure(replica_transition_s=1.0)
    name = active_table(ddb[EAST])
    ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": ASIA}}])
    assert error == {
        "Code": "ResourceInUseException",
        "Message": "The resource which you are attempting to change is in use.",
    }
    wait_global_table_active(ddb[EAST], name)


def test_provisioned_table_without_write_auto_scaling_is_refused_in_aws_words(ddb):
    name = active_table(
        ddb[EAST],
        BillingMode="PROVISIONED",
        ProvisionedThroughput=THROUGHPUT,
        GlobalSecondaryIndexes=[{**GSI1, "ProvisionedThroughput": THROUGHPUT}],
    )
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert error == {
        "Code": "ValidationException",
        "Message": "Table write capacity should either be Pay-Per-Request or AutoScaled.",
    }


def test_deletion_protection_refusals_are_aws_words(ddb):
    name = active_table(ddb[ASIA], DeletionProtectionEnabled=True)
    error = error_of(ddb[ASIA].delete_table, TableName=name)
    assert error == {
        "Code": "ValidationException",
        "Message": "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
    }
    name = global_table(ddb)
    ddb[WEST].update_table(TableName=name, DeletionProtectionEnabled=True)
    poll(lambda: ddb[WEST].describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", what="WEST ACTIVE")
    replica_refusal = (
        f"Cannot delete table {name} in region {WEST} because it has deletion protection enabled. "
        "Disable deletion protection first."
    )
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    assert error == {"Code": "ValidationException", "Message": replica_refusal}
    error = error_of(ddb[WEST].delete_table, TableName=name)
    assert error == {"Code": "ValidationException", "Message": replica_refusal}


def test_operation_moto_implements_only_in_part_answers_501_not_a_500():
    def moto_lacking_a_feature(environ, start_response):
        raise NotImplementedError("Filter dicts have not been implemented in Moto for tag:* yet")

    response = Client(UnknownRequests(moto_lacking_a_feature)).post(
        "/",
        data="{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.Scan",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261124/us-east-1/dynamodb/aws4_request, ...",
        },
    )
    assert response.status_code == 501  # botocore retries 500, 502, 503 and 504, never 501
    answer = response.get_json(force=True)
    assert answer["__type"].endswith("#NotImplemented")
    assert "dynamodb Scan" in answer["message"] and "tag:* yet" in answer["message"]
