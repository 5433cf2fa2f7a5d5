"""The seeder (parallel BatchWriteItem with retries) against a plain put_item loop, same data, same
embedded AWS, in one run. Both write into a global table like the runbook's (3 regions by default).

Last line: {"items": N, "seeder_items_per_s": x, "put_item_loop_items_per_s": y, "speedup": x/y,
"server_peak_rss_mb": m, "server_end_rss_mb": e} (the server's resident memory, sampled every 0.2 s
from /proc while both wrote; null where /proc is not there).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from boto3.dynamodb.types import TypeSerializer
from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS
from globaltables.seeding import sample_items, write_items
from globaltables.tables import wait_for_table

ALL_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]


def make_table(clients: AwsClients, name: str, regions: list[str]) -> None:
    ddb = clients.client("dynamodb", regions[0])
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for region in regions[1:]:
        ddb.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        wait_for_table(clients, regions[0], name, timeout_s=60)


class RssSampler:
    """The peak and the last resident memory of a process, read from /proc every ``interval_s``."""

    def __init__(self, pid: int, interval_s: float = 0.2):
        self.status = Path(f"/proc/{pid}/status")
        self.interval_s = interval_s
        self.peak_kb = self.last_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read_kb(self) -> int:
        for line in self.status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.last_kb = self._read_kb()
            except OSError:
                return
            self.peak_kb = max(self.peak_kb, self.last_kb)

    def __enter__(self) -> RssSampler:
        if self.status.exists():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def megabytes(self, kb: int) -> float | None:
        return round(kb / 1024, 1) if kb else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--regions", type=int, default=3, choices=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    regions = ALL_REGIONS[: args.regions]
    items = sample_items(args.items, seed=42)

    with EmbeddedAWS(replica_transition_s=0.1) as server:
        clients = AwsClients("local", server.endpoint)
        make_table(clients, "seeder", regions)
        make_table(clients, "loop", regions)
        assert server.process is not None  # started by the with statement
        with RssSampler(server.process.pid) as rss:
            report = write_items(clients, regions[0], "seeder", items, threads=args.threads, show_progress=False)
            report.raise_for_failures()
            seeder_rate = report.written / report.seconds

            ddb, serialize = clients.client("dynamodb", regions[0]), TypeSerializer().serialize
            started = time.perf_counter()
            for item in items:
                ddb.put_item(TableName="loop", Item={k: serialize(v) for k, v in item.items()})
            loop_rate = len(items) / (time.perf_counter() - started)
            server.admin.wait_until_replicated(timeout=600)

    print(
        json.dumps(
            {
                "items": len(items),
                "seeder_items_per_s": round(seeder_rate, 1),
                "put_item_loop_items_per_s": round(loop_rate, 1),
                "speedup": round(seeder_rate / loop_rate, 2),
                "server_peak_rss_mb": rss.megabytes(rss.peak_kb),
                "server_end_rss_mb": rss.megabytes(rss.last_kb),
            }
        )
    )


if __name__ == "__main__":
    main()
