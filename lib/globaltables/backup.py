"""AWS Backup for the table, and a restore drill.

Fixes of the recipe: the vault uses the default ``aws/backup`` key instead of an alias ARN (defect
13), the backup role is created here, trusted by ``backup.amazonaws.com`` with AWS Backup's managed
policies (12), and the selection names the table's ARN without a tag condition the table lacks (11).
The defects are described in docs/recipe-defects.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import botocore.exceptions
from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.errors import BackupJobFailed, aws_error_code, aws_error_message
from globaltables.kinds import ResourceKind
from globaltables.names import RUN_TAG_KEY
from globaltables.state import RunState
from globaltables.waiting import retry_on_codes, wait_until

# Still imported under these names by tests/unit/test_races_library.py.


T = TypeVar("T")

NOTEBOOK = "06_backup"
# A backup job that ended without a recovery point; a new job is started instead (up to JOB_ATTEMPTS).
JOB_FAILED_STATES = ("FAILED", "ABORTED", "EXPIRED")
JOB_ATTEMPTS = 5
MANAGED_POLICIES = [
    "arn:{partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:{partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
]


def backup_role_name(run: RunState) -> str:
    return run.names.backup_role_name


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
        if aws_error_code(error) != "EntityAlreadyExists":
            raise
        role = iam.get_role(RoleName=name)["Role"]
    run.record(ResourceKind.ROLE, name, "global", arn=role["Arn"], notebook=NOTEBOOK)
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
        if aws_error_code(error) != "AlreadyExistsException":
            raise
        arn = backup.describe_backup_vault(BackupVaultName=name)["BackupVaultArn"]
    run.record(ResourceKind.BACKUP_VAULT, name, region, arn=arn, notebook=NOTEBOOK)
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
    recorded = run.resources(ResourceKind.BACKUP_PLAN, region)
    if recorded:
        return recorded[0].details["plan_id"]
    created = clients.client("backup", region).create_backup_plan(
        BackupPlan=plan_document(run), BackupPlanTags={RUN_TAG_KEY: run.run_id}
    )
    run.record(
        ResourceKind.BACKUP_PLAN,
        run.names.backup_plan_name,
        region,
        arn=created["BackupPlanArn"],
        notebook=NOTEBOOK,
        plan_id=created["BackupPlanId"],
    )
    return created["BackupPlanId"]


def while_role_propagates(call: Callable[[], T], timeout_s: float, interval_s: float, show: Callable[[str], None]) -> T:
    """``call()``, retried while AWS Backup answers that the role "cannot be assumed": a role made seconds
    ago is not usable yet (IAM is eventually consistent; 05 does the same for Lambda)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except botocore.exceptions.ClientError as error:
            message = aws_error_message(error)
            if aws_error_code(error) != "InvalidParameterValueException" or "cannot be assumed" not in message:
                raise
            if time.monotonic() + interval_s > deadline:
                raise
            show(f"backup role not usable yet ({message}), retrying in {interval_s:g} s")
            time.sleep(interval_s)


def ensure_selection(
    clients: AwsClients,
    run: RunState,
    region: str,
    plan_id: str,
    role_arn: str,
    table_arn: str,
    show: Callable[[str], None] = print,
) -> str:
    """Select the table by its ARN (no tag condition); returns the selection id. A role AWS Backup cannot
    assume yet (just created) is waited for, within ``wait_timeout_s``."""
    recorded = run.resources(ResourceKind.BACKUP_SELECTION, region)
    if recorded:
        return recorded[0].details["selection_id"]
    name = run.names.backup_selection_name
    selection = while_role_propagates(
        lambda: clients.client("backup", region).create_backup_selection(
            BackupPlanId=plan_id,
            BackupSelection={"SelectionName": name, "IamRoleArn": role_arn, "Resources": [table_arn]},
        ),
        run.params.wait_timeout_s,
        max(clients.poll_interval_s, 1.0),
        show,
    )
    run.record(
        ResourceKind.BACKUP_SELECTION,
        name,
        region,
        notebook=NOTEBOOK,
        plan_id=plan_id,
        selection_id=selection["SelectionId"],
    )
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


def _start_job(clients: AwsClients, run: RunState, region: str, table_arn: str, role_arn: str) -> dict[str, Any]:
    """StartBackupJob, recorded as the run's recovery point in ``region`` (replacing an earlier job's)."""
    started = clients.client("backup", region).start_backup_job(
        BackupVaultName=run.names.backup_vault_name, ResourceArn=table_arn, IamRoleArn=role_arn
    )
    for earlier in run.resources(ResourceKind.RECOVERY_POINT, region):
        run.forget(ResourceKind.RECOVERY_POINT, earlier.name, region)
    run.record(
        ResourceKind.RECOVERY_POINT,
        started["RecoveryPointArn"],
        region,
        arn=started["RecoveryPointArn"],
        notebook=NOTEBOOK,
        vault=run.names.backup_vault_name,
        job_id=started["BackupJobId"],
    )
    return started


def _job_end(clients: AwsClients, region: str, job_id: str, timeout_s: float) -> dict[str, Any]:
    """DescribeBackupJob once the job has ended (COMPLETED or one of JOB_FAILED_STATES)."""
    backup = clients.client("backup", region)

    def probe() -> tuple[bool, dict[str, Any]]:
        job = backup.describe_backup_job(BackupJobId=job_id)
        return job["State"] == "COMPLETED" or job["State"] in JOB_FAILED_STATES, job

    return wait_until(
        probe, f"backup job {job_id} ended", timeout_s, clients.poll_interval_s, show=lambda job: job["State"]
    )


def backup_now(
    clients: AwsClients,
    run: RunState,
    region: str,
    table_arn: str,
    role_arn: str,
    attempts: int = JOB_ATTEMPTS,
    show: Callable[[str], None] = print,
) -> BackupJob:
    """An on-demand backup job into the vault, waited for until it completes. A job that ends FAILED,
    ABORTED or EXPIRED (on AWS, for instance, a role too new for AWS Backup to assume) is replaced by a new
    StartBackupJob after a growing pause, up to ``attempts`` jobs within ``wait_timeout_s``; the manifest
    keeps the latest job's recovery point. A rerun of the step reports the run's completed backup, waits
    for one still running, and starts a new job after a failed one. Raises BackupJobFailed."""
    recorded = run.resources(ResourceKind.RECOVERY_POINT, region)
    job_id = recorded[0].details["job_id"] if recorded else None
    deadline = time.monotonic() + run.params.wait_timeout_s
    pause = max(clients.poll_interval_s, 1.0)
    started_here = 0
    while True:
        if job_id is None:
            job_id = _start_job(clients, run, region, table_arn, role_arn)["BackupJobId"]
            started_here += 1
        job = _job_end(clients, region, job_id, max(0.0, deadline - time.monotonic()))
        if job["State"] == "COMPLETED":
            return BackupJob(job_id=job_id, state=job["State"], recovery_point_arn=job["RecoveryPointArn"])
        message = job.get("StatusMessage", "")
        if started_here == 0:  # an earlier run's job failed: start a new one at once
            show(f"the run's backup job {job_id} ended {job['State']} ({message}); starting a new job")
            job_id = None
            continue
        if started_here >= attempts or time.monotonic() + pause > deadline:
            raise BackupJobFailed(job_id, job["State"], message, started_here)
        show(f"backup job {job_id} ended {job['State']} ({message}); starting a new job in {pause:g} s")
        time.sleep(pause)
        pause = min(pause * 2, 30.0)
        job_id = None


def restored_table_name(run: RunState) -> str:
    return run.names.restored_table_name


def restore_to_point_in_time(clients: AwsClients, run: RunState, region: str) -> dict[str, Any]:
    """Restore the table, as of its latest restorable time, into a new table (recorded for cleanup) and,
    once it is ACTIVE, tag it with the run's tag: AWS's restore copies no tags, and the orphan finder
    looks for that tag."""
    ddb = clients.client("dynamodb", region)
    target = restored_table_name(run)
    try:
        ddb.restore_table_to_point_in_time(
            SourceTableName=run.names.table_name, TargetTableName=target, UseLatestRestorableTime=True
        )
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) != "TableAlreadyExistsException":
            raise
    table = ddb.describe_table(TableName=target)["Table"]
    run.record(ResourceKind.RESTORED_TABLE, target, region, arn=table["TableArn"], notebook=NOTEBOOK)
    from globaltables.tables import TABLE_BUSY, wait_for_table

    restored = wait_for_table(clients, region, target, run.params.wait_timeout_s)
    run_tag = {"Key": RUN_TAG_KEY, "Value": run.run_id}
    if run_tag not in ddb.list_tags_of_resource(ResourceArn=restored["TableArn"]).get("Tags", []):
        retry_on_codes(
            lambda: ddb.tag_resource(ResourceArn=restored["TableArn"], Tags=[run_tag]),
            TABLE_BUSY,
            run.params.wait_timeout_s,
        )
    return restored
