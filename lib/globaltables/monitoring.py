"""CloudWatch alarms and dashboards per region, and a live replication-lag probe.

Fixes of the recipe (defect 8 in docs/recipe-defects.md): the metric is ``ReplicationLatency`` (ms), published in the sending
region with ``ReceivingRegion`` naming another region, so there is one alarm per sending and receiving
region and none for a region to itself; every alarm has actions (an SNS topic). The throttling
metrics are ``ReadThrottleEvents`` and ``WriteThrottleEvents`` (the recipe's ``...ThrottledEvents``
names do not exist either).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from globaltables import names as resource_names
from globaltables.clients import AwsClients
from globaltables.kinds import ResourceKind
from globaltables.names import LATENCY_METRIC, RUN_TAG_KEY, THROTTLE_METRICS
from globaltables.params import Params
from globaltables.state import RunState
from globaltables.waiting import wait_until

NOTEBOOK = "04_monitoring"
NAMESPACE = "AWS/DynamoDB"


def topic_name(table_name: str) -> str:
    return resource_names.topic_name(table_name)


def ensure_alarm_topic(clients: AwsClients, run: RunState, region: str) -> str:
    """The SNS topic alarms notify (CreateTopic is idempotent for a name); returns its ARN."""
    name = topic_name(run.names.table_name)
    arn = clients.client("sns", region).create_topic(Name=name, Tags=[{"Key": RUN_TAG_KEY, "Value": run.run_id}])[
        "TopicArn"
    ]
    run.record(ResourceKind.TOPIC, name, region, arn=arn, notebook=NOTEBOOK)
    return arn


def watches_replication_latency(params: Params) -> bool:
    """Whether the table publishes ``ReplicationLatency``: a strong (MRSC) table does not (AWS: "Global
    tables configured for multi-Region strong consistency (MRSC) do not publish a ReplicationLatency
    metric"), so no alarm or dashboard widget watches it there; the canary probe still measures how
    soon an eventually consistent read elsewhere sees a write."""
    return params.consistency != "strong"


def expected_alarm_count(params: Params) -> int:
    """Alarms 04 puts: two throttle alarms per region, plus one per other region where latency is watched."""
    regions = len(params.regions)
    return regions * (2 + (regions - 1 if watches_replication_latency(params) else 0))


def alarm_definitions(
    table_name: str, region: str, regions: list[str], run: RunState, topic_arn: str
) -> list[dict[str, Any]]:
    """PutMetricAlarm arguments for one region: read and write throttling, and ReplicationLatency
    towards each other region (eventual tables only: ``watches_replication_latency``)."""
    params = run.params
    if not watches_replication_latency(params):
        regions = [region]
    common = {
        "Namespace": NAMESPACE,
        "Period": 300,
        "EvaluationPeriods": 2,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn],
        "Tags": [{"Key": RUN_TAG_KEY, "Value": run.run_id}],
    }
    alarms = [
        {
            **common,
            "AlarmName": resource_names.alarm_name(table_name, metric, region),
            "AlarmDescription": f"{metric} on {table_name} in {region} above {params.throttle_alarm_events} in 5 minutes",
            "MetricName": metric,
            "Statistic": "Sum",
            "Threshold": float(params.throttle_alarm_events),
            "Dimensions": [{"Name": "TableName", "Value": table_name}],
        }
        for metric in THROTTLE_METRICS
    ]
    for receiving in regions:
        if receiving == region:
            continue
        alarms.append(
            {
                **common,
                # One slow 5-minute period is worth a page: a replication backlog shows as one spike when
                # it drains (no data point arrives while replication is stalled), never as two periods.
                "EvaluationPeriods": 1,
                "AlarmName": resource_names.alarm_name(table_name, LATENCY_METRIC, region, receiving),
                "AlarmDescription": f"Replication from {region} to {receiving} slower than "
                f"{params.replication_alarm_ms:.0f} ms on average over 5 minutes",
                "MetricName": LATENCY_METRIC,
                "Statistic": "Average",
                "Unit": "Milliseconds",
                "Threshold": float(params.replication_alarm_ms),
                "Dimensions": [
                    {"Name": "TableName", "Value": table_name},
                    {"Name": "ReceivingRegion", "Value": receiving},
                ],
            }
        )
    return alarms


def ensure_alarms(clients: AwsClients, run: RunState, region: str, topic_arn: str) -> list[str]:
    """Put the region's alarms (PutMetricAlarm replaces an alarm of the same name); returns their names."""
    cloudwatch = clients.client("cloudwatch", region)
    names = []
    for alarm in alarm_definitions(run.names.table_name, region, run.params.regions, run, topic_arn):
        cloudwatch.put_metric_alarm(**alarm)
        run.record(ResourceKind.ALARM, alarm["AlarmName"], region, notebook=NOTEBOOK, metric=alarm["MetricName"])
        names.append(alarm["AlarmName"])
    return names


def dashboard_body(table_name: str, region: str, regions: list[str], watch_latency: bool = True) -> dict[str, Any]:
    latency = [
        [NAMESPACE, "ReplicationLatency", "TableName", table_name, "ReceivingRegion", receiving]
        for receiving in regions
        if receiving != region
    ]
    latency_widget = {
        "type": "metric",
        "x": 0,
        "y": 0,
        "width": 12,
        "height": 6,
        "properties": {
            "title": f"Replication latency from {region} (ms)",
            "region": region,
            "metrics": latency,
            "stat": "Average",
            "period": 60,
        },
    }
    return {
        "widgets": [
            *([latency_widget] if watch_latency else []),
            {
                "type": "metric",
                "x": 12,
                "y": 0,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": "Throttle events",
                    "region": region,
                    "stat": "Sum",
                    "period": 60,
                    "metrics": [
                        [NAMESPACE, m, "TableName", table_name] for m in ("ReadThrottleEvents", "WriteThrottleEvents")
                    ],
                },
            },
            {
                "type": "metric",
                "x": 0,
                "y": 6,
                "width": 24,
                "height": 6,
                "properties": {
                    "title": "Consumed capacity",
                    "region": region,
                    "stat": "Sum",
                    "period": 60,
                    "metrics": [
                        [NAMESPACE, m, "TableName", table_name]
                        for m in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits")
                    ],
                },
            },
        ]
    }


def ensure_dashboard(clients: AwsClients, run: RunState, region: str) -> str:
    name = run.names.dashboard_name(region)
    body = dashboard_body(
        run.names.table_name, region, run.params.regions, watch_latency=watches_replication_latency(run.params)
    )
    clients.client("cloudwatch", region).put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
    run.record(ResourceKind.DASHBOARD, name, region, notebook=NOTEBOOK)
    return name


def alarm_states(clients: AwsClients, run: RunState) -> list[dict[str, Any]]:
    rows = []
    for resource in run.resources(ResourceKind.ALARM):
        alarms = clients.client("cloudwatch", resource.region).describe_alarms(AlarmNames=[resource.name])[
            "MetricAlarms"
        ]
        for alarm in alarms:
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            rows.append(
                {
                    "region": resource.region,
                    "alarm": alarm["AlarmName"],
                    "metric": alarm["MetricName"],
                    "receiving region": dimensions.get("ReceivingRegion", ""),
                    "threshold": alarm["Threshold"],
                    "actions": len(alarm.get("AlarmActions", [])),
                    "state": alarm["StateValue"],
                }
            )
    return rows


class LagSample(BaseModel):
    round: int
    source: str
    receiving: str
    lag_ms: float
    at: datetime


def probe_replication_lag(
    clients: AwsClients, regions: list[str], table_name: str, rounds: int, timeout_s: float = 60.0
) -> list[LagSample]:
    """Canary writes: each round, one timestamped item per region, polled for in every other region
    until visible; lag is from the write's acknowledgement to the first read that sees it. The canaries
    are deleted afterwards (the deletes replicate too)."""
    samples: list[LagSample] = []
    lock = threading.Lock()
    marker = uuid.uuid4().hex[:8]
    interval = min(clients.poll_interval_s, 0.005) if clients.target == "local" else 0.05

    def watch(round_number: int, source: str, receiving: str, key: dict[str, Any], acknowledged: float) -> None:
        reader = clients.client("dynamodb", receiving)

        def probe() -> tuple[bool, bool]:
            visible = "Item" in reader.get_item(TableName=table_name, Key=key, ConsistentRead=True)
            return visible, visible

        wait_until(probe, f"canary from {source} visible in {receiving}", timeout_s, interval)
        lag = (time.monotonic() - acknowledged) * 1000
        with lock:
            samples.append(
                LagSample(
                    round=round_number, source=source, receiving=receiving, lag_ms=round(lag, 2), at=datetime.now(UTC)
                )
            )

    keys = []
    with ThreadPoolExecutor(max_workers=max(2, len(regions) * (len(regions) - 1))) as pool:
        for round_number in range(rounds):
            futures = []
            for source in regions:
                key = {"PK": {"S": f"CANARY#{marker}"}, "SK": {"S": f"{source}#{round_number:04d}"}}
                clients.client("dynamodb", source).put_item(
                    TableName=table_name,
                    Item={**key, "written_at": {"S": datetime.now(UTC).isoformat()}, "entity": {"S": "canary"}},
                )
                acknowledged = time.monotonic()
                keys.append((source, key))
                futures += [
                    pool.submit(watch, round_number, source, receiving, key, acknowledged)
                    for receiving in regions
                    if receiving != source
                ]
            for future in futures:
                future.result()
    for source, key in keys:
        clients.client("dynamodb", source).delete_item(TableName=table_name, Key=key)
    return samples


def replication_latency_metrics(
    clients: AwsClients, regions: list[str], table_name: str, since: datetime, until: datetime | None = None
) -> list[dict[str, Any]]:
    """What CloudWatch holds for ReplicationLatency, per sending and receiving region (1-minute points)."""
    until = until or datetime.now(UTC) + timedelta(minutes=1)
    rows = []
    for source in regions:
        cloudwatch = clients.client("cloudwatch", source)
        for receiving in regions:
            if receiving == source:
                continue
            points = cloudwatch.get_metric_statistics(
                Namespace=NAMESPACE,
                MetricName="ReplicationLatency",
                Dimensions=[
                    {"Name": "TableName", "Value": table_name},
                    {"Name": "ReceivingRegion", "Value": receiving},
                ],
                StartTime=since - timedelta(minutes=1),
                EndTime=until,
                Period=60,
                Statistics=["Average", "Maximum", "SampleCount"],
            )["Datapoints"]
            for point in sorted(points, key=lambda p: p["Timestamp"]):
                rows.append(
                    {
                        "source": source,
                        "receiving": receiving,
                        "minute": point["Timestamp"],
                        "average_ms": round(point["Average"], 2),
                        "maximum_ms": round(point["Maximum"], 2),
                        "samples": int(point["SampleCount"]),
                    }
                )
    return rows
