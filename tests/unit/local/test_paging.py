"""The embedded AWS answers list calls in pages of two, under each API's own token names, as AWS pages
them; boto3's paginators read them all, and a caller's smaller limit is honoured."""

import json
import uuid

import botocore.exceptions
import pytest
from globaltables.local import paging

from tests.unit.local.helpers import GSI1, create_table

REGION = "eu-west-1"
ROLE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
)


def everything(client, operation, result_key, **arguments):
    pages = list(client.get_paginator(operation).paginate(**arguments))
    return pages, [item for page in pages for item in page[result_key]]


def test_every_hook_is_present():
    assert paging.missing_hooks() == []


def test_kms_keys_and_aliases_come_two_a_page_with_markers(clients):
    kms = clients.client("kms", REGION)
    tag = uuid.uuid4().hex[:8]
    made = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
    for i, key in enumerate(made):
        kms.create_alias(AliasName=f"alias/paging-{tag}-{i}", TargetKeyId=key)
    first = kms.list_keys()
    assert len(first["Keys"]) == 2 and first["Truncated"] is True and first["NextMarker"]
    assert len(kms.list_keys(Limit=1)["Keys"]) == 1
    _, keys = everything(kms, "list_keys", "Keys")
    assert set(made) <= {k["KeyId"] for k in keys}
    _, aliases = everything(kms, "list_aliases", "Aliases")
    assert {f"alias/paging-{tag}-{i}" for i in range(3)} <= {a["AliasName"] for a in aliases}
    assert kms.list_aliases(KeyId=made[0])["Aliases"][0]["AliasName"] == f"alias/paging-{tag}-0"


def test_a_token_the_service_did_not_issue_is_refused(clients):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        clients.client("kms", REGION).list_keys(Marker="not-a-marker")
    assert caught.value.response["Error"]["Code"] == "InvalidMarkerException"


def test_tables_log_groups_topics_alarms_and_dashboards_are_paged(clients):
    tag = uuid.uuid4().hex[:8]
    ddb, logs = clients.client("dynamodb", REGION), clients.client("logs", REGION)
    sns, cloudwatch = clients.client("sns", REGION), clients.client("cloudwatch", REGION)
    tables = [create_table(ddb, f"paging-{tag}-{i}") for i in range(3)]
    for i in range(3):
        logs.create_log_group(logGroupName=f"/paging/{tag}/{i}")
        sns.create_topic(Name=f"paging-{tag}-{i}")
        cloudwatch.put_metric_alarm(
            AlarmName=f"paging-{tag}-{i}",
            MetricName="ThrottledRequests",
            Namespace="AWS/DynamoDB",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
        cloudwatch.put_dashboard(DashboardName=f"paging-{tag}-{i}", DashboardBody='{"widgets": []}')
    assert len(ddb.list_tables()["TableNames"]) == 2 and "LastEvaluatedTableName" in ddb.list_tables()
    assert set(tables) <= set(everything(ddb, "list_tables", "TableNames")[1])
    assert len(logs.describe_log_groups()["logGroups"]) == 2
    groups = everything(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=f"/paging/{tag}")[1]
    assert len(groups) == 3
    assert len(sns.list_topics()["Topics"]) == 2
    assert {f"paging-{tag}-{i}" for i in range(3)} <= {
        t["TopicArn"].rsplit(":", 1)[-1] for t in everything(sns, "list_topics", "Topics")[1]
    }
    pages, alarms = everything(cloudwatch, "describe_alarms", "MetricAlarms", AlarmNamePrefix=f"paging-{tag}")
    assert len(alarms) == 3 and [len(p["MetricAlarms"]) for p in pages] == [2, 1]
    pages, dashboards = everything(
        cloudwatch, "list_dashboards", "DashboardEntries", DashboardNamePrefix=f"paging-{tag}"
    )
    assert len(dashboards) == 3 and len(pages) == 2


def test_functions_are_paged_with_markers(clients):
    from globaltables.functions import package  # the runbook's own handler, zipped

    iam, lam = clients.client("iam", REGION), clients.client("lambda", REGION)
    tag = uuid.uuid4().hex[:8]
    role = iam.create_role(RoleName=f"paging-{tag}", AssumeRolePolicyDocument=ROLE_TRUST)["Role"]["Arn"]
    for i in range(3):
        lam.create_function(
            FunctionName=f"paging-{tag}-{i}",
            Runtime="python3.11",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": package()},
        )
    first = lam.list_functions()
    assert len(first["Functions"]) == 2 and first["NextMarker"]
    assert {f"paging-{tag}-{i}" for i in range(3)} <= {
        f["FunctionName"] for f in everything(lam, "list_functions", "Functions")[1]
    }


def test_iam_lists_are_paged_with_is_truncated(clients):
    iam = clients.client("iam", REGION)
    tag = uuid.uuid4().hex[:8]
    role = f"paging-{tag}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=ROLE_TRUST)
    arns = []
    for i in range(3):
        iam.put_role_policy(RoleName=role, PolicyName=f"inline-{i}", PolicyDocument=POLICY)
        arn = iam.create_policy(PolicyName=f"paging-{tag}-{i}", PolicyDocument=POLICY)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        arns.append(arn)
    for _ in range(2):
        iam.create_policy_version(PolicyArn=arns[0], PolicyDocument=POLICY)
    for i in range(2):
        iam.create_role(RoleName=f"paging-{tag}-{i}", AssumeRolePolicyDocument=ROLE_TRUST)
        iam.attach_role_policy(RoleName=f"paging-{tag}-{i}", PolicyArn=arns[0])
    first = iam.list_role_policies(RoleName=role)
    assert len(first["PolicyNames"]) == 2 and first["IsTruncated"] is True
    assert len(everything(iam, "list_role_policies", "PolicyNames", RoleName=role)[1]) == 3
    assert len(everything(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role)[1]) == 3
    assert len(everything(iam, "list_policy_versions", "Versions", PolicyArn=arns[0])[1]) == 3
    assert len(everything(iam, "list_entities_for_policy", "PolicyRoles", PolicyArn=arns[0])[1]) == 3
    assert iam.list_roles()["IsTruncated"] is True
    roles = {r["RoleName"] for r in everything(iam, "list_roles", "Roles")[1]}
    assert {role, f"paging-{tag}-0", f"paging-{tag}-1"} <= roles
    policies = {p["PolicyName"] for p in everything(iam, "list_policies", "Policies", Scope="Local")[1]}
    assert {f"paging-{tag}-{i}" for i in range(3)} <= policies


def test_scaling_targets_and_policies_are_paged(clients):
    ddb, scaling = clients.client("dynamodb", REGION), clients.client("application-autoscaling", REGION)
    tag = uuid.uuid4().hex[:8]
    resources = []
    for i in range(3):
        name = create_table(
            ddb,
            f"paging-{tag}-{i}",
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            GlobalSecondaryIndexes=[
                {**GSI1, "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}
            ],
        )
        resources.append(f"table/{name}")
        scaling.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId=f"table/{name}",
            ScalableDimension="dynamodb:table:ReadCapacityUnits",
            MinCapacity=1,
            MaxCapacity=5,
        )
        scaling.put_scaling_policy(
            PolicyName=f"paging-{tag}-{i}",
            ServiceNamespace="dynamodb",
            ResourceId=f"table/{name}",
            ScalableDimension="dynamodb:table:ReadCapacityUnits",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"},
            },
        )
    pages, targets = everything(scaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb")
    assert set(resources) <= {t["ResourceId"] for t in targets} and all(len(p["ScalableTargets"]) <= 2 for p in pages)
    # No target twice across pages (a target is a resource and a dimension: other tests' tables have two).
    assert len({(t["ResourceId"], t["ScalableDimension"]) for t in targets}) == len(targets)
    pages, policies = everything(scaling, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb")
    assert {f"paging-{tag}-{i}" for i in range(3)} <= {p["PolicyName"] for p in policies}
    assert all(len(p["ScalingPolicies"]) <= 2 for p in pages)
    assert len({p["PolicyARN"] for p in policies}) == len(policies)


def test_backup_vaults_plans_selections_and_recovery_points_are_paged(clients):
    backup, ddb = clients.client("backup", REGION), clients.client("dynamodb", REGION)
    iam = clients.client("iam", REGION)
    tag = uuid.uuid4().hex[:8]
    role = iam.create_role(RoleName=f"paging-backup-{tag}", AssumeRolePolicyDocument=ROLE_TRUST)["Role"]["Arn"]
    table_arn = ddb.describe_table(TableName=create_table(ddb, f"paging-{tag}"))["Table"]["TableArn"]
    vaults = [f"paging-{tag}-{i}" for i in range(3)]
    for vault in vaults:
        backup.create_backup_vault(BackupVaultName=vault)
    plan_ids = [
        backup.create_backup_plan(
            BackupPlan={
                "BackupPlanName": f"paging-{tag}-{i}",
                "Rules": [{"RuleName": "daily", "TargetBackupVaultName": vaults[0]}],
            }
        )["BackupPlanId"]
        for i in range(3)
    ]
    for i in range(3):
        backup.create_backup_selection(
            BackupPlanId=plan_ids[0],
            BackupSelection={"SelectionName": f"s{i}", "IamRoleArn": role, "Resources": [table_arn]},
        )
        backup.start_backup_job(BackupVaultName=vaults[0], ResourceArn=table_arn, IamRoleArn=role)
    assert len(backup.list_backup_vaults()["BackupVaultList"]) == 2
    assert set(vaults) <= {v["BackupVaultName"] for v in everything(backup, "list_backup_vaults", "BackupVaultList")[1]}
    plans = {p["BackupPlanId"] for p in everything(backup, "list_backup_plans", "BackupPlansList")[1]}
    assert set(plan_ids) <= plans
    selections = everything(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan_ids[0])
    assert len(selections[0]) == 2 and len(selections[1]) == 3
    points = everything(backup, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=vaults[0])
    assert len(points[0]) == 2 and len(points[1]) == 3
