"""01_iam_kms's library: the least-privilege role (recipe defect 17, docs/recipe-defects.md) and per-region keys (defect 6)."""

import json

import pytest
from globaltables.iam import ensure_application_role, policy_rows, trust_policy
from globaltables.kms import KeyConflict, ensure_region_key, run_keys

from tests.unit.local.helpers import listed


def test_role_trusts_lambda_only_and_scopes_every_permission(clients, new_run):
    run = new_run()
    role = ensure_application_role(clients, run, "123456789012")
    table, function = run.names.table_name, run.names.function_name
    assert trust_policy()["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    rows = policy_rows(role.policy)
    wildcard = [r for r in rows if r["resource"] == "*"]
    assert [r["action"] for r in wildcard] == ["dynamodb:ListStreams"]  # AWS authorizes it only on *
    for row in rows:
        if row["action"].startswith("logs:"):
            assert f"log-group:/aws/lambda/{function}" in row["resource"]
        elif row["action"].startswith("kms:"):  # the table keys, only through DynamoDB
            assert row["action"] == "kms:Decrypt" and row["resource"].endswith(":key/*")
        elif row["resource"] != "*":
            assert f":table/{table}" in row["resource"]
    assert {r["action"] for r in rows if r["action"].startswith("logs:")} == {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    regions_covered = {r["resource"].split(":")[3] for r in rows if r["resource"] != "*"}
    assert regions_covered == set(run.params.regions)


def test_role_and_policy_are_recorded_with_the_arn_create_policy_returned(clients, new_run):
    run = new_run()
    role = ensure_application_role(clients, run, "123456789012")
    iam = clients.client("iam", "us-east-1")
    [policy] = run.resources("iam:policy")
    assert policy.arn == role.policy_arn
    attached = listed(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role.role_name)
    assert [p["PolicyArn"] for p in attached] == [role.policy_arn]
    document = iam.get_policy_version(PolicyArn=role.policy_arn, VersionId="v1")["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document == role.policy


def test_role_creation_is_idempotent(clients, new_run):
    run = new_run()
    first = ensure_application_role(clients, run, "123456789012")
    second = ensure_application_role(clients, run, "123456789012")
    assert first == second
    iam = clients.client("iam", "us-east-1")
    assert len(listed(iam, "list_policy_versions", "Versions", PolicyArn=first.policy_arn)) == 1
    assert len(run.resources("iam:role")) == len(run.resources("iam:policy")) == 1


def test_a_role_of_the_same_name_from_elsewhere_is_not_adopted(clients, new_run):
    run = new_run()
    clients.client("iam", "us-east-1").create_role(
        RoleName=run.names.iam_role_name, AssumeRolePolicyDocument=json.dumps(trust_policy())
    )
    with pytest.raises(RuntimeError, match="not this run's"):
        ensure_application_role(clients, run, "123456789012")


def test_each_region_gets_the_key_create_key_returned_not_a_listed_one(clients, new_run):
    run = new_run()
    for region in run.params.regions:  # someone else's keys, before and around ours
        clients.client("kms", region).create_key(Description="not ours")
    keys = {region: ensure_region_key(clients, run, region) for region in run.params.regions}
    for region, key in keys.items():
        kms = clients.client("kms", region)
        clients.client("kms", region).create_key(Description="also not ours")
        assert kms.describe_key(KeyId=run.names.kms_alias(region))["KeyMetadata"]["KeyId"] == key.key_id
        assert kms.get_key_rotation_status(KeyId=key.key_id)["KeyRotationEnabled"] is True
        assert key.arn.split(":")[3] == region
    assert run_keys(run) == {region: key.arn for region, key in keys.items()}
    again = {region: ensure_region_key(clients, run, region) for region in run.params.regions}
    assert again == keys
    assert len(run.resources("kms:key")) == len(run.params.regions)


def test_an_alias_naming_another_key_is_refused(clients, new_run):
    run = new_run()
    kms = clients.client("kms", "us-east-1")
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=run.names.kms_alias("us-east-1"), TargetKeyId=other)
    with pytest.raises(KeyConflict, match=other):
        ensure_region_key(clients, run, "us-east-1")
