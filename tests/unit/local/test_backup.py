"""Backup selections, backup jobs and recovery points added to moto, with AWS's validation."""

import botocore.exceptions
import pytest

from tests.unit.local.helpers import create_table, listed, unique_name

REGION = "us-east-1"


@pytest.fixture
def setup(clients):
    backup = clients.client("backup", REGION)
    role = clients.client("iam", REGION).create_role(RoleName=unique_name("b"), AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    vault = unique_name("vault")
    backup.create_backup_vault(BackupVaultName=vault)
    plan = backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": unique_name("plan"),
            "Rules": [
                {
                    "RuleName": "daily",
                    "TargetBackupVaultName": vault,
                    "ScheduleExpression": "cron(0 2 ? * * *)",
                    "Lifecycle": {"DeleteAfterDays": 30},
                }
            ],
        }
    )["BackupPlanId"]
    table = create_table(clients.client("dynamodb", REGION))
    table_arn = clients.client("dynamodb", REGION).describe_table(TableName=table)["Table"]["TableArn"]
    return backup, role, vault, plan, table, table_arn


def code_of(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_selection_is_created_read_listed_and_deleted(setup):
    backup, role, _, plan, _, table_arn = setup
    created = backup.create_backup_selection(
        BackupPlanId=plan, BackupSelection={"SelectionName": "table", "IamRoleArn": role, "Resources": [table_arn]}
    )
    got = backup.get_backup_selection(BackupPlanId=plan, SelectionId=created["SelectionId"])
    assert got["BackupSelection"]["Resources"] == [table_arn] and got["BackupPlanId"] == plan
    selections = listed(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan)
    assert [(s["SelectionId"], s["SelectionName"], s["IamRoleArn"]) for s in selections] == [
        (created["SelectionId"], "table", role)
    ]
    backup.delete_backup_selection(BackupPlanId=plan, SelectionId=created["SelectionId"])
    assert listed(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan) == []
    code, _ = code_of(backup.get_backup_selection, BackupPlanId=plan, SelectionId=created["SelectionId"])
    assert code == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"SelectionName": "bad name!", "Resources": ["arn:x"]}, "SelectionName"),
        ({"SelectionName": "ok"}, "needs Resources"),
        (
            {"SelectionName": "ok", "IamRoleArn": "arn:aws:iam::123456789012:role/nobody", "Resources": ["arn:x"]},
            "does not exist",
        ),
        ({"SelectionName": "ok", "IamRoleArn": "not-an-arn", "Resources": ["arn:x"]}, "Invalid IAM role"),
    ],
)
def test_invalid_selections_are_refused(setup, selection, expected):
    backup, role, _, plan, _, _ = setup
    code, message = code_of(
        backup.create_backup_selection, BackupPlanId=plan, BackupSelection={"IamRoleArn": role, **selection}
    )
    assert code == "InvalidParameterValueException" and expected in message


def test_recipe_style_conditions_are_refused_by_the_api_shape(setup):
    backup, role, _, plan, _, table_arn = setup
    with pytest.raises(botocore.exceptions.ParamValidationError):
        backup.create_backup_selection(
            BackupPlanId=plan,
            BackupSelection={
                "SelectionName": "recipe",
                "IamRoleArn": role,
                "Resources": [table_arn],
                "Conditions": {"StringEquals": {"aws:ResourceTag/Environment": ["Production"]}},
            },
        )


def test_selection_of_an_unknown_plan_is_not_found(setup):
    backup, role, *_ = setup
    code, _ = code_of(
        backup.create_backup_selection,
        BackupPlanId="nope",
        BackupSelection={"SelectionName": "x", "IamRoleArn": role, "Resources": ["arn:x"]},
    )
    assert code == "ResourceNotFoundException"


def test_backup_job_makes_a_restorable_recovery_point(clients, setup):
    backup, role, vault, _, table, table_arn = setup
    ddb = clients.client("dynamodb", REGION)
    ddb.put_item(TableName=table, Item={"PK": {"S": "a"}, "SK": {"S": "b"}, "v": {"N": "1"}})
    job = backup.start_backup_job(BackupVaultName=vault, ResourceArn=table_arn, IamRoleArn=role)
    assert backup.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED"
    [point] = listed(backup, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=vault)
    assert point["RecoveryPointArn"] == job["RecoveryPointArn"] and point["ResourceArn"] == table_arn
    assert point["Status"] == "COMPLETED" and point["ResourceType"] == "DynamoDB"
    restored = unique_name("restored")
    ddb.restore_table_from_backup(TargetTableName=restored, BackupArn=point["RecoveryPointArn"])
    assert ddb.scan(TableName=restored)["Items"][0]["v"] == {"N": "1"}


def test_backup_job_validation(setup):
    backup, role, vault, _, _, table_arn = setup
    assert (
        code_of(backup.start_backup_job, BackupVaultName="nope", ResourceArn=table_arn, IamRoleArn=role)[0]
        == "ResourceNotFoundException"
    )
    missing = table_arn.rsplit("/", 1)[0] + "/no-such-table"
    assert (
        code_of(backup.start_backup_job, BackupVaultName=vault, ResourceArn=missing, IamRoleArn=role)[0]
        == "ResourceNotFoundException"
    )
    assert (
        code_of(backup.start_backup_job, BackupVaultName=vault, ResourceArn="arn:aws:s3:::bucket", IamRoleArn=role)[0]
        == "InvalidParameterValueException"
    )


def test_vault_with_recovery_points_and_plan_with_selections_cannot_be_deleted(setup):
    backup, role, vault, plan, _, table_arn = setup
    selection = backup.create_backup_selection(
        BackupPlanId=plan, BackupSelection={"SelectionName": "t", "IamRoleArn": role, "Resources": [table_arn]}
    )
    job = backup.start_backup_job(BackupVaultName=vault, ResourceArn=table_arn, IamRoleArn=role)
    code, message = code_of(backup.delete_backup_vault, BackupVaultName=vault)
    assert code == "InvalidRequestException" and "recovery points" in message
    code, message = code_of(backup.delete_backup_plan, BackupPlanId=plan)
    assert code == "InvalidRequestException" and "selections" in message
    backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=job["RecoveryPointArn"])
    backup.delete_backup_selection(BackupPlanId=plan, SelectionId=selection["SelectionId"])
    backup.delete_backup_plan(BackupPlanId=plan)
    backup.delete_backup_vault(BackupVaultName=vault)
    assert vault not in [v["BackupVaultName"] for v in listed(backup, "list_backup_vaults", "BackupVaultList")]


def test_vault_key_given_as_an_alias_arn_is_refused(clients):
    code, message = code_of(
        clients.client("backup", REGION).create_backup_vault,
        BackupVaultName=unique_name("v"),
        EncryptionKeyArn="arn:aws:kms:us-east-1:123456789012:alias/aws/backup",
    )
    assert code == "InvalidParameterValueException" and "alias" in message
