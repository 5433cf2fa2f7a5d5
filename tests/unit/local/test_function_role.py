"""A Lambda function runs with its execution role's permissions, and only its requests are checked."""

import functools
import io
import json
import zipfile

import botocore.exceptions
import pytest
from globaltables.functions import HANDLER, RUNTIME, package
from globaltables.iam import application_policy, trust_policy
from globaltables.local.authorization import ALLOW, EXPLICIT_DENY, NO_ALLOW, evaluate, requested

from tests.unit.local.helpers import add_replica, create_table, listed, table_names, unique_name

ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def make_role(iam, statements=None, managed_document=None):
    name = unique_name("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy()))["Role"]["Arn"]
    if statements is not None:
        document = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(document))
    policy_arn = None
    if managed_document is not None:
        policy_arn = iam.create_policy(PolicyName=unique_name("policy"), PolicyDocument=json.dumps(managed_document))[
            "Policy"
        ]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return name, arn, policy_arn


def deploy(clients, region, role_arn, code, handler="app.handler", env=None):
    name = unique_name("fn")
    clients.client("lambda", region).create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=role_arn,
        Handler=handler,
        Code={"ZipFile": code},
        Timeout=30,
        Environment={"Variables": env or {}},
    )
    return name


def invoke(clients, region, name, payload):
    response = clients.client("lambda", region).invoke(FunctionName=name, Payload=json.dumps(payload))
    return response.get("FunctionError"), json.loads(response["Payload"].read())


WHO_AM_I = """
import os, boto3, botocore
def handler(event, context):
    answer = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    answer["arn"] = boto3.client("sts").get_caller_identity()["Arn"]
    try:
        boto3.client("dynamodb").list_tables()
        answer["list_tables"] = "ok"
    except botocore.exceptions.ClientError as error:
        answer["list_tables"] = error.response["Error"]
        answer["status"] = error.response["ResponseMetadata"]["HTTPStatusCode"]
        answer["content_type"] = error.response["ResponseMetadata"]["HTTPHeaders"].get("content-type")
    return answer
"""


def test_the_handler_gets_its_roles_credentials_and_a_role_without_policies_may_do_nothing(clients):
    iam = clients.client("iam", "us-east-1")
    role_name, role_arn, _ = make_role(iam)
    name = deploy(clients, "eu-west-1", role_arn, zipped(WHO_AM_I))
    error, answer = invoke(clients, "eu-west-1", name, {})
    assert error is None, answer
    assert answer["AWS_ACCESS_KEY_ID"].startswith("ASIA") and answer["AWS_ACCESS_KEY_ID"] != "testing"
    assert answer["AWS_SECRET_ACCESS_KEY"] != "testing" and answer["AWS_SESSION_TOKEN"] not in (None, "testing")
    # Lambda names the role's session after the function.
    assert answer["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{name}"
    assert answer["status"] == 400 and answer["list_tables"]["Code"] == "AccessDeniedException"
    assert answer["content_type"] == "application/x-amz-json-1.0"
    assert answer["list_tables"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{name} is not authorized to perform: "
        f"dynamodb:ListTables on resource: arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/* "
        "because no identity-based policy allows the dynamodb:ListTables action"
    )


@pytest.fixture(scope="module")
def probe(clients):
    """The runbook's global table in three regions, each replica under its own customer managed key, its
    least-privilege role (managed policy, as 01 makes it) and the runbook's probe deployed in every region."""
    keys = {r: clients.client("kms", r).create_key(Description="table key")["KeyMetadata"]["Arn"] for r in REGIONS}
    ddb = clients.client("dynamodb", REGIONS[0])
    table = create_table(ddb, SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": keys[REGIONS[0]]})
    for region in REGIONS[1:]:
        add_replica(ddb, table, region, KMSMasterKeyId=keys[region])
    iam = clients.client("iam", "us-east-1")
    function = unique_name("probe")
    document = application_policy("aws", ACCOUNT, table, REGIONS, function)
    role_name, role_arn, policy_arn = make_role(iam, managed_document=document)
    environment = {"TABLE_NAME": table, "REGIONS": json.dumps(REGIONS)}
    for region in REGIONS:
        clients.client("lambda", region).create_function(
            FunctionName=function,
            Runtime=RUNTIME,
            Role=role_arn,
            Handler=HANDLER,
            Code={"ZipFile": package()},
            Timeout=30,
            Environment={"Variables": environment},
        )
    return {"table": table, "function": function, "role": role_name, "policy": policy_arn, "document": document}


def narrowed(clients, probe, keep):
    """Make a narrower version of the role's policy the default; back to the first one afterwards."""
    iam = clients.client("iam", "us-east-1")

    class Narrowed:
        def __enter__(self):
            document = json.loads(json.dumps(probe["document"]))
            for statement in document["Statement"]:
                statement["Action"] = [a for a in statement["Action"] if keep(statement["Sid"], a)]
            document["Statement"] = [s for s in document["Statement"] if s["Action"]]
            iam.create_policy_version(PolicyArn=probe["policy"], PolicyDocument=json.dumps(document), SetAsDefault=True)

        def __exit__(self, *exc):
            versions = listed(iam, "list_policy_versions", "Versions", PolicyArn=probe["policy"])
            iam.set_default_policy_version(PolicyArn=probe["policy"], VersionId="v1")
            for version in versions:
                if version["VersionId"] != "v1":
                    iam.delete_policy_version(PolicyArn=probe["policy"], VersionId=version["VersionId"])

    return Narrowed()


def test_the_runbooks_least_privilege_policy_lets_the_probe_work_in_every_region(clients, probe):
    for region in REGIONS:
        error, answer = invoke(clients, region, probe["function"], {"invocation": unique_name("ok")})
        assert error is None, answer
        assert set(answer["results"]) == set(REGIONS)
        assert all(r["ok"] and r["items_in_gsi"] >= 1 for r in answer["results"].values()), answer["results"]


def test_without_put_item_the_probe_fails_with_access_denied_then_works_again(clients, probe):
    with narrowed(clients, probe, keep=lambda sid, action: action != "dynamodb:PutItem"):
        error, answer = invoke(clients, "eu-west-1", probe["function"], {"invocation": unique_name("denied")})
    assert error is None, answer  # the probe reports each region's failure in its result
    for region, result in answer["results"].items():
        assert result["ok"] is False
        assert result["error"] == (
            "ClientError: An error occurred (AccessDeniedException) when calling the PutItem operation: "
            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{probe['role']}/{probe['function']} is not authorized "
            f"to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:{region}:{ACCOUNT}:table/{probe['table']} "
            "because no identity-based policy allows the dynamodb:PutItem action"
        )
    error, answer = invoke(clients, "eu-west-1", probe["function"], {"invocation": unique_name("again")})
    assert error is None and all(r["ok"] for r in answer["results"].values()), answer


def test_without_kms_decrypt_on_the_table_keys_every_item_call_fails_as_on_aws(clients, probe):
    with narrowed(clients, probe, keep=lambda sid, action: not action.startswith("kms:")):
        error, answer = invoke(clients, "us-east-1", probe["function"], {"invocation": unique_name("nokey")})
    assert error is None, answer
    for result in answer["results"].values():
        assert result["ok"] is False
        assert result["error"].startswith(
            "ClientError: An error occurred (AccessDeniedException) when calling the PutItem operation: "
            "KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: The ciphertext refers "
            "to a customer master key that does not exist, does not exist in this region, or you are not allowed "
            "to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: "
        )


def test_the_kms_grant_counts_only_through_dynamodb_and_the_key_policy_decides_first():
    from types import SimpleNamespace

    from globaltables.local.authorization import key_usable

    arn = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k1"
    role = f"arn:aws:iam::{ACCOUNT}:role/app"
    root_only = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ]
        }
    )
    key = SimpleNamespace(arn=arn, policy=root_only)
    via = {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}
    grant = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:*:key/*"}
    usable = functools.partial(key_usable, callers=[role], account=ACCOUNT, region="eu-west-1", context=CONTEXT)
    assert usable(key, policy({**grant, "Condition": {"StringEquals": via}}), None)
    assert not usable(
        key, policy({**grant, "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}), None
    )
    assert not usable(key, [], None)  # the default key policy delegates to IAM, which grants nothing
    closed = SimpleNamespace(arn=arn, policy=json.dumps({"Statement": []}))
    assert not usable(closed, policy(grant), None)  # a key policy that does not delegate: IAM alone is not enough
    direct = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": role}, "Action": "kms:Decrypt", "Resource": "*"}]}
    )
    assert usable(SimpleNamespace(arn=arn, policy=direct), [], None)  # granted by the key policy itself
    assert not usable(key, policy(grant), {"Statement": []})  # a permissions boundary without it


def test_the_handler_is_denied_what_the_role_does_not_name_explicit_denies_first(clients):
    iam = clients.client("iam", "us-east-1")
    ddb = clients.client("dynamodb", "eu-west-1")
    table = create_table(ddb)
    table_arn = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{table}"
    role_name, role_arn, _ = make_role(
        iam,
        statements=[
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": [table_arn]},  # not its indexes
            {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
        ],
    )
    source = """
import boto3, botocore
def handler(event, context):
    ddb, out = boto3.client("dynamodb"), {}
    calls = {
        "put": lambda: ddb.put_item(TableName=event["t"], Item={"PK": {"S": "a"}, "SK": {"S": "b"}}),
        "query_index": lambda: ddb.query(TableName=event["t"], IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :p", ExpressionAttributeValues={":p": {"S": "x"}}),
        "delete": lambda: ddb.delete_item(TableName=event["t"], Key={"PK": {"S": "a"}, "SK": {"S": "b"}}),
        "other_region": lambda: boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=event["t"]),
    }
    for name, call in calls.items():
        try:
            call()
            out[name] = "ok"
        except botocore.exceptions.ClientError as error:
            out[name] = error.response["Error"]["Message"]
    return out
"""
    name = deploy(clients, "eu-west-1", role_arn, zipped(source))
    error, answer = invoke(clients, "eu-west-1", name, {"t": table})
    assert error is None, answer
    assert answer["put"] == "ok"
    assert f"dynamodb:Query on resource: {table_arn}/index/GSI1 because no identity-based" in answer["query_index"]
    assert answer["delete"].endswith(
        f"dynamodb:DeleteItem on resource: {table_arn} with an explicit deny in an identity-based policy"
    )
    # The ARN names the region: a grant in eu-west-1 is no grant in us-east-1.
    assert f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table} because no" in answer["other_region"]


def test_calls_with_the_dummy_credentials_or_a_users_own_session_are_never_checked(clients):
    iam = clients.client("iam", "us-east-1")
    role_name, role_arn, _ = make_role(iam, statements=[{"Effect": "Deny", "Action": "*", "Resource": "*"}])
    name = deploy(clients, "eu-west-1", role_arn, zipped(WHO_AM_I))
    _, answer = invoke(clients, "eu-west-1", name, {})  # the function's session exists and is denied
    assert answer["list_tables"]["Code"] == "AccessDeniedException"
    ddb = clients.client("dynamodb", "eu-west-1")  # the runbook's admin client, dummy credentials
    table = create_table(ddb)
    ddb.put_item(TableName=table, Item={"PK": {"S": "a"}, "SK": {"S": "b"}})
    assert ddb.get_item(TableName=table, Key={"PK": {"S": "a"}, "SK": {"S": "b"}})["Item"]
    iam.list_roles()
    clients.client("lambda", "eu-west-1").get_function(FunctionName=name)
    # A session a user assumes themselves is not a Lambda execution's: not checked either.
    session = clients.client("sts", "us-east-1").assume_role(RoleArn=role_arn, RoleSessionName="me")["Credentials"]
    import boto3

    own = boto3.client(
        "dynamodb",
        region_name="eu-west-1",
        endpoint_url=clients.endpoint_url,
        aws_access_key_id=session["AccessKeyId"],
        aws_secret_access_key=session["SecretAccessKey"],
        aws_session_token=session["SessionToken"],
    )
    assert table in table_names(own)


def test_a_request_with_the_functions_key_and_a_wrong_secret_is_refused(clients):
    iam = clients.client("iam", "us-east-1")
    _, role_arn, _ = make_role(iam, statements=[{"Effect": "Allow", "Action": "*", "Resource": "*"}])
    name = deploy(clients, "eu-west-1", role_arn, zipped(WHO_AM_I))
    _, answer = invoke(clients, "eu-west-1", name, {})
    assert answer["list_tables"] == "ok"
    import boto3

    forged = boto3.client(
        "dynamodb",
        region_name="eu-west-1",
        endpoint_url=clients.endpoint_url,
        aws_access_key_id=answer["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="not-the-secret",
        aws_session_token=answer["AWS_SESSION_TOKEN"],
    )
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        forged.list_tables()
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"  # DynamoDB's name, HTTP 400
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# ---------------------------------------------------------------- which resource, which action (no server)

BASE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}"


@pytest.mark.parametrize(
    ("operation", "body", "expected"),
    [
        ("PutItem", {"TableName": "T"}, [("dynamodb:PutItem", f"{BASE}:table/T")]),
        ("Query", {"TableName": "T", "IndexName": "GSI1"}, [("dynamodb:Query", f"{BASE}:table/T/index/GSI1")]),
        ("ListTables", {}, [("dynamodb:ListTables", f"{BASE}:table/*")]),
        ("ListStreams", {"TableName": "T"}, [("dynamodb:ListStreams", "*")]),
        (
            "BatchWriteItem",
            {"RequestItems": {"A": [], "B": []}},
            [("dynamodb:BatchWriteItem", f"{BASE}:table/A"), ("dynamodb:BatchWriteItem", f"{BASE}:table/B")],
        ),
        (
            "TransactWriteItems",
            {"TransactItems": [{"Put": {"TableName": "A"}}, {"ConditionCheck": {"TableName": "B"}}]},
            [("dynamodb:PutItem", f"{BASE}:table/A"), ("dynamodb:ConditionCheckItem", f"{BASE}:table/B")],
        ),
        (
            "ExecuteStatement",
            {"Statement": 'SELECT * FROM "T"."GSI1" WHERE GSI1PK = ?'},
            [("dynamodb:PartiQLSelect", f"{BASE}:table/T/index/GSI1")],
        ),
        (
            "ExecuteStatement",
            {"Statement": "INSERT INTO T VALUE {'PK': 'a'}"},
            [("dynamodb:PartiQLInsert", f"{BASE}:table/T")],
        ),
        (
            "GetRecords",
            {"ShardIterator": f"{BASE}:table/T/stream/2026-01-01T00:00:00.000|1|abc"},
            [("dynamodb:GetRecords", f"{BASE}:table/T/stream/2026-01-01T00:00:00.000")],
        ),
        ("DescribeTable", {"TableName": f"{BASE}:table/T"}, [("dynamodb:DescribeTable", f"{BASE}:table/T")]),
    ],
)
def test_the_resource_is_the_one_aws_authorizes(operation, body, expected):
    assert requested("dynamodb", operation, body, "eu-west-1", ACCOUNT, "*") == expected


CONTEXT = {"aws:requestedregion": "eu-west-1", "aws:principalaccount": ACCOUNT}


def policy(*statements):
    return [{"Version": "2012-10-17", "Statement": list(statements)}]


def test_evaluation_wildcards_not_elements_and_conditions():
    table = f"{BASE}:table/T"
    allow = {"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": f"{BASE}:table/?"}
    assert evaluate(policy(allow), "dynamodb:GetItem", table, CONTEXT) == ALLOW
    assert evaluate(policy(allow), "DynamoDB:getitem", table, CONTEXT) == ALLOW  # actions ignore case
    assert evaluate(policy(allow), "dynamodb:GetItem", f"{BASE}:table/TT", CONTEXT) == NO_ALLOW
    exact = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table}
    assert evaluate(policy(exact), "dynamodb:GetItem", f"{BASE}:table/t", CONTEXT) == NO_ALLOW  # ARNs do not
    dotted = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": f"{BASE}:table/a.b"}
    assert evaluate(policy(dotted), "dynamodb:GetItem", f"{BASE}:table/aXb", CONTEXT) == NO_ALLOW  # no regex
    not_resource = {"Effect": "Deny", "Action": "*", "NotResource": table}
    assert evaluate(policy(allow, not_resource), "dynamodb:GetItem", table, CONTEXT) == ALLOW
    assert evaluate(policy(allow, not_resource), "dynamodb:GetItem", f"{BASE}:table/U", CONTEXT) == EXPLICIT_DENY
    in_region = {**allow, "Condition": {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}}
    assert evaluate(policy(in_region), "dynamodb:GetItem", table, CONTEXT) == ALLOW
    elsewhere = {**allow, "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}
    assert evaluate(policy(elsewhere), "dynamodb:GetItem", table, CONTEXT) == NO_ALLOW
    deny_elsewhere = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}},
    }
    assert evaluate(policy(allow, deny_elsewhere), "dynamodb:GetItem", table, CONTEXT) == EXPLICIT_DENY
    # A condition that cannot be evaluated here: an Allow grants nothing, a Deny applies (stricter than AWS).
    unknown = {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK"]}}
    assert evaluate(policy({**allow, "Condition": unknown}), "dynamodb:GetItem", table, CONTEXT) == NO_ALLOW
    deny_unknown = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": unknown}
    assert evaluate(policy(allow, deny_unknown), "dynamodb:GetItem", table, CONTEXT) == EXPLICIT_DENY
