"""The load harness against the ceiling of a minimal raw client, its p50 against an independent
measurement, and its memory when one million latencies are recorded.

Last line: {"harness_ops_per_s": h, "raw_ops_per_s": r, "ratio": h/r, "p50_error": e, "peak_rss_mb_1m": m}
(plus "peak_rss_mb_10k", to show that memory does not grow with the number of operations).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time

from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS
from globaltables.perf import LoadSpec, prefill, run_region

MEMORY_PROBE = """
import resource, sys
from globaltables.perf import Recorder
recorder = Recorder(seconds=60)
for i in range(int(sys.argv[1])):
    recorder.record("read", (i % 100_000) / 1e6 + 0.0005, i % 60)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def raw_rate(client, table: str, workers: int, seconds: float, key_space: int) -> float:
    """The same calls from the same number of threads, with nothing recorded: the ceiling."""
    counts = [0] * workers
    stop = time.perf_counter() + seconds

    def loop(number: int) -> None:
        i = number
        while time.perf_counter() < stop:
            client.get_item(TableName=table, Key={"PK": {"S": f"PERF#{i % key_space:08d}"}, "SK": {"S": "ITEM"}})
            counts[number] += 1
            i += workers

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def peak_rss_mb(operations: int) -> float:
    return float(subprocess.check_output([sys.executable, "-c", MEMORY_PROBE, str(operations)], text=True).strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    spec = LoadSpec(
        mode="closed", workers=args.workers, duration_s=args.seconds, warmup_s=1.0, read_ratio=1.0, key_space=200
    )
    with EmbeddedAWS() as server:
        clients = AwsClients("local", server.endpoint)
        client = clients.client("dynamodb", "us-east-1")
        client.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        prefill(clients, "us-east-1", "bench", spec)
        raw_rate(client, "bench", args.workers, 1.0, spec.key_space)  # warm-up
        raw = raw_rate(client, "bench", args.workers, args.seconds, spec.key_space)

        # Independent timing of the same calls: botocore's own events around each API call.
        independent: list[float] = []
        started = threading.local()
        client.meta.events.register(
            "before-call.dynamodb.GetItem", lambda **_: setattr(started, "t", time.perf_counter())
        )
        client.meta.events.register(
            "after-call.dynamodb.GetItem", lambda **_: independent.append(time.perf_counter() - started.t)
        )
        result = run_region(client, "us-east-1", "bench", spec)
    reads = result.stats("read")
    independent_p50_ms = statistics.median(independent) * 1000
    figures = {
        "harness_ops_per_s": reads.throughput_per_s,
        "raw_ops_per_s": round(raw, 1),
        "ratio": round(reads.throughput_per_s / raw, 3),
        "p50_error": round(abs(reads.percentiles_ms["p50"] - independent_p50_ms) / independent_p50_ms, 4),
        "peak_rss_mb_10k": round(peak_rss_mb(10_000), 1),
        "peak_rss_mb_1m": round(peak_rss_mb(1_000_000), 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
