"""A rough monthly cost of the run on AWS, shown before anything is created.

Prices are AWS's public list prices in us-east-1 (USD, checked 2026-11); other regions cost up to
about a third more. The estimate covers what this runbook creates: the run's own writes and their
replication, storage, PITR and a backup of the sample data, the KMS keys, alarms and dashboards.
It is an order of magnitude to decide with, not a bill.

With ``billing_mode: PROVISIONED`` the table and its index are billed by the hour for the capacity
they hold, used or not, instead of per request (the on-demand request lines are then left out):
read capacity (RCU) in every region, and write capacity, which a global table (every run has two
regions or more) holds as replicated write capacity (rWCU) in every replica region, the local writes'
share included ("Provisioned capacity mode with auto scaling, measured in replicated write capacity
units (rWCUs)": AWS's *Best practices and requirements for managing global tables*); so there is no
separate WCU line. The write capacity counted is the auto scaling minimum (``write_capacity``):
scaling out costs more. Prices per unit-hour in us-east-1 (checked 2026-11):
https://aws.amazon.com/dynamodb/pricing/provisioned/ lists RCU 0.00013 and WCU 0.00065 USD; since the
price change of 1 November 2024 an rWCU costs what a WCU costs (0.00065; it was 0.000975).

A strong table (``consistency: strong``, MRSC) is billed as a global table is ("Global tables billing" in
the developer guide): each write as a replicated write (rWRU, or rWCU when provisioned) in every replica
region, the region that took it included, so there is no single-region write line; plus cross-region
transfer of each write to the other members. A witness "does not incur storage or write costs" (AWS's
*Using DynamoDB global tables*): it adds no write, storage, PITR or key line, only its share of the
transfer (AWS names no exception to data transfer for it, so it is counted: an upper estimate). AWS
publishes no other MRSC-specific price.
"""

from __future__ import annotations

from typing import Any

from globaltables.fanout import billed_gb_seconds, load_engine
from globaltables.params import Params

PRICES_USD = {
    "write request units, per million": 0.625,
    "replicated write request units, per million": 0.625,
    "read request units, per million": 0.125,
    "storage, per GB-month": 0.25,
    "PITR, per GB-month": 0.20,
    "on-demand backup, per GB-month": 0.10,
    "KMS key, per month": 1.00,
    "CloudWatch alarm, per month": 0.10,
    "CloudWatch dashboard, per month (after 3 free)": 3.00,
    "data transfer between regions, per GB": 0.02,
    "read capacity unit-hours": 0.00013,
    "replicated write capacity unit-hours": 0.00065,
    "witness of a strong table (no storage or write cost)": 0.0,
    "Lambda compute, per GB-second": 0.0000166667,
    "Lambda requests, per million": 0.20,
}
ITEM_KB = 1.0  # sample items are well under 1 KB: one write request unit each
HOURS_PER_MONTH = 730  # AWS's pricing examples bill a month as 730 hours
CAPACITY_HOLDERS = 2  # the table and its one global secondary index (tables.GSI_NAME), same capacity each


def run_operations(params: Params) -> dict[str, float]:
    """Operations the runbook itself performs in one run, as billed: ``writes`` (single-region write
    units), ``replicated writes``, ``reads`` and ``transferred writes`` (copies sent to another region)."""
    regions = len(params.regions)
    load_ops = (
        params.load_rate_per_s * params.load_duration_s if params.load_mode == "open" else 400 * params.load_duration_s
    )
    load_ops *= regions * (params.load_invocations_per_region if load_engine(params) == "lambda" else 1)
    writes = (
        params.item_count
        + params.load_key_space
        + load_ops * (1 - params.load_read_ratio)
        + params.conflict_items * params.conflict_rounds * regions * max(1, len(params.conflict_delays_ms))
        + params.canary_rounds * regions * 2
        + regions * regions
    )
    reads = load_ops * params.load_read_ratio + params.item_count * regions * 3
    if params.consistency == "strong":
        # Replicated writes in every replica region, the local one included; copies go to every other
        # member, the witness too.
        transferred = writes * (len(params.member_regions) - 1)
        return {"writes": 0.0, "replicated writes": writes * regions, "reads": reads, "transferred writes": transferred}
    replicated = writes * (regions - 1)
    return {"writes": writes, "replicated writes": replicated, "reads": reads, "transferred writes": replicated}


def estimate(params: Params) -> list[dict[str, Any]]:
    """Rows of (item, quantity, unit price, USD) and a total; recurring items counted for one month."""
    regions = len(params.regions)
    ops = run_operations(params)
    data_gb = params.item_count * ITEM_KB / 1024 / 1024
    alarms = regions * (2 + regions - 1)
    dashboards = max(0, regions - 3)
    lines = [
        *(provisioned_lines(params) if params.billing_mode == "PROVISIONED" else on_demand_lines(ops)),
        ("storage, per GB-month", data_gb * regions),
        ("PITR, per GB-month", data_gb * regions),
        ("on-demand backup, per GB-month", data_gb),
        ("data transfer between regions, per GB", ops["transferred writes"] * ITEM_KB / 1024 / 1024),
        ("KMS key, per month", regions),
        ("CloudWatch alarm, per month", alarms),
        ("CloudWatch dashboard, per month (after 3 free)", dashboards),
        *([("witness of a strong table (no storage or write cost)", 1)] if params.witness_region else []),
        *lambda_lines(params),
    ]
    rows = [
        {
            "item": item,
            "quantity": round(quantity, 4),
            "unit price": PRICES_USD[item],
            "USD": round(quantity * PRICES_USD[item], 4),
        }
        for item, quantity in lines
    ]
    rows.append(
        {
            "item": "total for a month, if nothing is cleaned up",
            "quantity": "",
            "unit price": "",
            "USD": round(sum(row["USD"] for row in rows), 2),
        }
    )
    return rows


def on_demand_lines(ops: dict[str, float]) -> list[tuple[str, float]]:
    """Requests, billed one by one (``PAY_PER_REQUEST``); a strong table has no single-region writes."""
    return [
        *([("write request units, per million", ops["writes"] / 1e6)] if ops["writes"] else []),
        ("replicated write request units, per million", ops["replicated writes"] / 1e6),
        ("read request units, per million", ops["reads"] / 1e6),
    ]


def provisioned_lines(params: Params) -> list[tuple[str, float]]:
    """Capacity held for a month by the table and its index in every region (``PROVISIONED``)."""
    unit_hours = CAPACITY_HOLDERS * len(params.regions) * HOURS_PER_MONTH
    return [
        ("read capacity unit-hours", params.read_capacity * unit_hours),
        ("replicated write capacity unit-hours", params.write_capacity * unit_hours),
    ]


def lambda_lines(params: Params) -> list[tuple[str, float]]:
    """The load harness's time in Lambda, when 07 runs it there (``load_engine`` resolves to ``lambda``):
    every invocation billed for warm-up, duration and a cold start at the function's memory, and its
    request. (05's probe, a few invocations of well under a second, is within Lambda's free tier.)"""
    if load_engine(params) != "lambda":
        return []
    requests = len(params.regions) * params.load_invocations_per_region
    return [
        ("Lambda compute, per GB-second", billed_gb_seconds(params)),
        ("Lambda requests, per million", requests / 1e6),
    ]


def total(rows: list[dict[str, Any]]) -> float:
    return rows[-1]["USD"]
