"""Replication throughput and lag of the embedded global tables.

10,000 items are written with BatchWriteItem in us-east-1 of a us-east-1/eu-west-1/ap-southeast-1 table.
Lag is measured independently of the server's own metric: for one item of every batch, a prober polls
GetItem in the other regions from the write's acknowledgement until the item is visible.

Last line: {"items": N, "replicated_items_per_s": x, "configured_delay_ms": d, "lag_p50_ms": a, "lag_p99_ms": b}
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS
from globaltables.local.extensions import DEFAULT_DELAY
from globaltables.local.replication import DelayDistribution
from globaltables.tables import wait_for_table

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]
BATCH = 25


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--delay", default=DEFAULT_DELAY, help="replication delay distribution (ms)")
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()

    with EmbeddedAWS(replication_delay=args.delay, replica_transition_s=0.1) as server:
        clients = AwsClients("local", server.endpoint)
        ddb = {region: clients.client("dynamodb", region) for region in REGIONS}
        ddb[REGIONS[0]].create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for region in REGIONS[1:]:
            ddb[REGIONS[0]].update_table(TableName="bench", ReplicaUpdates=[{"Create": {"RegionName": region}}])
            wait_for_table(clients, REGIONS[0], "bench", timeout_s=60)

        lags: list[float] = []
        lock = threading.Lock()
        probes = ThreadPoolExecutor(max_workers=8)

        def probe(key: str, acknowledged: float) -> None:
            for region in REGIONS[1:]:
                while "Item" not in ddb[region].get_item(TableName="bench", Key={"PK": {"S": key}}):
                    time.sleep(0.002)
                with lock:
                    lags.append((time.monotonic() - acknowledged) * 1000)

        def write(batch_number: int) -> None:
            keys = [f"item-{batch_number * BATCH + i}" for i in range(BATCH)]
            ddb[REGIONS[0]].batch_write_item(
                RequestItems={"bench": [{"PutRequest": {"Item": {"PK": {"S": k}, "n": {"N": "1"}}}} for k in keys]}
            )
            probes.submit(probe, keys[-1], time.monotonic())

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.writers) as writers:
            list(writers.map(write, range(args.items // BATCH)))
        server.admin.wait_until_replicated(timeout=600)
        elapsed = time.monotonic() - started
        probes.shutdown(wait=True)
        replicated = {region: ddb[region].scan(TableName="bench", Select="COUNT")["Count"] for region in REGIONS}
        assert len(set(replicated.values())) == 1, replicated

    items = (args.items // BATCH) * BATCH
    figures = {
        "items": items,
        "replicated_items_per_s": round(items * (len(REGIONS) - 1) / elapsed, 1),
        "configured_delay_ms": DelayDistribution.parse(args.delay).typical_ms,
        "lag_p50_ms": round(statistics.median(lags), 1),
        "lag_p99_ms": round(percentile(lags, 0.99), 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
