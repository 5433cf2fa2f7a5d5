"""Lambda handler of the runbook (notebook 05): writes and reads the global table in every region.

Environment: TABLE_NAME, REGIONS (a JSON list, primary first). For each region it writes a probe
item, reads it back with a strongly consistent read, queries GSI1, and times each call. The
result says, per region, what worked and how long it took, as seen from inside the function.
"""

import json
import os
import time
import uuid
from datetime import UTC, datetime

import boto3


def _timed(call, **arguments):
    started = time.perf_counter()
    response = call(**arguments)
    return response, round((time.perf_counter() - started) * 1000, 2)


def handler(event, context):
    table_name = os.environ["TABLE_NAME"]
    regions = json.loads(os.environ["REGIONS"])
    invocation = event.get("invocation") or str(uuid.uuid4())
    home = os.environ.get("AWS_REGION")
    results = {}
    for region in regions:
        client = boto3.client("dynamodb", region_name=region)
        key = {"PK": {"S": f"LAMBDA#{invocation}"}, "SK": {"S": f"{home}->{region}"}}
        try:
            _, write_ms = _timed(
                client.put_item,
                TableName=table_name,
                Item={
                    **key,
                    "entity": {"S": "lambda-probe"},
                    "written_at": {"S": datetime.now(UTC).isoformat()},
                    "from_region": {"S": home},
                    "GSI1PK": {"S": f"LAMBDA#{invocation}"},
                    "GSI1SK": {"S": region},
                },
            )
            read, read_ms = _timed(client.get_item, TableName=table_name, Key=key, ConsistentRead=True)
            query, query_ms = _timed(
                client.query,
                TableName=table_name,
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :p",
                ExpressionAttributeValues={":p": {"S": f"LAMBDA#{invocation}"}},
            )
            results[region] = {
                "ok": "Item" in read,
                "write_ms": write_ms,
                "read_ms": read_ms,
                "query_ms": query_ms,
                "items_in_gsi": query["Count"],
            }
        except Exception as error:  # reported per region: one unreachable region must not hide the others
            results[region] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    print(json.dumps({"function_region": home, "invocation": invocation, "results": results}))
    return {
        "function_region": home,
        "invocation": invocation,
        "results": results,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
