"""AWS Backup for the table, and a restore drill.

Fixes of the recipe: the vault uses the default ``aws/backup`` key instead of an alias ARN (defect
13), the backup role is created here, trusted by ``backup.amazonaws.com`` with AWS Backup's managed
policies (12), and the selection names the table's ARN without a tag condition the table lacks (11).
"""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.names import RUN_TAG_KEY
from globaltables.state import RunState
from globaltables.waiting import wait_until

KIND_ROLE = "iam:role"
KIND_VAULT = "backup:vault"
KIND_PLAN = "backup:plan"
KIND_SELECTION = "backup:selection"
KIND_RECOVERY_POINT = "backup:recovery-point"
KIND_RESTORED_TABLE = "dynamodb:restored-table"
NOTEBOOK = "06_backup"
MANAGED_POLICIES = [
    "arn:{partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:{partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
]


def backup_role_name(run: RunState) -> str:
    return f"GlobalTableBackupRole-{run.names.suffix}"


def ensure_backup_role(clients: AwsClients, run: RunState) -> str:
    """The role AWS Backup assumes, with the managed backup and restore policies; returns its ARN."""
    iam = clients.client("iam", run.params.primary_region)
    name = backup_role_name(run)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        role = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=[{"Key": RUN_TAG_KEY, "Value": run.run_id}]
        )["Role"]
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
        role = iam.get_role(RoleName=name)["Role"]
    run.record(KIND_ROLE, name, "global", arn=role["Arn"], notebook=NOTEBOOK)
    partition = role["Arn"].split(":")[1]
    for policy in MANAGED_POLICIES:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy.format(partition=partition))
    return role["Arn"]


def ensure_vault(clients: AwsClients, run: RunState, region: str) -> str:
    """A vault encrypted with the default aws/backup key (no alias ARN); returns its ARN."""
    backup = clients.client("backup", region)
    name = run.names.backup_vault_name
    try:
        arn = backup.create_backup_vault(BackupVaultName=name, BackupVaultTags={RUN_TAG_KEY: run.run_id})[
            "BackupVaultArn"
        ]
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "AlreadyExistsException":
            raise
        arn = backup.describe_backup_vault(BackupVaultName=name)["BackupVaultArn"]
    run.record(KIND_VAULT, name, region, arn=arn, notebook=NOTEBOOK)
    return arn


def plan_document(run: RunState) -> dict[str, Any]:
    return {
        "BackupPlanName": run.names.backup_plan_name,
        "Rules": [
            {
                "RuleName": "DailyBackups",
                "TargetBackupVaultName": run.names.backup_vault_name,
                "ScheduleExpression": "cron(0 2 ? * * *)",
                "StartWindowMinutes": 60,
                "CompletionWindowMinutes": 120,
                "Lifecycle": {"DeleteAfterDays": 30},
                "RecoveryPointTags": {RUN_TAG_KEY: run.run_id},
            }
        ],
    }


def ensure_plan(clients: AwsClients, run: RunState, region: str) -> str:
    """The daily plan (02:00 UTC, kept 30 days); returns its id."""
    recorded = run.resources(KIND_PLAN, region)
    if recorded:
        return recorded[0].details["plan_id"]
    created = clients.client("backup", region).create_backup_plan(
        BackupPlan=plan_document(run), BackupPlanTags={RUN_TAG_KEY: run.run_id}
    )
    run.record(
        KIND_PLAN,
        run.names.backup_plan_name,
        region,
        arn=created["BackupPlanArn"],
        notebook=NOTEBOOK,
        plan_id=created["BackupPlanId"],
    )
    return created["BackupPlanId"]


def ensure_selection(
    clients: AwsClients, run: RunState, region: str, plan_id: str, role_arn: str, table_arn: str
) -> str:
    """Select the table by its ARN (no tag condition); returns the selection id."""
    recorded = run.resources(KIND_SELECTION, region)
    if recorded:
        return recorded[0].details["selection_id"]
    name = f"table-{run.names.suffix}"
    selection = clients.client("backup", region).create_backup_selection(
        BackupPlanId=plan_id,
        BackupSelection={"SelectionName": name, "IamRoleArn": role_arn, "Resources": [table_arn]},
    )
    run.record(KIND_SELECTION, name, region, notebook=NOTEBOOK, plan_id=plan_id, selection_id=selection["SelectionId"])
    return selection["SelectionId"]


def pitr_rows(clients: AwsClients, regions: list[str], table_name: str) -> list[dict[str, Any]]:
    rows = []
    for region in regions:
        description = clients.client("dynamodb", region).describe_continuous_backups(TableName=table_name)[
            "ContinuousBackupsDescription"
        ]["PointInTimeRecoveryDescription"]
        rows.append(
            {
                "region": region,
                "pitr": description["PointInTimeRecoveryStatus"],
                "earliest restorable": description.get("EarliestRestorableDateTime", ""),
                "latest restorable": description.get("LatestRestorableDateTime", ""),
            }
        )
    return rows


class BackupJob(BaseModel):
    job_id: str
    state: str
    recovery_point_arn: str


def backup_now(clients: AwsClients, run: RunState, region: str, table_arn: str, role_arn: str) -> BackupJob:
    """An on-demand backup job into the vault, waited for until it completes. A rerun of the step
    reports the run's existing backup instead of making another recovery point."""
    backup = clients.client("backup", region)
    recorded = run.resources(KIND_RECOVERY_POINT, region)
    if recorded:
        started = {"BackupJobId": recorded[0].details["job_id"], "RecoveryPointArn": recorded[0].arn}
    else:
        started = backup.start_backup_job(
            BackupVaultName=run.names.backup_vault_name, ResourceArn=table_arn, IamRoleArn=role_arn
        )
        run.record(
            KIND_RECOVERY_POINT,
            started["RecoveryPointArn"],
            region,
            arn=started["RecoveryPointArn"],
            notebook=NOTEBOOK,
            vault=run.names.backup_vault_name,
            job_id=started["BackupJobId"],
        )

    def probe() -> tuple[bool, str]:
        state = backup.describe_backup_job(BackupJobId=started["BackupJobId"])["State"]
        if state in ("FAILED", "ABORTED", "EXPIRED"):
            raise RuntimeError(f"backup job {started['BackupJobId']} ended {state}")
        return state == "COMPLETED", state

    state = wait_until(
        probe, f"backup job {started['BackupJobId']} COMPLETED", run.params.wait_timeout_s, clients.poll_interval_s
    )
    return BackupJob(job_id=started["BackupJobId"], state=state, recovery_point_arn=started["RecoveryPointArn"])


def restored_table_name(run: RunState) -> str:
    return f"{run.names.table_name}-restored"


def restore_to_point_in_time(clients: AwsClients, run: RunState, region: str) -> dict[str, Any]:
    """Restore the table, as of its latest restorable time, into a new table (recorded for cleanup)."""
    ddb = clients.client("dynamodb", region)
    target = restored_table_name(run)
    try:
        ddb.restore_table_to_point_in_time(
            SourceTableName=run.names.table_name, TargetTableName=target, UseLatestRestorableTime=True
        )
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "TableAlreadyExistsException":
            raise
    table = ddb.describe_table(TableName=target)["Table"]
    run.record(KIND_RESTORED_TABLE, target, region, arn=table["TableArn"], notebook=NOTEBOOK)
    from globaltables.tables import wait_for_table

    return wait_for_table(clients, region, target, run.params.wait_timeout_s)
