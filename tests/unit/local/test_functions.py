"""The embedded AWS runs Lambda functions for real: result, error, timeout, logs, environment."""

import base64
import io
import json
import zipfile

import pytest

from tests.unit.local.helpers import unique_name


def zipped(source: str, name: str = "app.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def role_arn(clients):
    # The handlers run with this role's permissions (see test_function_role.py): HANDLER lists tables.
    iam = clients.client("iam", "us-east-1")
    name = unique_name("fn")
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    arn = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )["Role"]["Arn"]
    allow = {"Effect": "Allow", "Action": "dynamodb:ListTables", "Resource": "*"}
    iam.put_role_policy(
        RoleName=name,
        PolicyName="list-tables",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    return arn


def deploy(clients, role_arn, source, region="eu-west-1", runtime="python3.13", timeout=10, env=None):
    name = unique_name("fn")
    clients.client("lambda", region).create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": zipped(source)},
        Timeout=timeout,
        Environment={"Variables": env or {}},
    )
    return name


def call(clients, name, payload, region="eu-west-1"):
    response = clients.client("lambda", region).invoke(FunctionName=name, Payload=json.dumps(payload), LogType="Tail")
    return response, json.loads(response["Payload"].read()), base64.b64decode(response["LogResult"]).decode()


HANDLER = """
import os, boto3
def handler(event, context):
    print("event", event["n"])
    pages = boto3.client("dynamodb").get_paginator("list_tables").paginate()
    tables = [name for page in pages for name in page["TableNames"]]
    return {"n": event["n"] * 2, "region": os.environ["AWS_REGION"], "colour": os.environ["COLOUR"],
            "tables": tables, "name": context.function_name, "left_ms": context.get_remaining_time_in_millis(),
            "request": context.aws_request_id}
"""


def test_handler_runs_with_its_environment_region_and_the_embedded_aws(clients, role_arn):
    table = unique_name("t")
    clients.client("dynamodb", "eu-west-1").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    name = deploy(clients, role_arn, HANDLER, env={"COLOUR": "orange"})
    response, result, log = call(clients, name, {"n": 21})
    assert "FunctionError" not in response
    assert result["n"] == 42 and result["region"] == "eu-west-1" and result["colour"] == "orange"
    assert table in result["tables"]  # it called back into the embedded AWS, in its own region
    assert result["name"] == name and 0 < result["left_ms"] <= 10_000
    assert log.startswith(f"START RequestId: {result['request']}")
    assert "event 21" in log and f"END RequestId: {result['request']}" in log and "REPORT RequestId" in log
    streams = clients.client("logs", "eu-west-1").describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert streams  # the log also went to CloudWatch Logs


def test_an_exception_is_an_unhandled_function_error_with_its_type(clients, role_arn):
    name = deploy(clients, role_arn, "def handler(event, context):\n    raise KeyError('TABLE_NAME')\n")
    response, result, log = call(clients, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "KeyError" and "TABLE_NAME" in result["errorMessage"]
    assert result["stackTrace"] and "[ERROR] KeyError" in log


def test_the_configured_timeout_is_enforced(clients, role_arn):
    name = deploy(clients, role_arn, "import time\ndef handler(event, context):\n    time.sleep(30)\n", timeout=1)
    response, result, log = call(clients, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in result["errorMessage"]


def test_a_non_python_runtime_gets_a_clear_error(clients, role_arn):
    name = deploy(clients, role_arn, "exports.handler = async () => 1", runtime="nodejs20.x")
    response, result, _ = call(clients, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "Runtime.Unsupported" and "nodejs20.x" in result["errorMessage"]


def test_log_tail_is_at_most_4_kb(clients, role_arn):
    name = deploy(clients, role_arn, "def handler(event, context):\n    print('x' * 10000)\n    return 1\n")
    _, result, log = call(clients, name, {})
    assert result == 1 and len(log.encode()) <= 4096 and log.rstrip().splitlines()[-1].startswith("REPORT")


def test_the_executor_answers_a_typed_result_that_moto_receives_as_its_triple():
    from types import SimpleNamespace

    from globaltables.local.functions.executor import InvocationResult, invoke

    result = invoke(SimpleNamespace(run_time="nodejs20.x"), {})
    assert isinstance(result, InvocationResult) and result.errored
    assert json.loads(result.payload)["errorType"] == "Runtime.Unsupported"
    assert result.log_tail == "Runtime nodejs20.x is not supported by the embedded AWS\n"
    assert result.as_moto_answer() == (result.payload, True, result.log_tail)
    with pytest.raises(AttributeError):
        result.errored = False  # frozen: an answer is read, never changed
