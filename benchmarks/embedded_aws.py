"""Baseline figures of the embedded AWS: start-up time and single-client item throughput.

Last line: {"startup_s": s, "put_item_per_s": p, "get_item_per_s": g, "put_item_p50_ms": m, "items": n}
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS

ITEMS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def main() -> None:
    started = time.perf_counter()
    with EmbeddedAWS() as server:
        startup = time.perf_counter() - started
        dynamodb = AwsClients("local", server.endpoint).client("dynamodb", "us-east-1")
        dynamodb.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # Warm the connection pool and the server's code paths before timing.
        for i in range(20):
            dynamodb.put_item(TableName="bench", Item={"PK": {"S": f"warm{i}"}})
        latencies = []
        began = time.perf_counter()
        for i in range(ITEMS):
            t0 = time.perf_counter()
            dynamodb.put_item(TableName="bench", Item={"PK": {"S": f"k{i}"}, "v": {"N": str(i)}})
            latencies.append(time.perf_counter() - t0)
        put_s = time.perf_counter() - began
        began = time.perf_counter()
        for i in range(ITEMS):
            dynamodb.get_item(TableName="bench", Key={"PK": {"S": f"k{i}"}})
        get_s = time.perf_counter() - began
    figures = {
        "items": ITEMS,
        "startup_s": round(startup, 3),
        "put_item_per_s": round(ITEMS / put_s, 1),
        "get_item_per_s": round(ITEMS / get_s, 1),
        "put_item_p50_ms": round(statistics.median(latencies) * 1000, 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
