"""Settings of a global table as AWS keeps them: synchronised to every replica (UPDATING until they have
reached all of them), overridable per replica through ReplicaUpdates, or kept in their region."""

import json

import pytest

from tests.unit.local.helpers import (
    add_replica,
    create_table,
    error_of,
    item,
    listed,
    poll,
    provisioned_global_table,
    wait_global_table_active,
)

EAST, WEST, ASIA = "us-east-1", "eu-west-1", "ap-southeast-1"
REGIONS = (EAST, WEST, ASIA)
# Long enough to observe every replica UPDATING between two calls, short enough for a unit test.
SYNC_S = 1.0


@pytest.fixture
def ddb(clients, admin):
    admin.configure(timing=f"fast,create_replica=0.1,delete_replica=0.1,sync={SYNC_S}")
    yield {region: clients.client("dynamodb", region) for region in REGIONS}
    admin.configure(timing="fast", replica_transition_s=0.1)


def table(client, name):
    return client.describe_table(TableName=name)["Table"]


def statuses(ddb, name):
    """TableStatus in every region, and the ReplicaStatus the first region reports for the others."""
    described = {region: table(client, name) for region, client in ddb.items()}
    return (
        {region: t["TableStatus"] for region, t in described.items()},
        {r["RegionName"]: r["ReplicaStatus"] for r in described[EAST]["Replicas"]},
    )


def global_table(ddb, *regions, **create):
    name = create_table(ddb[EAST], **create)
    for region in regions:
        add_replica(ddb[EAST], name, region)
    return name


def settled(ddb, name):
    """Until the table is ACTIVE in every region it has a replica in, with nothing on its way."""
    east = wait_global_table_active(ddb[EAST], name)
    for replica in east.get("Replicas", []):
        wait_global_table_active(ddb[replica["RegionName"]], name)


def ttl_status(client, name):
    return client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]


def test_time_to_live_enabled_in_one_region_reaches_every_replica_after_all_were_updating(ddb):
    name = global_table(ddb, WEST, ASIA)
    ddb[EAST].update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    tables, replicas = statuses(ddb, name)
    assert tables == {EAST: "UPDATING", WEST: "UPDATING", ASIA: "UPDATING"}
    assert replicas == {WEST: "UPDATING", ASIA: "UPDATING"}
    assert ttl_status(ddb[WEST], name)["TimeToLiveStatus"] == "DISABLED"  # not there yet
    error = error_of(
        ddb[WEST].update_time_to_live,
        TableName=name,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "exp"},
    )
    assert error["Code"] == "ValidationException"
    assert error["Message"] == "Time to live has been modified multiple times within a fixed interval"
    settled(ddb, name)
    for region in REGIONS:
        assert ttl_status(ddb[region], name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
    assert statuses(ddb, name) == ({EAST: "ACTIVE", WEST: "ACTIVE", ASIA: "ACTIVE"}, {WEST: "ACTIVE", ASIA: "ACTIVE"})


def test_an_index_created_in_a_replica_region_reaches_the_source_and_a_later_replica(ddb):
    name = global_table(ddb, WEST)
    ddb[EAST].put_item(TableName=name, Item={**item("k1"), "BY_COLOUR": {"S": "red"}})
    ddb[WEST].update_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "BY_COLOUR", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "ByColour",
                    "KeySchema": [{"AttributeName": "BY_COLOUR", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    )
    east = table(ddb[EAST], name)
    assert east["TableStatus"] == "UPDATING"
    assert {i["IndexName"]: i["IndexStatus"] for i in east["GlobalSecondaryIndexes"]} == {
        "GSI1": "ACTIVE",
        "ByColour": "CREATING",
    }
    query = {
        "TableName": name,
        "IndexName": "ByColour",
        "KeyConditionExpression": "BY_COLOUR = :c",
        "ExpressionAttributeValues": {":c": {"S": "red"}},
    }
    error = error_of(ddb[EAST].query, **query)
    assert error == {"Code": "ValidationException", "Message": "Cannot read from backfilling global secondary index"}
    settled(ddb, name)
    assert [i["PK"]["S"] for i in ddb[EAST].query(**query)["Items"]] == ["k1"]
    assert {a["AttributeName"] for a in table(ddb[EAST], name)["AttributeDefinitions"]} >= {"PK", "SK", "BY_COLOUR"}
    add_replica(ddb[EAST], name, ASIA)
    asia = table(ddb[ASIA], name)
    assert {i["IndexName"]: i["IndexStatus"] for i in asia["GlobalSecondaryIndexes"]} == {
        "GSI1": "ACTIVE",
        "ByColour": "ACTIVE",
    }
    assert [i["PK"]["S"] for i in ddb[ASIA].query(**query)["Items"]] == ["k1"]


def test_an_index_deleted_in_one_region_is_deleting_everywhere_then_gone(ddb):
    name = global_table(ddb, WEST)
    ddb[EAST].update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "GSI1"}}])
    for region in (EAST, WEST):
        described = table(ddb[region], name)
        assert described["TableStatus"] == "UPDATING"
        assert [(i["IndexName"], i["IndexStatus"]) for i in described["GlobalSecondaryIndexes"]] == [
            ("GSI1", "DELETING")
        ]
    settled(ddb, name)
    for region in (EAST, WEST):
        assert table(ddb[region], name).get("GlobalSecondaryIndexes", []) == []


def test_switching_billing_mode_in_one_region_switches_every_replica(ddb):
    name = global_table(ddb, WEST, ASIA)
    ddb[WEST].update_table(
        TableName=name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 4},
        GlobalSecondaryIndexUpdates=[
            {
                "Update": {
                    "IndexName": "GSI1",
                    "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2},
                }
            }
        ],
    )
    assert statuses(ddb, name)[0] == {EAST: "UPDATING", WEST: "UPDATING", ASIA: "UPDATING"}
    assert table(ddb[EAST], name)["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"  # not there yet
    settled(ddb, name)
    for region in REGIONS:
        described = table(ddb[region], name)
        assert described["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
        throughput = described["ProvisionedThroughput"]
        assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (5, 4)
        [gsi] = described["GlobalSecondaryIndexes"]
        assert (
            gsi["ProvisionedThroughput"]["ReadCapacityUnits"],
            gsi["ProvisionedThroughput"]["WriteCapacityUnits"],
        ) == (
            3,
            2,
        )


def test_the_sse_type_is_synchronised_but_each_replica_keeps_a_key_of_its_own_region(ddb, clients):
    name = global_table(ddb, WEST)
    assert "SSEDescription" not in table(ddb[WEST], name)  # AWS owned key
    ddb[EAST].update_table(TableName=name, SSESpecification={"Enabled": True, "SSEType": "KMS"})
    settled(ddb, name)
    for region in (EAST, WEST):
        key_arn = table(ddb[region], name)["SSEDescription"]["KMSMasterKeyArn"]
        managed = clients.client("kms", region).describe_key(KeyId="alias/aws/dynamodb")["KeyMetadata"]["Arn"]
        assert key_arn == managed and f":{region}:" in key_arn


def test_another_table_change_while_a_setting_is_on_its_way_is_refused(ddb):
    name = global_table(ddb, WEST)
    ddb[EAST].update_table(TableName=name, TableClass="STANDARD_INFREQUENT_ACCESS")
    error = error_of(ddb[WEST].update_table, TableName=name, DeletionProtectionEnabled=True)
    assert error["Code"] == "ResourceInUseException"
    error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Create": {"RegionName": ASIA}}])
    assert error["Code"] == "ResourceInUseException"
    settled(ddb, name)
    assert table(ddb[WEST], name)["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}


def test_read_capacity_and_table_class_are_overridden_per_replica_and_kept_through_synchronised_changes(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST, ASIA], units=5, max_units=50)
    ddb[EAST].update_table(
        TableName=name,
        ReplicaUpdates=[
            {
                "Update": {
                    "RegionName": WEST,
                    "ProvisionedThroughputOverride": {"ReadCapacityUnits": 20},
                    "GlobalSecondaryIndexes": [
                        {"IndexName": "GSI1", "ProvisionedThroughputOverride": {"ReadCapacityUnits": 15}}
                    ],
                    "TableClassOverride": "STANDARD_INFREQUENT_ACCESS",
                }
            }
        ],
    )
    replicas = {r["RegionName"]: r for r in table(ddb[EAST], name)["Replicas"]}
    assert replicas[WEST] == {
        "RegionName": WEST,
        "ReplicaStatus": "UPDATING",
        "ReplicaTableClassSummary": {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
        "ProvisionedThroughputOverride": {"ReadCapacityUnits": 20},
        "GlobalSecondaryIndexes": [{"IndexName": "GSI1", "ProvisionedThroughputOverride": {"ReadCapacityUnits": 15}}],
    }
    assert replicas[ASIA]["ReplicaStatus"] == "ACTIVE"
    assert replicas[ASIA]["ReplicaTableClassSummary"] == {"TableClass": "STANDARD"}
    settled(ddb, name)
    # A synchronised change of capacity reaches every replica; the override of WEST stays.
    ddb[ASIA].update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 8, "WriteCapacityUnits": 9})
    settled(ddb, name)
    capacities = {
        region: (
            table(ddb[region], name)["ProvisionedThroughput"]["ReadCapacityUnits"],
            table(ddb[region], name)["ProvisionedThroughput"]["WriteCapacityUnits"],
            table(ddb[region], name)["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"],
        )
        for region in REGIONS
    }
    assert capacities == {EAST: (8, 9, 5), WEST: (20, 9, 15), ASIA: (8, 9, 5)}
    assert table(ddb[WEST], name)["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}


def test_on_demand_maximum_writes_are_synchronised_and_maximum_reads_overridden_per_replica(ddb):
    name = global_table(ddb, WEST, ASIA)
    ddb[EAST].update_table(
        TableName=name,
        ReplicaUpdates=[{"Update": {"RegionName": ASIA, "OnDemandThroughputOverride": {"MaxReadRequestUnits": 300}}}],
    )
    settled(ddb, name)
    ddb[WEST].update_table(TableName=name, OnDemandThroughput={"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 50})
    settled(ddb, name)
    limits = {region: table(ddb[region], name)["OnDemandThroughput"] for region in REGIONS}
    assert limits == {
        EAST: {"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 50},
        WEST: {"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 50},
        ASIA: {"MaxReadRequestUnits": 300, "MaxWriteRequestUnits": 50},
    }


def test_an_override_that_does_not_fit_the_replica_is_refused(ddb):
    name = global_table(ddb, WEST)
    refused = [
        {"RegionName": WEST, "ProvisionedThroughputOverride": {"ReadCapacityUnits": 5}},  # an on-demand table
        {"RegionName": WEST, "GlobalSecondaryIndexes": [{"IndexName": "Nope"}]},
        {"RegionName": WEST, "TableClassOverride": "GLACIER"},
    ]
    for update in refused:
        error = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Update": update}])
        assert error["Code"] == "ValidationException", update
    assert table(ddb[WEST], name)["TableStatus"] == "ACTIVE"


def test_a_replica_added_later_gets_the_synchronised_settings(ddb):
    name = global_table(ddb, WEST)
    ddb[WEST].update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    settled(ddb, name)
    ddb[WEST].update_table(TableName=name, TableClass="STANDARD_INFREQUENT_ACCESS")
    settled(ddb, name)
    add_replica(ddb[EAST], name, ASIA)
    asia = table(ddb[ASIA], name)
    assert ttl_status(ddb[ASIA], name) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
    assert asia["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}
    assert asia["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert asia["GlobalTableSettingsReplicationMode"] == "ENABLED_WITH_OVERRIDES"
    replicas = {r["RegionName"]: r for r in table(ddb[EAST], name)["Replicas"]}
    assert replicas[ASIA]["ReplicaTableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}


def test_settings_never_synchronised_stay_in_their_region(ddb):
    name = global_table(ddb, WEST)
    west_arn, east_arn = table(ddb[WEST], name)["TableArn"], table(ddb[EAST], name)["TableArn"]
    ddb[WEST].update_table(TableName=name, DeletionProtectionEnabled=True)
    ddb[WEST].update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    ddb[WEST].tag_resource(ResourceArn=west_arn, Tags=[{"Key": "team", "Value": "west"}])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "dynamodb:GetItem", "Resource": west_arn}
        ],
    }
    ddb[WEST].put_resource_policy(ResourceArn=west_arn, Policy=json.dumps(policy))
    # Nothing is on its way: neither region is UPDATING.
    east = table(ddb[EAST], name)
    assert (east["TableStatus"], table(ddb[WEST], name)["TableStatus"]) == ("ACTIVE", "ACTIVE")
    assert east["Replicas"][0]["ReplicaStatus"] == "ACTIVE"
    assert east["DeletionProtectionEnabled"] is False
    backups = ddb[EAST].describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    assert ddb[EAST].list_tags_of_resource(ResourceArn=east_arn)["Tags"] == []
    error = error_of(ddb[EAST].get_resource_policy, ResourceArn=east_arn)
    assert error["Code"] == "PolicyNotFoundException"
    ddb[WEST].update_table(TableName=name, DeletionProtectionEnabled=False)


def test_writes_keep_replicating_while_a_setting_is_on_its_way(ddb):
    name = global_table(ddb, WEST)
    ddb[EAST].update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    ddb[EAST].put_item(TableName=name, Item=item("during", v=1))
    poll(lambda: "Item" in ddb[WEST].get_item(TableName=name, Key=item("during")), what="item replicated")
    settled(ddb, name)


# ----- write auto scaling: synchronised; read auto scaling: per region ------------------------------

WRITE_POLICY = {
    "TargetValue": 70.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"},
}


def scaling_clients(clients):
    return {region: clients.client("application-autoscaling", region) for region in REGIONS}


def scaling_state(scaling, name):
    """Per region: the table's targets (resource, dimension) -> (min, max), its policies
    (resource, dimension, name) -> target value, and how many alarms its policies have."""
    state = {}
    for region, client in scaling.items():
        targets = listed(client, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb")
        policies = listed(client, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb")
        mine = [p for p in policies if p["ResourceId"].split("/")[1] == name]
        state[region] = (
            {
                (t["ResourceId"], t["ScalableDimension"]): (t["MinCapacity"], t["MaxCapacity"])
                for t in targets
                if t["ResourceId"].split("/")[1] == name
            },
            {
                (p["ResourceId"], p["ScalableDimension"], p["PolicyName"]): p[
                    "TargetTrackingScalingPolicyConfiguration"
                ]["TargetValue"]
                for p in mine
            },
            sum(len(p.get("Alarms", [])) for p in mine),
        )
    return state


def scale_writes(client, name, low=5, high=50, target=70.0):
    """What 02 does in a region: write auto scaling on the table and its index."""
    for resource, kind in ((f"table/{name}", "table"), (f"table/{name}/index/GSI1", "index")):
        dimension = f"dynamodb:{kind}:WriteCapacityUnits"
        client.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId=resource,
            ScalableDimension=dimension,
            MinCapacity=low,
            MaxCapacity=high,
        )
        client.put_scaling_policy(
            PolicyName=f"{name}-write-{kind}",
            ServiceNamespace="dynamodb",
            ResourceId=resource,
            ScalableDimension=dimension,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={**WRITE_POLICY, "TargetValue": target},
        )


def write_scaling(name, low=5, high=50, target=70.0):
    table, index = f"table/{name}", f"table/{name}/index/GSI1"
    return (
        {
            (table, "dynamodb:table:WriteCapacityUnits"): (low, high),
            (index, "dynamodb:index:WriteCapacityUnits"): (low, high),
        },
        {
            (table, "dynamodb:table:WriteCapacityUnits", f"{name}-write-table"): target,
            (index, "dynamodb:index:WriteCapacityUnits", f"{name}-write-index"): target,
        },
        8,  # moto makes four alarms per target-tracking policy
    )


def test_write_auto_scaling_registered_in_one_region_reaches_every_replica_and_stays_idempotent(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST, ASIA], units=5, max_units=50)
    scaling = scaling_clients(clients)
    scale_writes(scaling[WEST], name)
    assert scaling_state(scaling, name) == {region: write_scaling(name) for region in REGIONS}
    # 02 makes the same calls in every region: nothing changes, no error, no alarm left behind.
    arns = {
        region: sorted(
            p["PolicyARN"]
            for p in listed(c, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb")
        )
        for region, c in scaling.items()
    }
    for region in REGIONS:
        scale_writes(scaling[region], name)
    assert scaling_state(scaling, name) == {region: write_scaling(name) for region in REGIONS}
    assert arns == {
        region: sorted(
            p["PolicyARN"]
            for p in listed(c, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb")
        )
        for region, c in scaling.items()
    }
    # A change in one region reaches every replica; the replaced policies' alarms go with them.
    scale_writes(scaling[ASIA], name, low=6, high=60, target=50.0)
    assert scaling_state(scaling, name) == {region: write_scaling(name, 6, 60, 50.0) for region in REGIONS}
    # DescribeTableReplicaAutoScaling shows it in every replica.
    described = ddb[EAST].describe_table_replica_auto_scaling(TableName=name)["TableAutoScalingDescription"]
    for replica in described["Replicas"]:
        write = replica["ReplicaProvisionedWriteCapacityAutoScalingSettings"]
        assert (write["MinimumUnits"], write["MaximumUnits"]) == (6, 60), replica["RegionName"]


def test_a_replica_added_later_gets_the_write_auto_scaling(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST], units=5, max_units=50)
    scaling = scaling_clients(clients)
    scale_writes(scaling[EAST], name, low=5, high=40)
    assert scaling_state(scaling, name)[ASIA] == ({}, {}, 0)
    add_replica(ddb[EAST], name, ASIA)
    assert scaling_state(scaling, name) == {region: write_scaling(name, 5, 40) for region in REGIONS}


def test_read_auto_scaling_stays_in_its_region(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST], units=5, max_units=50)
    scaling = scaling_clients(clients)
    scaling[WEST].register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{name}",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        MinCapacity=3,
        MaxCapacity=30,
    )
    scaling[WEST].put_scaling_policy(
        PolicyName="reads",
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{name}",
        ScalableDimension="dynamodb:table:ReadCapacityUnits",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"},
        },
    )
    reads = {(f"table/{name}", "dynamodb:table:ReadCapacityUnits"): (3, 30)}
    state = scaling_state(scaling, name)
    assert reads.items() <= state[WEST][0].items()
    assert not reads.keys() & state[EAST][0].keys()
    assert (f"table/{name}", "dynamodb:table:ReadCapacityUnits", "reads") in state[WEST][1]
    assert not any(dimension.endswith("ReadCapacityUnits") for _, dimension, _ in state[EAST][1])


def test_write_auto_scaling_deregistered_in_one_region_is_gone_everywhere(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST, ASIA], units=5, max_units=50)
    scaling = scaling_clients(clients)
    scale_writes(scaling[EAST], name)
    for kind, resource in (("table", f"table/{name}"), ("index", f"table/{name}/index/GSI1")):
        dimension = f"dynamodb:{kind}:WriteCapacityUnits"
        scaling[WEST].delete_scaling_policy(
            PolicyName=f"{name}-write-{kind}",
            ServiceNamespace="dynamodb",
            ResourceId=resource,
            ScalableDimension=dimension,
        )
        scaling[WEST].deregister_scalable_target(
            ServiceNamespace="dynamodb", ResourceId=resource, ScalableDimension=dimension
        )
    assert scaling_state(scaling, name) == {region: ({}, {}, 0) for region in REGIONS}
    # Deleting it again in another region (a cleanup going region by region) finds it already gone.
    error = error_of(
        scaling[ASIA].deregister_scalable_target,
        ServiceNamespace="dynamodb",
        ResourceId=f"table/{name}",
        ScalableDimension="dynamodb:table:WriteCapacityUnits",
    )
    assert error["Code"] == "ObjectNotFoundException"


def test_deleting_a_replica_leaves_the_auto_scaling_of_its_region(ddb, clients):
    name = provisioned_global_table(clients, [EAST, WEST, ASIA], units=5, max_units=50)
    scaling = scaling_clients(clients)
    scale_writes(scaling[EAST], name)
    ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": ASIA}}])
    poll(lambda: [r["RegionName"] for r in table(ddb[EAST], name).get("Replicas", [])] == [WEST], what="ASIA gone")
    assert scaling_state(scaling, name)[ASIA] == write_scaling(name)
    policies = listed(scaling[ASIA], "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb")
    names = [a["AlarmName"] for p in policies if p["ResourceId"].split("/")[1] == name for a in p["Alarms"]]
    alarms = listed(clients.client("cloudwatch", ASIA), "describe_alarms", "MetricAlarms", AlarmNames=names)
    assert len(names) == len(alarms) == 8
    # It is no longer synchronised there: a change in EAST reaches WEST, not ASIA.
    scale_writes(scaling[EAST], name, low=7, high=70)
    state = scaling_state(scaling, name)
    assert state[WEST] == write_scaling(name, 7, 70)
    assert state[ASIA] == write_scaling(name)
