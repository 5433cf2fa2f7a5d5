"""The application's IAM role: trusted by Lambda only, with a least-privilege policy.

What the recipe granted on ``*`` is scoped here (recipe defect 17, docs/recipe-defects.md): item actions and DescribeTable to
the table and its indexes in each region, stream reads to the table's streams, logs to the function's
own log group. ``dynamodb:ListStreams`` is the one action AWS authorizes only on ``*``.

The table is encrypted with a customer managed key in each region: DynamoDB uses it with the caller's
permissions, so the role may ``kms:Decrypt`` the keys of those regions, only through DynamoDB
(``kms:ViaService``). Without it every item call fails on AWS ("KMS key access denied error"), as it
does on the embedded AWS. The keys are made after the role (01), hence ``key/*`` in each region.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.errors import ForeignResource, aws_error_code
from globaltables.kinds import GLOBAL_REGION, ResourceKind
from globaltables.names import RUN_TAG_KEY, log_group_name
from globaltables.state import RunState

IAM_REGION = GLOBAL_REGION

ITEM_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
]
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
KEY_ACTIONS = ["kms:Decrypt"]


def trust_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def application_policy(
    partition: str, account: str, table_name: str, regions: list[str], function_name: str
) -> dict[str, Any]:
    tables = [f"arn:{partition}:dynamodb:{r}:{account}:table/{table_name}" for r in regions]
    log_groups = [f"arn:{partition}:logs:{r}:{account}:log-group:{log_group_name(function_name)}" for r in regions]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ItemsOfTheGlobalTable",
                "Effect": "Allow",
                "Action": ITEM_ACTIONS,
                "Resource": tables + [f"{t}/index/*" for t in tables],
            },
            {
                "Sid": "ReadItsStreams",
                "Effect": "Allow",
                "Action": STREAM_ACTIONS,
                "Resource": [f"{t}/stream/*" for t in tables],
            },
            {"Sid": "FindStreams", "Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "*"},
            {
                "Sid": "UseTheTableKeysThroughDynamoDB",
                "Effect": "Allow",
                "Action": KEY_ACTIONS,
                "Resource": [f"arn:{partition}:kms:{r}:{account}:key/*" for r in regions],
                "Condition": {"StringEquals": {"kms:ViaService": [f"dynamodb.{r}.amazonaws.com" for r in regions]}},
            },
            {"Sid": "CreateOwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogGroup"], "Resource": log_groups},
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": LOG_ACTIONS,
                "Resource": [f"{g}:*" for g in log_groups],
            },
        ],
    }


def policy_rows(document: dict[str, Any]) -> list[dict[str, str]]:
    """One row per action and resource, for a person to read."""
    rows = []
    for statement in document["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"]:
            for resource in resources:
                rows.append({"statement": statement["Sid"], "action": action, "resource": resource})
    return rows


class ApplicationRole(BaseModel):
    role_name: str
    role_arn: str
    policy_arn: str
    policy: dict[str, Any]


def _partition(arn: str) -> str:
    return arn.split(":")[1]


def ensure_application_role(
    clients: AwsClients, run: RunState, account: str, notebook: str = "01_iam_kms"
) -> ApplicationRole:
    """Create (or adopt) the role and its policy and attach them; idempotent, recorded in the manifest.

    The policy ARN is the one CreatePolicy answers (or the run recorded), never a lookup by name.
    """
    iam = clients.client("iam", run.params.primary_region)
    names = run.names
    tags = [{"Key": RUN_TAG_KEY, "Value": run.run_id}]
    try:
        role = iam.create_role(
            RoleName=names.iam_role_name,
            AssumeRolePolicyDocument=json.dumps(trust_policy()),
            Description=f"Application role for the global table {names.table_name}",
            Tags=tags,
        )["Role"]
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) != "EntityAlreadyExists":
            raise
        role = iam.get_role(RoleName=names.iam_role_name)["Role"]
        if not any(t == tags[0] for t in role.get("Tags", [])) and not run.resources(ResourceKind.ROLE):
            raise ForeignResource(ResourceKind.ROLE, names.iam_role_name) from None
    run.record(ResourceKind.ROLE, names.iam_role_name, IAM_REGION, arn=role["Arn"], notebook=notebook)

    document = application_policy(
        _partition(role["Arn"]), account, names.table_name, run.params.regions, names.function_name
    )
    recorded = run.resources(ResourceKind.POLICY)
    if recorded:
        policy_arn = recorded[0].arn
        current = iam.get_policy(PolicyArn=policy_arn)["Policy"]
        version = iam.get_policy_version(PolicyArn=policy_arn, VersionId=current["DefaultVersionId"])["PolicyVersion"]
        stored = version["Document"]
        if isinstance(stored, str):
            from urllib.parse import unquote

            stored = json.loads(unquote(stored))
        if stored != document:
            iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
    else:
        try:
            policy_arn = iam.create_policy(
                PolicyName=names.iam_policy_name,
                PolicyDocument=json.dumps(document),
                Description=f"Least-privilege access to {names.table_name} and its function's logs",
                Tags=tags,
            )["Policy"]["Arn"]
        except botocore.exceptions.ClientError as error:
            # Created by an earlier attempt that stopped before recording it: its ARN is determined
            # by account and name, and it must carry this run's tag to be adopted.
            if aws_error_code(error) != "EntityAlreadyExists":
                raise
            policy_arn = f"arn:{_partition(role['Arn'])}:iam::{account}:policy/{names.iam_policy_name}"
            policy_tags = iam.list_policy_tags(PolicyArn=policy_arn)["Tags"]
            if tags[0] not in policy_tags:
                raise ForeignResource(ResourceKind.POLICY, policy_arn) from None
        run.record(ResourceKind.POLICY, names.iam_policy_name, IAM_REGION, arn=policy_arn, notebook=notebook)
    iam.attach_role_policy(RoleName=names.iam_role_name, PolicyArn=policy_arn)
    return ApplicationRole(role_name=names.iam_role_name, role_arn=role["Arn"], policy_arn=policy_arn, policy=document)
