"""The seeder (parallel BatchWriteItem with retries) against a plain put_item loop, same data, same
embedded AWS, in one run. Both write into a global table like the runbook's (3 regions by default).

Last line: {"items": N, "seeder_items_per_s": x, "put_item_loop_items_per_s": y, "speedup": x/y}
"""

from __future__ import annotations

import argparse
import json
import time

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
            }
        )
    )


if __name__ == "__main__":
    main()
