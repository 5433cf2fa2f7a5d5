"""The embedded AWS's HTTP server: connections kept alive, a bounded pool of request threads that
Lambda handlers calling back cannot exhaust, large and chunked bodies, clients that vanish."""

import http.client
import io
import json
import os
import socket
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS

from tests.unit.local.helpers import unique_name

POOL_THREADS = 2


@pytest.fixture(scope="module")
def small_pool():
    with EmbeddedAWS(threads=POOL_THREADS) as server:
        yield server


def connection(endpoint: str, timeout: float = 30) -> http.client.HTTPConnection:
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def server_threads(endpoint: str) -> dict:
    link = connection(endpoint)
    link.request("GET", "/_globaltables/server")
    response = link.getresponse()
    assert response.status == 200
    return json.loads(response.read())


def test_two_requests_are_answered_on_one_connection(embedded_aws):
    link = connection(embedded_aws.endpoint)
    link.request("GET", "/_globaltables/health")
    first = link.getresponse()
    first.read()
    assert (first.getheader("Connection") or "").lower() != "close"
    sock, local_address = link.sock, link.sock.getsockname()
    link.request("GET", "/_globaltables/health")
    second = link.getresponse()
    assert second.status == 200 and json.loads(second.read())["status"] == "ok"
    assert link.sock is sock and link.sock.getsockname() == local_address


def test_request_threads_are_the_configured_number(small_pool):
    dynamodb = AwsClients("local", small_pool.endpoint).client("dynamodb", "us-east-1")
    # Eight clients at once: the pool does not grow to meet them.
    with ThreadPoolExecutor(8) as clients:
        list(clients.map(lambda _: dynamodb.list_tables(), range(40)))
    assert server_threads(small_pool.endpoint) == {"threads": POOL_THREADS, "lent": 0, "workers": POOL_THREADS}


def lambda_role(clients: AwsClients, name: str) -> str:
    """A role Lambda can assume whose handlers may list tables."""
    iam = clients.client("iam", "us-east-1")
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    document = {"Version": "2012-10-17", "Statement": [trust]}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document))["Role"]
    allow = {"Effect": "Allow", "Action": "dynamodb:ListTables", "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [allow]}
    iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=json.dumps(policy))
    return role["Arn"]


CALLING_BACK = """
import boto3
def handler(event, context):
    return {"n": event["n"], "tables": len(boto3.client("dynamodb").list_tables()["TableNames"])}
"""


def test_more_concurrent_invocations_than_threads_do_not_wait_for_each_other(small_pool):
    # Each Invoke holds a request thread while its handler calls back into the same server.
    clients = AwsClients("local", small_pool.endpoint)
    name = unique_name("fn")
    role_arn = lambda_role(clients, name)
    functions = clients.client("lambda", "eu-west-1")
    functions.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": zipped({"app.py": CALLING_BACK})},
        Timeout=60,
    )

    def invoke(n: int) -> dict:
        response = functions.invoke(FunctionName=name, Payload=json.dumps({"n": n}))
        assert "FunctionError" not in response
        return json.loads(response["Payload"].read())

    with ThreadPoolExecutor(POOL_THREADS * 2) as callers:
        results = list(callers.map(invoke, range(POOL_THREADS * 2)))
    assert [result["n"] for result in results] == list(range(POOL_THREADS * 2))
    assert server_threads(small_pool.endpoint)["lent"] == 0


def zipped(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_chunked_request_body_reaches_moto(embedded_aws, clients):
    dynamodb = clients.client("dynamodb", "us-east-1")
    table = unique_name("chunked")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    body = json.dumps({"TableName": table, "Item": {"k": {"S": "sent in chunks"}, "v": {"S": "x" * 5000}}}).encode()
    link = connection(embedded_aws.endpoint)
    link.request(
        "POST",
        "/",
        body=(body[i : i + 1000] for i in range(0, len(body), 1000)),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.PutItem",
            # moto routes by the credential scope; it does not check the signature.
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
        encode_chunked=True,
    )
    response = link.getresponse()
    assert response.status == 200, response.read()
    item = dynamodb.get_item(TableName=table, Key={"k": {"S": "sent in chunks"}})["Item"]
    assert item["v"]["S"] == "x" * 5000


def test_large_requests_and_answers_pass_whole(clients):
    dynamodb = clients.client("dynamodb", "us-east-1")
    table = unique_name("large")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # 25 items of 100 KB: a 2.5 MB BatchWriteItem, past the size waitress keeps in memory.
    blob = "y" * 100_000
    requests = [{"PutRequest": {"Item": {"k": {"S": f"{n:02d}"}, "v": {"S": blob}}}} for n in range(25)]
    assert dynamodb.batch_write_item(RequestItems={table: requests})["UnprocessedItems"] == {}
    items = [item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    assert len(items) == 25 and all(item["v"]["S"] == blob for item in items)
    assert dynamodb.describe_table(TableName=table)["Table"]["ItemCount"] == 25

    code = zipped({"app.py": "def handler(event, context):\n    return 1\n", "data.bin": os.urandom(3_000_000)})
    functions = clients.client("lambda", "eu-west-1")
    name = unique_name("large")
    functions.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=lambda_role(clients, name),
        Handler="app.handler",
        Code={"ZipFile": code},
    )
    assert functions.get_function(FunctionName=name)["Configuration"]["CodeSize"] == len(code)


def test_clients_that_vanish_mid_request_hold_no_thread(small_pool):
    host, port = small_pool.endpoint.removeprefix("http://").rsplit(":", 1)
    for _ in range(POOL_THREADS * 3):
        # A body announced but never sent, then a whole request whose answer nobody reads.
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET /_globaltables/health HTTP/1.1\r\nHost: x\r\n\r\n")
    link = connection(small_pool.endpoint, timeout=10)
    link.request("GET", "/_globaltables/health")
    assert json.loads(link.getresponse().read())["status"] == "ok"
    assert server_threads(small_pool.endpoint)["workers"] == POOL_THREADS
