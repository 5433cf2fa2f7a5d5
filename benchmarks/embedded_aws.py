"""Baseline figures of the embedded AWS: start-up time and single-client item throughput, and the same
put_item loop against a plain moto server (``python -m moto.server``, moto's own werkzeug server, from
the same virtual environment) started on this machine in the same run.

Both get the same table (one region, no replicas, no stream: plain moto has no replication, so a table
with replicas would not be a like-for-like comparison) and the same client; the two put_item loops take
turns (``--rounds``) so that a burst of load from elsewhere on the machine falls on both.

Then the same put_item loop against the embedded AWS on a table with a stream (NEW_AND_OLD_IMAGES, as
every replica has): each write also makes a stream record.

Last line: {"items": n, "startup_s": s, "put_item_per_s": p, "get_item_per_s": g, "put_item_p50_ms": m,
"raw_moto_put_item_per_s": r, "raw_moto_put_item_p50_ms": q, "ratio_to_raw_moto": p/r,
"put_item_with_stream_per_s": w}
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS

TABLE = "bench"
STREAM_TABLE = "bench-stream"
RAW_MOTO_START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def raw_moto_server() -> Iterator[str]:
    """moto's own server on 127.0.0.1, stopped (SIGTERM) on exit; yields its endpoint once it answers."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + RAW_MOTO_START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on port {port}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_table(dynamodb: Any, table: str = TABLE, **settings: Any) -> None:
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **settings,
    )
    # Warm the connection pool and the server's code paths before timing.
    for i in range(20):
        dynamodb.put_item(TableName=table, Item={"PK": {"S": f"warm{i}"}})


def put_items(dynamodb: Any, first: int, count: int, table: str = TABLE) -> tuple[float, list[float]]:
    """Seconds for ``count`` put_item calls in a loop, and each call's latency."""
    latencies = []
    began = time.perf_counter()
    for i in range(first, first + count):
        t0 = time.perf_counter()
        dynamodb.put_item(TableName=table, Item={"PK": {"S": f"k{i}"}, "v": {"N": str(i)}})
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - began, latencies


def measure(embedded: Any, raw: Any, items: int, rounds: int) -> dict[str, float]:
    """The two put_item loops in turns, then a get_item loop and a put_item loop on a table with a stream
    against the embedded AWS."""
    make_table(embedded)
    make_table(raw)
    per_round = [items // rounds + (1 if n < items % rounds else 0) for n in range(rounds)]
    seconds = {"embedded": 0.0, "raw": 0.0}
    latencies: dict[str, list[float]] = {"embedded": [], "raw": []}
    first = 0
    for count in per_round:
        for name, client in (("embedded", embedded), ("raw", raw)):
            spent, measured = put_items(client, first, count)
            seconds[name] += spent
            latencies[name] += measured
        first += count
    began = time.perf_counter()
    for i in range(items):
        embedded.get_item(TableName=TABLE, Key={"PK": {"S": f"k{i}"}})
    get_s = time.perf_counter() - began
    make_table(
        embedded, STREAM_TABLE, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )
    stream_s, _ = put_items(embedded, 0, items, STREAM_TABLE)
    put_rate, raw_rate = items / seconds["embedded"], items / seconds["raw"]
    return {
        "put_item_per_s": round(put_rate, 1),
        "get_item_per_s": round(items / get_s, 1),
        "put_item_p50_ms": round(statistics.median(latencies["embedded"]) * 1000, 3),
        "raw_moto_put_item_per_s": round(raw_rate, 1),
        "raw_moto_put_item_p50_ms": round(statistics.median(latencies["raw"]) * 1000, 3),
        "ratio_to_raw_moto": round(put_rate / raw_rate, 2),
        "put_item_with_stream_per_s": round(items / stream_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("items", type=int, nargs="?", default=2000, help="put_item calls per server")
    parser.add_argument("--rounds", type=int, default=2, help="turns each put_item loop takes")
    args = parser.parse_args()
    started = time.perf_counter()
    with EmbeddedAWS() as server:
        startup = time.perf_counter() - started
        with raw_moto_server() as raw_endpoint:
            embedded = AwsClients("local", server.endpoint).client("dynamodb", "us-east-1")
            raw = AwsClients("local", raw_endpoint).client("dynamodb", "us-east-1")
            figures = measure(embedded, raw, args.items, max(1, args.rounds))
    print(json.dumps({"items": args.items, "startup_s": round(startup, 3), **figures}))


if __name__ == "__main__":
    main()
