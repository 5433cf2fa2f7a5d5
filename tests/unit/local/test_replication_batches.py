"""Replication applies due deliveries in batches per receiving table, each item copied once per replica.

These drive ``GlobalTables`` directly on moto's in-memory backends of an account of their own (no server,
no hooks installed), so each delivery's effect is seen exactly.
"""

from __future__ import annotations

import copy
import time
import uuid

from globaltables.local.replication.models import ITEM_FIELDS, Delivery, GlobalTables, copy_item
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]
NESTED = {
    "PK": {"S": "USER#1"},
    "SK": {"S": "PROFILE"},
    "n": {"N": "12.30"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "blob": {"B": "AAEC"},
    "tags": {"SS": ["a", "b"]},
    "scores": {"NS": ["1", "2"]},
    "address": {"M": {"city": {"S": "Lyon"}, "lines": {"L": [{"S": "1 rue"}, {"M": {"floor": {"N": "3"}}}]}}},
}


def make_item(attributes: dict) -> Item:
    return Item(DynamoType(attributes["PK"]), DynamoType(attributes["SK"]), attributes)


def test_copy_item_is_what_deepcopy_makes():
    original = make_item(NESTED)
    copied = copy_item(original)
    assert copied == copy.deepcopy(original)
    assert copied.to_json() == original.to_json()
    assert type(copied.attrs) is type(original.attrs)


def test_copy_item_shares_nothing_mutable_with_the_original():
    original = make_item(NESTED)
    copied = copy_item(original)
    copied.attrs["address"].value["lines"].value[1].value["floor"] = DynamoType({"N": "4"})
    copied.attrs["tags"].value.append("c")
    copied.attrs["n"] = DynamoType({"N": "1"})
    assert original.to_json() == make_item(NESTED).to_json()


def test_moto_items_have_the_shape_copy_item_copies():
    # A moto upgrade that adds state to Item or DynamoType must revisit copy_item (it would fall back
    # to deepcopy for a new Item shape, but a new DynamoType field would be lost).
    item = make_item(NESTED)
    assert item.__dict__.keys() == ITEM_FIELDS
    assert all(value.__dict__.keys() == {"type", "value"} for value in item.attrs.values())


def global_table(model: GlobalTables, account: str, name: str) -> None:
    source = dynamodb_backends[account][REGIONS[0]].create_table(
        name,
        schema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        throughput=None,
        attr=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        global_indexes=None,
        indexes=None,
        streams={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    for region in REGIONS[1:]:
        model.add_replica(source, region, None)


def delivery(sequence: int, account: str, name: str, target: str, item: Item, stamp: int, source: str) -> Delivery:
    key = (item.hash_key, item.range_key)
    return Delivery(0.0, sequence, source, target, account, name, key, item, stamp, time.time())


def stored(account: str, region: str, name: str) -> dict[str, dict]:
    table = dynamodb_backends[account][region].tables[name]
    return {item.range_key.value: item.to_json()["Attributes"] for item in table.all_items()}


def test_a_batch_for_several_replicas_applies_last_writer_wins_in_each_and_holds_paused_links():
    account, name = f"{uuid.uuid4().int % 10**12:012d}", "batched"
    model = GlobalTables()
    global_table(model, account, name)
    model.set_paused("ap-southeast-1", True)
    older = make_item({"PK": {"S": "K"}, "SK": {"S": "0"}, "v": {"S": "older"}})
    newer = make_item({"PK": {"S": "K"}, "SK": {"S": "0"}, "v": {"S": "newer"}})
    other = make_item({"PK": {"S": "K"}, "SK": {"S": "1"}, "v": {"S": "other"}})
    batch = [
        delivery(1, account, name, "eu-west-1", newer, 20, "us-east-1"),
        delivery(2, account, name, "ap-southeast-1", newer, 20, "us-east-1"),
        delivery(3, account, name, "eu-west-1", older, 10, "us-east-1"),  # arrives late: loses
        delivery(4, account, name, "eu-west-1", other, 30, "us-east-1"),
        delivery(5, account, name, "gone-region", other, 30, "us-east-1"),  # no such replica: dropped
    ]
    model.deliver(batch)

    assert stored(account, "eu-west-1", name) == {
        "0": newer.to_json()["Attributes"],
        "1": other.to_json()["Attributes"],
    }
    assert stored(account, "ap-southeast-1", name) == {}
    assert model.delivered == 3
    assert model.backlog() == 1 and model.deliveries_pending() == 0

    model.set_paused("ap-southeast-1", False)  # the held delivery is due again
    with model._wakeup:
        due = model._queued()
        model._queue.clear()
    model.deliver(due)
    assert stored(account, "ap-southeast-1", name) == {"0": newer.to_json()["Attributes"]}
    assert model.backlog() == 0


def test_each_replica_stores_its_own_copy_of_a_shared_image():
    account, name = f"{uuid.uuid4().int % 10**12:012d}", "copies"
    model = GlobalTables()
    global_table(model, account, name)
    image = make_item({"PK": {"S": "K"}, "SK": {"S": "0"}, "v": {"M": {"x": {"S": "1"}}}})
    model.deliver([delivery(i, account, name, region, image, 5, "us-east-1") for i, region in enumerate(REGIONS[1:])])
    held = [
        dynamodb_backends[account][region].tables[name].get_item(image.hash_key, image.range_key)
        for region in REGIONS[1:]
    ]
    assert all(item == image for item in held)
    assert len({id(image), *(id(item) for item in held)}) == 3
    assert len({id(image.attrs["v"].value), *(id(item.attrs["v"].value) for item in held)}) == 3
    records = [dynamodb_backends[account][region].tables[name].stream_shard.items for region in REGIONS[1:]]
    assert [[record.record["eventName"] for record in shard] for shard in records] == [["INSERT"], ["INSERT"]]
