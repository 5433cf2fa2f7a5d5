"""Application Auto Scaling refuses a DynamoDB table or index that does not exist, as AWS does; the
library registers write auto scaling after the table exists (02's order)."""

import pytest
from globaltables.kms import ensure_region_key
from globaltables.tables import ensure_table, ensure_write_autoscaling

from tests.unit.local.helpers import create_table, error_of, listed, unique_name

EAST, WEST = "us-east-1", "eu-west-1"


def register(scaling, resource_id, dimension="dynamodb:table:WriteCapacityUnits"):
    return scaling.register_scalable_target(
        ServiceNamespace="dynamodb", ResourceId=resource_id, ScalableDimension=dimension, MinCapacity=1, MaxCapacity=5
    )


@pytest.mark.parametrize("dimension", ["dynamodb:table:WriteCapacityUnits", "dynamodb:table:ReadCapacityUnits"])
def test_a_missing_table_is_refused(clients, dimension):
    name = unique_name("missing")
    error = error_of(register, clients.client("application-autoscaling", EAST), f"table/{name}", dimension)
    assert error == {"Code": "ValidationException", "Message": f"DynamoDB table does not exist: table/{name}"}
    targets = listed(
        clients.client("application-autoscaling", EAST),
        "describe_scalable_targets",
        "ScalableTargets",
        ServiceNamespace="dynamodb",
        ResourceIds=[f"table/{name}"],
    )
    assert targets == []


def test_a_missing_index_of_an_existing_table_is_refused(clients):
    name = create_table(clients.client("dynamodb", EAST))
    resource_id = f"table/{name}/index/NOPE"
    error = error_of(
        register, clients.client("application-autoscaling", EAST), resource_id, "dynamodb:index:WriteCapacityUnits"
    )
    assert error == {"Code": "ValidationException", "Message": f"DynamoDB index does not exist: {resource_id}"}


def test_a_table_in_another_region_only_is_refused_here(clients):
    name = create_table(clients.client("dynamodb", WEST))
    error = error_of(register, clients.client("application-autoscaling", EAST), f"table/{name}")
    assert error["Message"] == f"DynamoDB table does not exist: table/{name}"


def test_an_existing_table_and_index_are_registered(clients):
    name = create_table(clients.client("dynamodb", EAST))
    scaling = clients.client("application-autoscaling", EAST)
    register(scaling, f"table/{name}")
    register(scaling, f"table/{name}/index/GSI1", "dynamodb:index:WriteCapacityUnits")
    targets = listed(scaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb")
    assert {t["ResourceId"] for t in targets} >= {f"table/{name}", f"table/{name}/index/GSI1"}


def test_notebook_02s_order_table_first_then_write_auto_scaling_works(clients, new_run):
    run = new_run(billing_mode="PROVISIONED", write_capacity=2, max_write_capacity=4)
    primary = run.params.primary_region
    key = ensure_region_key(clients, run, primary).arn
    with pytest.raises(Exception, match="DynamoDB table does not exist"):
        ensure_write_autoscaling(clients, run, primary)  # the recipe's order: AWS refuses it
    ensure_table(clients, run, key)
    scaled = ensure_write_autoscaling(clients, run, primary)
    assert scaled == [f"table/{run.names.table_name}", f"table/{run.names.table_name}/index/GSI1"]
