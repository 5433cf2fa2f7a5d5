"""Items are built once per attribute (``globaltables.local.items``), and refused exactly as moto refuses them.

Each case is sent twice through boto3: to the embedded AWS, and to moto's own in-process mock with
moto's ``Item.__init__``; the answers (the item stored, or the error code and message) must be the same.
"""

from __future__ import annotations

import inspect

import boto3
import botocore.exceptions
import pytest
from globaltables.local import extensions, items
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item

from tests.unit.local.helpers import create_table

LIMIT = items.ITEM_SIZE_LIMIT
KEY = {"PK": {"S": "p"}, "SK": {"S": "s"}}
KEY_BYTES = len("PK") + len("p") + len("SK") + len("s")


def padded(total: int, name: str = "data") -> dict:
    """The key and one string attribute: ``total`` bytes in moto's measure."""
    return {**KEY, name: {"S": "x" * (total - KEY_BYTES - len(name))}}


def many_attributes(total: int, count: int = 500) -> dict:
    """The key and ``count`` string attributes ``a0000`` … summing to ``total`` bytes (moto's own build
    measures n(n+1)/2 values: 500 keeps the reference answers quick)."""
    rest = total - KEY_BYTES
    each, extra = divmod(rest, count)
    return {**KEY, **{f"a{i:04d}": {"S": "y" * (each - 5 + (1 if i < extra else 0))} for i in range(count)}}


def nested_map(total: int) -> dict:
    """A map of 1,000 strings and a list of 100 maps, ``total`` bytes in all."""
    inner = {f"k{i:03d}": {"S": "z" * 196} for i in range(1000)}  # 200 bytes each
    listed = [{"M": {"v": {"S": "w" * 99}}} for _ in range(100)]  # 100 bytes each
    used = KEY_BYTES + len("m") + 200_000 + len("l") + 10_000 + len("t")
    return {**KEY, "m": {"M": inner}, "l": {"L": listed}, "t": {"S": "t" * (total - used)}}


CASES = {
    "at the limit": padded(LIMIT),
    "one byte over": padded(LIMIT + 1),
    "many attributes at the limit": many_attributes(LIMIT),
    "many attributes one byte over": many_attributes(LIMIT + 1),
    "nested at the limit": nested_map(LIMIT),
    "nested one byte over": nested_map(LIMIT + 1),
    "multi-byte characters over": {**KEY, "data": {"S": "é" * (LIMIT // 2)}},
    "big number set": {**KEY, "n": {"NS": [str(10**30 + i) for i in range(13_100)]}},
    "binary over": {**KEY, "b": {"B": b"\x00" * LIMIT}},
    "empty string value": {**KEY, "e": {"S": ""}},
    "empty set": {**KEY, "e": {"SS": []}},
    "empty key": {"PK": {"S": ""}, "SK": {"S": "s"}},
    "number too large": {**KEY, "n": {"N": "1e200"}},
}


def answer(client, table: str, method: str, item: dict):
    try:
        if method == "put_item":
            client.put_item(TableName=table, Item=item)
        else:
            response = client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}]})
            assert not response["UnprocessedItems"]
    except botocore.exceptions.ClientError as error:
        return "refused", error.response["Error"]["Code"], error.response["Error"]["Message"]
    stored = client.get_item(TableName=table, Key=KEY, ConsistentRead=True).get("Item")
    client.delete_item(TableName=table, Key=KEY)
    return "stored", stored == item


METHODS = ("put_item", "batch_write_item")


@pytest.fixture(scope="module")
def moto_answers() -> dict:
    """Each case's answer from moto's in-process mock, building items with moto's own ``Item.__init__``
    (the mock is closed before the embedded AWS is called: it intercepts every botocore request)."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setattr(Item, "__init__", inspect.unwrap(Item.__init__))
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        table = create_table(client)
        return {
            (case, method): answer(client, table, method, item) for case, item in CASES.items() for method in METHODS
        }


@pytest.fixture(scope="module")
def table(clients) -> str:
    return create_table(clients.client("dynamodb", "us-east-1"))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES))
def test_an_item_is_refused_or_stored_as_moto_itself_answers(clients, moto_answers, table, method, case):
    ddb = clients.client("dynamodb", "us-east-1")
    assert answer(ddb, table, method, CASES[case]) == moto_answers[case, method]


def test_the_limit_is_where_moto_puts_it(clients, table):
    ddb = clients.client("dynamodb", "us-east-1")
    ddb.put_item(TableName=table, Item=padded(LIMIT))
    ddb.delete_item(TableName=table, Key=KEY)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ddb.put_item(TableName=table, Item=many_attributes(LIMIT + 1))
    assert refused.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Item size has exceeded the maximum allowed size",
    }


@pytest.mark.parametrize("case", list(CASES))
def test_the_linear_build_gives_moto_s_item_or_error(case):
    from moto.dynamodb.models.dynamo_type import DynamoType

    def build(init):
        item = Item.__new__(Item)
        try:
            init(item, DynamoType(KEY["PK"]), DynamoType(KEY["SK"]), CASES[case])
        except Exception as error:
            return type(error), str(error)
        return type(item.attrs), item.attrs

    assert build(items.build_item) == build(inspect.unwrap(Item.__init__))


def test_the_item_construction_hook_is_in_moto():
    assert items.missing_hooks() == []


def test_a_changed_item_construction_stops_the_start(monkeypatch):
    monkeypatch.setitem(items.PINNED_SOURCE, "Item.__init__", "0" * 64)
    with pytest.raises(extensions.MotoHookMissing, match=r"Item.__init__ \(changed\)"):
        extensions.check_hooks()
