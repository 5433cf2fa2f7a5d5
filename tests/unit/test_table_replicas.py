"""02_table_replicas's library: the recipe's defects 1-5 (docs/recipe-defects.md) fixed and pinned."""

import botocore.session
import pytest
from globaltables.kms import ensure_region_key
from globaltables.tables import (
    ensure_protection,
    ensure_replica,
    ensure_table,
    ensure_write_autoscaling,
    global_table_status,
    table_definition,
    wait_for_table,
)
from globaltables.waiting import WaitTimeout

from tests.unit.local.helpers import listed


def build_global_table(clients, run):
    keys = {region: ensure_region_key(clients, run, region).arn for region in run.params.regions}
    ensure_table(clients, run, keys[run.params.primary_region])
    # After the table exists (AWS refuses RegisterScalableTarget before), before the replicas.
    ensure_write_autoscaling(clients, run, run.params.primary_region)
    for region in run.params.replica_regions:
        ensure_replica(clients, run, region, keys[region])
    for region in run.params.regions:
        ensure_protection(clients, run, region)
    return keys


def test_create_table_arguments_are_all_real_create_table_parameters(new_run):
    run = new_run()
    definition = table_definition(run.names.table_name, run.params, "alias/k", run.run_id)
    create_table = botocore.session.get_session().get_service_model("dynamodb").operation_model("CreateTable")
    assert set(definition) <= set(create_table.input_shape.members)
    assert "PointInTimeRecoverySpecification" not in definition  # recipe defect 1
    assert definition["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert definition["DeletionProtectionEnabled"] is True


def test_table_is_created_once_and_replicas_only_through_replica_updates(clients, new_run):
    run = new_run()
    keys = build_global_table(clients, run)
    status = {row.region: row for row in global_table_status(clients, run.params.regions, run.names.table_name)}
    # Defect 2: one table resource (the primary), replicas made by DynamoDB, all in one global table.
    assert [r.region for r in run.resources("dynamodb:table")] == [run.params.primary_region]
    assert sorted(r.region for r in run.resources("dynamodb:replica")) == sorted(run.params.replica_regions)
    for region, row in status.items():
        assert row.table_status == "ACTIVE" and row.global_table_version == "2019.11.21"
        assert row.kms_key == keys[region]  # defect 4: each replica with its own region's key
        assert row.pitr == "ENABLED" and row.deletion_protection  # defect 5: per replica


def test_provisioned_table_gets_write_auto_scaling_before_its_replicas(clients, new_run):
    run = new_run(billing_mode="PROVISIONED", write_capacity=5, max_write_capacity=50)
    build_global_table(clients, run)  # the embedded AWS refuses replicas without auto scaling (defect 3)
    scaling = clients.client("application-autoscaling", run.params.primary_region)
    targets = listed(scaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb")
    ours = {
        t["ResourceId"]: (t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"])
        for t in targets
        if run.names.table_name in t["ResourceId"]
    }
    assert ours == {
        f"table/{run.names.table_name}": ("dynamodb:table:WriteCapacityUnits", 5, 50),
        f"table/{run.names.table_name}/index/GSI1": ("dynamodb:index:WriteCapacityUnits", 5, 50),
    }
    west = clients.client("dynamodb", "eu-west-1").describe_table(TableName=run.names.table_name)["Table"]
    assert west["BillingModeSummary"]["BillingMode"] == "PROVISIONED"


def test_building_twice_changes_nothing(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    build_global_table(clients, run)
    before = [r.model_dump(exclude={"created_at"}) for r in run.resources()]
    build_global_table(clients, run)
    assert [r.model_dump(exclude={"created_at"}) for r in run.resources()] == before


def test_waiting_times_out_with_the_state_it_saw(clients, new_run, admin):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    keys = {region: ensure_region_key(clients, run, region).arn for region in run.params.regions}
    ensure_table(clients, run, keys["us-east-1"])
    admin.configure(replica_transition_s=30)
    clients.client("dynamodb", "us-east-1").update_table(
        TableName=run.names.table_name,
        ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1", "KMSMasterKeyId": keys["eu-west-1"]}}],
    )
    with pytest.raises(WaitTimeout) as caught:
        wait_for_table(clients, "us-east-1", run.names.table_name, timeout_s=0.3)
    assert "table UPDATING; replicas: eu-west-1 CREATING" in str(caught.value)
    assert "rerun this step" in str(caught.value)


def test_a_table_of_the_same_name_from_elsewhere_is_not_adopted(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    clients.client("dynamodb", "us-east-1").create_table(
        **{
            k: v
            for k, v in table_definition(run.names.table_name, run.params, "alias/aws/dynamodb", "other").items()
            if k != "SSESpecification"
        }
    )
    with pytest.raises(RuntimeError, match="not this run's"):
        ensure_table(clients, run, "alias/aws/dynamodb")


def test_an_eventual_table_says_so_in_every_status_row_and_has_no_witness(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    build_global_table(clients, run)
    rows = global_table_status(clients, run.params.regions, run.names.table_name)
    assert [(row.region, row.consistency, row.is_witness) for row in rows] == [
        ("us-east-1", "eventual", False),
        ("eu-west-1", "eventual", False),
    ]
    assert not run.resources("dynamodb:witness")
