"""Small helpers for the embedded-AWS tests: unique tables, bounded polling."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

KEYS = {
    "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
        {"AttributeName": "GSI1PK", "AttributeType": "S"},
        {"AttributeName": "GSI1SK", "AttributeType": "S"},
    ],
}
GSI1 = {
    "IndexName": "GSI1",
    "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
    "Projection": {"ProjectionType": "ALL"},
}


def unique_name(prefix: str = "gt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_table(client: Any, name: str | None = None, **overrides: Any) -> str:
    name = name or unique_name()
    arguments = {
        "TableName": name,
        **KEYS,
        "GlobalSecondaryIndexes": [GSI1],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        **overrides,
    }
    client.create_table(**arguments)
    return name


def poll(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


def wait_global_table_active(client: Any, name: str) -> dict[str, Any]:
    def active() -> dict[str, Any] | None:
        table = client.describe_table(TableName=name)["Table"]
        replicas_ok = all(r["ReplicaStatus"] == "ACTIVE" for r in table.get("Replicas", []))
        return table if table["TableStatus"] == "ACTIVE" and replicas_ok else None

    return poll(active, what=f"{name} ACTIVE with its replicas")


def add_replica(client: Any, name: str, region: str, **create: Any) -> dict[str, Any]:
    client.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region, **create}}])
    return wait_global_table_active(client, name)


def item(pk: str, sk: str = "A", **attributes: Any) -> dict[str, Any]:
    body = {"PK": {"S": pk}, "SK": {"S": sk}}
    for key, value in attributes.items():
        body[key] = {"N": str(value)} if isinstance(value, int) else {"S": str(value)}
    return body


def scan_all(client: Any, name: str) -> list[dict[str, Any]]:
    paginator = client.get_paginator("scan")
    items = [i for page in paginator.paginate(TableName=name, ConsistentRead=True) for i in page["Items"]]
    return sorted(items, key=lambda i: (i["PK"]["S"], i["SK"]["S"]))


def error_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The AWS error (``Code``, ``Message``) that ``call(*args, **kwargs)`` must raise."""
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]


def listed(client: Any, operation: str, key: str, **arguments: Any) -> list[Any]:
    """Every page of a list call: the embedded AWS answers lists in small pages, as AWS may."""
    pages = client.get_paginator(operation).paginate(**arguments)
    return [entry for page in pages for entry in page[key]]


def table_names(client: Any) -> list[str]:
    return listed(client, "list_tables", "TableNames")


def provisioned_global_table(
    clients: Any, regions: list[str], units: int = 5, max_units: int | None = None, policies: bool = False
) -> str:
    """A provisioned table of ``units`` read and write capacity (table and GSI1) in ``regions[0]``, with
    the write auto scaling AWS requires before a replica (targets ``units``-``max_units``, and
    target-tracking policies at 70 % when ``policies``, as notebook 02 makes them), replicated to the
    other regions."""
    ddb = clients.client("dynamodb", regions[0])
    throughput = {"ReadCapacityUnits": units, "WriteCapacityUnits": units}
    name = create_table(
        ddb,
        BillingMode="PROVISIONED",
        ProvisionedThroughput=throughput,
        GlobalSecondaryIndexes=[{**GSI1, "ProvisionedThroughput": throughput}],
    )
    wait_global_table_active(ddb, name)
    scaling = clients.client("application-autoscaling", regions[0])
    for resource, kind in ((f"table/{name}", "table"), (f"table/{name}/index/GSI1", "index")):
        dimension = f"dynamodb:{kind}:WriteCapacityUnits"
        scaling.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId=resource,
            ScalableDimension=dimension,
            MinCapacity=units,
            MaxCapacity=max_units or units,
        )
        if policies:
            scaling.put_scaling_policy(
                PolicyName=f"{name}-write-{resource.rsplit('/', 1)[-1]}",
                ServiceNamespace="dynamodb",
                ResourceId=resource,
                ScalableDimension=dimension,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": 70.0,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"},
                },
            )
    for region in regions[1:]:
        add_replica(ddb, name, region)
    return name
