"""The request path made cheaper (``globaltables.local.dispatch``) answers exactly as moto's own: the
same requests through the direct lane and through moto's Flask app get the same status, headers and
body, or raise the same exception; and every piece of moto or Flask it relies on is pinned."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from globaltables.local import dispatch, extensions

ROOT = Path(__file__).resolve().parents[3]

# Run in a process of its own: it installs the extensions into moto in-process.
COMPARISON = textwrap.dedent(
    """
    import json
    from werkzeug.test import EnvironBuilder
    from moto.moto_server.werkzeug_app import create_backend_app
    from globaltables.local import extensions
    from globaltables.local.dispatch import Dispatcher

    extensions.install(extensions.Settings(replication_delay="0", replica_transition_s=0.0))
    direct, flask = Dispatcher(create_backend_app), Dispatcher(create_backend_app, direct=False)
    SCOPE = "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"

    def environ(target, body, service="dynamodb", region="us-east-1", method="POST", raw=None, **headers):
        prefix = "DynamoDBStreams_20120810" if service == "dynamodb" and target.startswith("Stream:") else "DynamoDB_20120810"
        builder = EnvironBuilder(path="/", method=method, data=raw if raw is not None else json.dumps(body).encode(),
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"{prefix}.{target.removeprefix('Stream:')}",
                     "Authorization": SCOPE.format(region=region, service=service), **headers})
        return builder.get_environ()

    def answer(app, env):
        seen = {}
        def start_response(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, [(k, v) for k, v in headers if k.lower() != "x-amzn-requestid"]
        try:
            body = b"".join(app(env, start_response)).decode()
        except Exception as error:
            return {"raised": type(error).__name__, "message": str(error)}
        return {**seen, "body": body}

    def both(*args, **kwargs):
        first = answer(flask, environ(*args, **kwargs))
        second = answer(direct, environ(*args, **kwargs))
        return {"request": [args, kwargs], "flask": first, "direct": second, "taken": direct.lane(direct.get_application(environ(*args, **kwargs))) is not None}

    keys = {"KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST", "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    answer(flask, environ("CreateTable", {"TableName": "t", **keys}))
    item = {"PK": {"S": "a"}, "v": {"N": "1"}, "s": {"SS": ["x", "y"]}}
    answer(flask, environ("PutItem", {"TableName": "t", "Item": item}))
    arn = json.loads(answer(flask, environ("DescribeTable", {"TableName": "t"}))["body"])["Table"]["LatestStreamArn"]
    cases = [
        both("PutItem", {"TableName": "t", "Item": item}),
        both("PutItem", {"TableName": "t", "Item": item, "ReturnValues": "ALL_OLD"}),
        both("GetItem", {"TableName": "t", "Key": {"PK": {"S": "a"}}}),
        both("GetItem", {"TableName": "missing", "Key": {"PK": {"S": "a"}}}),
        both("PutItem", {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}),
        both("PutItem", {"TableName": "t", "Item": {"v": {"N": "1"}}}),
        both("UpdateItem", {"TableName": "t", "Key": {"PK": {"S": "a"}}, "UpdateExpression": "SET v = :v",
                            "ExpressionAttributeValues": {":v": {"N": "5"}}, "ReturnValues": "ALL_NEW"}),
        both("DeleteItem", {"TableName": "t", "Key": {"PK": {"S": "nothing"}}}),
        both("Query", {"TableName": "t", "KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}),
        both("Scan", {"TableName": "t"}),
        both("DescribeTable", {"TableName": "t"}),
        both("UpdateTable", {"TableName": "t", "MultiRegionConsistency": "STRONG"}),
        both("DeleteTable", {"TableName": "missing"}),
        both("NoSuchOperation", {}),
        both("DescribeKinesisStreamingDestination", {"TableName": "t"}),
        both("PutItem", None, raw=b"{not json"),
        both("PutItem", {"TableName": "t", "Item": item}, region="xx-nowhere-1"),
        both("PutItem", {"TableName": "t", "Item": item}, Origin="http://example.com"),
        both("ListTables", {}, method="GET"),
        both("Stream:DescribeStream", {"StreamArn": arn}, service="dynamodb"),
        both("Stream:ListStreams", {"TableName": "t"}, service="dynamodb"),
        both("Stream:GetRecords", {"ShardIterator": "not-an-iterator"}, service="dynamodb"),
    ]
    print(json.dumps(cases, default=repr))
    """
)


@pytest.fixture(scope="module")
def compared() -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-c", COMPARISON], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_direct_lane_answers_as_moto_flask_app_does(compared):
    different = [case for case in compared if case["flask"] != case["direct"]]
    assert different == []


def test_the_direct_lane_serves_dynamodb_and_its_streams(compared):
    assert all(case["taken"] for case in compared)  # every request above reached a DynamoDB app with a lane
    codes = {case["direct"]["status"].split()[0] for case in compared if "status" in case["direct"]}
    assert {"200", "400"} <= codes  # answers and refusals both went through it
    assert any("raised" in case["direct"] for case in compared)  # and exceptions left it as from Flask


def test_what_the_request_path_relies_on_is_in_moto():
    assert dispatch.missing_hooks() == []


def test_a_moved_dispatch_hook_stops_the_start(monkeypatch):
    monkeypatch.setattr(dispatch, "HOOKS", [*dispatch.HOOKS, (dispatch.DomainDispatcherApplication, "gone")])
    with pytest.raises(extensions.MotoHookMissing, match="DomainDispatcherApplication.gone"):
        extensions.check_hooks()
