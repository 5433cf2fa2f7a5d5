"""The cost estimate: provisioned capacity billed by the hour, on-demand requests by the million."""

import pytest
from globaltables import costs
from globaltables.params import validate_params


def rows_by_item(params):
    return {row["item"]: row for row in costs.estimate(params)}


def test_provisioned_capacity_is_billed_per_unit_hour_in_every_region_for_table_and_index():
    params = validate_params(
        {"billing_mode": "PROVISIONED", "read_capacity": 7, "write_capacity": 6, "regions": ["us-east-1", "eu-west-1"]}
    )
    rows = rows_by_item(params)
    # 7 RCU for the table + 7 for GSI1, in 2 regions, for 730 hours: 20,440 RCU-hours at 0.00013 USD.
    reads = rows["read capacity unit-hours"]
    assert reads["quantity"] == 7 * 2 * 2 * 730 == 20_440
    assert reads["USD"] == pytest.approx(2.6572)
    # 6 WCU for the table + 6 for GSI1, in 2 regions, held as rWCU: 17,520 rWCU-hours at 0.00065 USD.
    writes = rows["replicated write capacity unit-hours"]
    assert writes["quantity"] == 6 * 2 * 2 * 730 == 17_520
    assert writes["USD"] == pytest.approx(11.388)


def test_provisioned_mode_does_not_also_charge_requests():
    rows = rows_by_item(validate_params({"billing_mode": "PROVISIONED"}))
    assert not [item for item in rows if "request units" in item]
    assert "storage, per GB-month" in rows and "data transfer between regions, per GB" in rows


def test_on_demand_mode_charges_requests_and_no_capacity():
    rows = rows_by_item(validate_params({"billing_mode": "PAY_PER_REQUEST"}))
    assert {"write request units, per million", "read request units, per million"} <= set(rows)
    assert not [item for item in rows if "unit-hours" in item]


def test_the_total_adds_the_capacity_of_the_default_provisioned_run():
    on_demand = costs.total(costs.estimate(validate_params({"billing_mode": "PAY_PER_REQUEST"})))
    provisioned_rows = costs.estimate(validate_params({"billing_mode": "PROVISIONED"}))
    request_usd = sum(
        row["USD"]
        for row in costs.estimate(validate_params({"billing_mode": "PAY_PER_REQUEST"}))[:-1]
        if "request units" in row["item"]
    )
    # 10 RCU and 10 rWCU for table and index in 3 regions: 43,800 unit-hours each, 5.694 + 28.47 USD.
    assert costs.total(provisioned_rows) == pytest.approx(on_demand - request_usd + 5.694 + 28.47, abs=0.01)


STRONG_WITH_WITNESS = {"consistency": "strong", "regions": ["us-east-1", "us-east-2"], "witness_region": "us-west-2"}


def test_a_strong_table_bills_every_write_as_replicated_in_each_replica_region():
    params = validate_params(STRONG_WITH_WITNESS)
    ops = costs.run_operations(params)
    eventual = costs.run_operations(validate_params({"regions": ["us-east-1", "us-east-2"]}))
    assert ops["writes"] == 0  # no single-region write units
    assert ops["replicated writes"] == eventual["writes"] * 2  # in both replica regions
    # Each write is sent to the other replica and to the witness.
    assert ops["transferred writes"] == eventual["writes"] * 2
    rows = rows_by_item(params)
    assert "write request units, per million" not in rows
    assert rows["replicated write request units, per million"]["quantity"] == pytest.approx(
        ops["replicated writes"] / 1e6, abs=1e-4
    )


def test_a_witness_adds_no_storage_write_or_key_cost():
    with_witness = rows_by_item(validate_params(STRONG_WITH_WITNESS))
    witness = with_witness["witness of a strong table (no storage or write cost)"]
    assert (witness["quantity"], witness["USD"]) == (1, 0.0)
    # Storage, PITR and keys are counted in the two replica regions only.
    two_regions = rows_by_item(validate_params({"regions": ["us-east-1", "us-east-2"]}))
    for item in ("storage, per GB-month", "PITR, per GB-month", "KMS key, per month"):
        assert with_witness[item]["quantity"] == two_regions[item]["quantity"], item
    three_replicas = rows_by_item(
        validate_params({"consistency": "strong", "regions": ["us-east-1", "us-east-2", "us-west-2"]})
    )
    assert "witness of a strong table (no storage or write cost)" not in three_replicas
    assert three_replicas["KMS key, per month"]["quantity"] == 3


def test_a_strong_provisioned_table_holds_replicated_write_capacity_in_its_replica_regions_only():
    rows = rows_by_item(validate_params({**STRONG_WITH_WITNESS, "billing_mode": "PROVISIONED", "write_capacity": 6}))
    assert rows["replicated write capacity unit-hours"]["quantity"] == 6 * 2 * 2 * 730


def test_the_load_harness_time_in_lambda_is_billed_when_the_engine_resolves_to_lambda():
    from globaltables.fanout import MEMORY_MB, STARTUP_S

    on_aws = validate_params({"target": "aws", "confirm_costs": True, "load_invocations_per_region": 3})
    lines = {row["item"]: row["quantity"] for row in costs.estimate(on_aws)}
    seconds = on_aws.load_warmup_s + on_aws.load_duration_s + STARTUP_S
    assert lines["Lambda compute, per GB-second"] == round(3 * 3 * seconds * MEMORY_MB / 1024, 4)
    assert lines["Lambda requests, per million"] == round(9 / 1e6, 4)
    local_engine = validate_params({"target": "aws", "confirm_costs": True, "load_engine": "local"})
    assert not any(row["item"].startswith("Lambda") for row in costs.estimate(local_engine))
