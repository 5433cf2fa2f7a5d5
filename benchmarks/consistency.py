"""Write latency, write conflicts and linearizability of an eventual (MREC) and a strong (MRSC) global table
at the same replication delay.

Both tables span us-east-1, us-east-2 and us-west-2 (AWS's US set of MRSC regions), three replicas each, in
one embedded AWS of its own:
- write latency: a client in each region writes items of its own one after another (no contention); p50 and
  p99 of PutItem (hdrhistogram);
- conflicts: two clients in each region write the same three items (``record_history`` with reads off);
  ``ReplicatedWriteConflictException`` answers (each backed off and sent again) per 1,000 writes;
- violations: ``--histories`` short histories (a client in each region, 2 keys, 4 operations each, half
  of them strongly consistent reads) that the linearizability checker finds not linearizable.

Last line: {"delay_ms": d, "eventual": {"write_p50_ms": a, "write_p99_ms": b, "conflicts_per_1000": c,
"violations": v, "histories": n}, "strong": {...}}
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from globaltables.clients import AwsClients
from globaltables.linearizability import SORT_KEY, check, record_history
from globaltables.local import EmbeddedAWS
from globaltables.local.replication import DelayDistribution
from globaltables.perf import new_histogram
from globaltables.tables import wait_for_table

REGIONS = ["us-east-1", "us-east-2", "us-west-2"]
KEY_SCHEMA = {
    "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def make_table(clients: AwsClients, mode: str) -> str:
    """A three-replica table: MREC one replica at a time (streams on), MRSC in one UpdateTable."""
    ddb = clients.client("dynamodb", REGIONS[0])
    name = f"consistency-{mode}"
    if mode == "eventual":
        stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        ddb.create_table(TableName=name, StreamSpecification=stream, **KEY_SCHEMA)
        for region in REGIONS[1:]:
            wait_for_table(clients, REGIONS[0], name, timeout_s=60)
            ddb.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region}}])
    else:
        ddb.create_table(TableName=name, **KEY_SCHEMA)
        wait_for_table(clients, REGIONS[0], name, timeout_s=60)
        ddb.update_table(
            TableName=name,
            MultiRegionConsistency="STRONG",
            ReplicaUpdates=[{"Create": {"RegionName": region}} for region in REGIONS[1:]],
        )
    wait_for_replicas(clients, name)
    return name


def wait_for_replicas(clients: AwsClients, name: str, timeout_s: float = 60.0) -> None:
    """Until the table and its replicas in every other region are ACTIVE."""
    ddb = clients.client("dynamodb", REGIONS[0])
    deadline = time.monotonic() + timeout_s
    while True:
        table = ddb.describe_table(TableName=name)["Table"]
        active = {r["RegionName"] for r in table.get("Replicas", []) if r["ReplicaStatus"] == "ACTIVE"}
        if table["TableStatus"] == "ACTIVE" and active >= set(REGIONS[1:]):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not ACTIVE with replicas in {REGIONS[1:]} after {timeout_s:.0f}s: {table}")
        time.sleep(0.1)


def write_latencies(clients: AwsClients, name: str, writes: int) -> tuple[float, float]:
    """p50 and p99 (ms) of uncontended PutItems, ``writes`` in each region."""
    histogram = new_histogram()
    lock = threading.Lock()

    def writer(region: str) -> None:
        client = clients.client("dynamodb", region)
        for number in range(writes):
            item = {"PK": {"S": f"latency#{region}#{number}"}, "SK": {"S": SORT_KEY}, "value": {"S": str(number)}}
            started = time.perf_counter()
            client.put_item(TableName=name, Item=item)
            elapsed_us = int((time.perf_counter() - started) * 1e6)
            with lock:
                histogram.record_value(max(1, elapsed_us))

    with ThreadPoolExecutor(max_workers=len(REGIONS)) as pool:
        list(pool.map(writer, REGIONS))
    return (
        round(histogram.get_value_at_percentile(50) / 1000, 1),
        round(histogram.get_value_at_percentile(99) / 1000, 1),
    )


def contended_writes(clients: AwsClients, name: str, writes: int, seed: int) -> dict[str, Any]:
    """Two clients in each region write the same three items; conflicts per 1,000 writes."""
    per_client = max(1, writes // (2 * len(REGIONS)))
    history = record_history(
        clients, REGIONS, name, keys=3, clients_per_region=2, operations_per_client=per_client,
        read_ratio=0.0, rng=random.Random(seed), key_prefix=f"contended-{seed}",
    )  # fmt: skip
    conflicts = sum(o.conflicts for o in history)
    return {
        "conflicts_per_1000": round(1000 * conflicts / len(history), 1),
        "contended_writes": len(history),
        "failed_writes": sum(o.ok is not True for o in history),
    }


def violations(clients: AwsClients, name: str, histories: int, seed: int) -> int:
    def one(number: int) -> bool:
        history = record_history(
            clients, REGIONS, name, keys=2, operations_per_client=4, read_ratio=0.5,
            rng=random.Random(seed * 1_000_000 + number), key_prefix=f"history-{seed}-{number}",
        )  # fmt: skip
        return not check(history).linearizable

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(pool.map(one, range(histories)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", default="fixed:100", help="replication delay distribution (ms), both modes")
    parser.add_argument("--writes", type=int, default=50, help="uncontended writes per region (latency)")
    parser.add_argument("--contended", type=int, default=300, help="contended writes in all (conflicts)")
    parser.add_argument("--histories", type=int, default=50, help="histories checked per mode")
    parser.add_argument("--modes", default="eventual,strong", help="comma-separated: eventual, strong")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]

    figures: dict[str, Any] = {"delay_ms": DelayDistribution.parse(args.delay).typical_ms}
    with EmbeddedAWS(replication_delay=args.delay, replica_transition_s=0.1) as server:
        clients = AwsClients("local", server.endpoint)
        for mode in modes:
            started = time.monotonic()
            name = make_table(clients, mode)
            p50, p99 = write_latencies(clients, name, args.writes)
            contention = contended_writes(clients, name, args.contended, args.seed)
            violating = violations(clients, name, args.histories, args.seed)
            figures[mode] = {
                "write_p50_ms": p50,
                "write_p99_ms": p99,
                **contention,
                "violations": violating,
                "histories": args.histories,
                "seconds": round(time.monotonic() - started, 1),
            }
            print(f"{mode}: {figures[mode]}", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
