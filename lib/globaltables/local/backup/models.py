"""State of the backup extension: selections of a plan, backup jobs, recovery points of a vault.

A DynamoDB backup job makes a real DynamoDB backup in the embedded AWS (so the recovery point can be
restored with RestoreTableFromBackup) and a recovery point in the vault that names it.

IAM is eventually consistent: a role made seconds ago may not be assumable by AWS Backup yet. Under a
timing with ``role_propagation_s`` (the realistic one), a role younger than that is refused by
CreateBackupSelection (InvalidParameterValueException, the answer the Terraform AWS provider retries as IAM
propagation), and a backup job started with it ends FAILED with no recovery point, its status message in
the "cannot be assumed by AWS Backup" category of AWS Backup's jobs dashboard.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.backup.exceptions import (
    AlreadyExistsException,
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.backup.models import BackupBackend, backup_backends
from moto.core.utils import unix_time, utcnow
from moto.dynamodb.models import dynamodb_backends
from moto.iam.models import iam_backends

SELECTION_NAME = re.compile(r"^[a-zA-Z0-9\-_.]{1,50}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(.+)$")
DYNAMODB_TABLE_ARN = re.compile(r"^arn:aws[a-z-]*:dynamodb:([a-z0-9-]+):(\d{12}):table/([a-zA-Z0-9_.-]{3,255})$")


@dataclass
class Selection:
    selection_id: str
    plan_id: str
    selection: dict[str, Any]
    creation_date: float
    creator_request_id: str | None


@dataclass
class RecoveryPoint:
    arn: str
    vault_name: str
    vault_arn: str
    resource_arn: str
    role_arn: str
    creation_date: float
    backup_job_id: str

    def describe(self) -> dict[str, Any]:
        return {
            "RecoveryPointArn": self.arn,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "ResourceArn": self.resource_arn,
            "ResourceType": "DynamoDB",
            "IamRoleArn": self.role_arn,
            "Status": "COMPLETED",
            "CreationDate": self.creation_date,
            "CompletionDate": self.creation_date,
            "BackupSizeInBytes": 0,
            "CreatedBy": {"BackupPlanId": "", "BackupRuleId": ""},
        }


@dataclass
class BackupState:
    selections: dict[str, Selection] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recovery_points: dict[str, RecoveryPoint] = field(default_factory=dict)


_STATES: dict[tuple[str, str], BackupState] = {}


def state_of(backend: BackupBackend) -> BackupState:
    return _STATES.setdefault((backend.account_id, backend.region_name), BackupState())


def role_not_assumable(role_arn: str) -> str:
    """AWS's words for a role AWS Backup cannot assume (CreateBackupSelection's InvalidParameterValueException
    as quoted by the Terraform AWS provider; a job's status message in the same category)."""
    return f"IAM Role {role_arn} cannot be assumed by AWS Backup"


def _check_role(backend: BackupBackend, role_arn: str | None) -> Any:
    """The role named by ``role_arn`` (moto's Role), which must exist."""
    match = ROLE_ARN.match(role_arn or "")
    if not match:
        raise InvalidParameterValueException(f"Invalid IAM role ARN: {role_arn!r}")
    role_name = match.group(1).rsplit("/", 1)[-1]
    role = next((r for r in iam_backends[backend.account_id]["global"].roles.values() if r.name == role_name), None)
    if role is None:
        raise InvalidParameterValueException(f"IAM role {role_arn} does not exist; AWS Backup cannot assume it")
    return role


def _propagating(role: Any) -> bool:
    """Whether ``role`` is too young for AWS Backup to assume (the timing's ``role_propagation_s``)."""
    from globaltables.local import extensions

    timing = extensions.GLOBAL_TABLES.timing if extensions.GLOBAL_TABLES is not None else None
    if timing is None or timing.role_propagation_s <= 0:
        return False
    return (utcnow() - role.create_date).total_seconds() < timing.role_propagation_s


def create_selection(
    backend: BackupBackend, plan_id: str, selection: dict[str, Any], creator_request_id: str | None
) -> Selection:
    if plan_id not in backend.plans or backend.plans[plan_id].deletion_date is not None:
        raise ResourceNotFoundException(f"Backup plan {plan_id} does not exist")
    name = selection.get("SelectionName", "")
    if not SELECTION_NAME.match(name):
        raise InvalidParameterValueException(
            f"Invalid SelectionName {name!r}: 1-50 characters of letters, digits, '-', '_' and '.'"
        )
    if _propagating(_check_role(backend, selection.get("IamRoleArn"))):
        raise InvalidParameterValueException(role_not_assumable(selection["IamRoleArn"]))
    conditions = selection.get("Conditions") or {}
    if not (selection.get("Resources") or selection.get("ListOfTags") or any(conditions.values())):
        raise InvalidParameterValueException("A backup selection needs Resources, ListOfTags or Conditions")
    state = state_of(backend)
    if any(s.plan_id == plan_id and s.selection["SelectionName"] == name for s in state.selections.values()):
        raise AlreadyExistsException(f"Backup selection {name} already exists in plan {plan_id}")
    created = Selection(str(uuid.uuid4()), plan_id, selection, unix_time(), creator_request_id)
    state.selections[created.selection_id] = created
    return created


def get_selection(backend: BackupBackend, plan_id: str, selection_id: str) -> Selection:
    selection = state_of(backend).selections.get(selection_id)
    if selection is None or selection.plan_id != plan_id:
        raise ResourceNotFoundException(f"Backup selection {selection_id} of plan {plan_id} does not exist")
    return selection


def list_selections(backend: BackupBackend, plan_id: str) -> list[Selection]:
    if plan_id not in backend.plans:
        raise ResourceNotFoundException(f"Backup plan {plan_id} does not exist")
    return [s for s in state_of(backend).selections.values() if s.plan_id == plan_id]


def delete_selection(backend: BackupBackend, plan_id: str, selection_id: str) -> None:
    get_selection(backend, plan_id, selection_id)
    del state_of(backend).selections[selection_id]


def check_plan_deletion(backend: BackupBackend, plan_id: str) -> None:
    if any(s.plan_id == plan_id for s in state_of(backend).selections.values()):
        raise InvalidRequestException(
            f"Backup plan {plan_id} cannot be deleted: it still has backup selections; delete them first"
        )


def check_vault_deletion(backend: BackupBackend, vault_name: str) -> None:
    if vault_name not in backend.vaults:
        raise ResourceNotFoundException(f"Backup vault {vault_name} does not exist")
    count = sum(1 for p in state_of(backend).recovery_points.values() if p.vault_name == vault_name)
    if count:
        raise InvalidRequestException(
            f"Backup vault {vault_name} cannot be deleted (contains {count} recovery points); delete them first"
        )


def check_vault_key(encryption_key_arn: str | None) -> None:
    if encryption_key_arn and ":alias/" in encryption_key_arn:
        raise InvalidParameterValueException(
            f"Invalid EncryptionKeyArn {encryption_key_arn}: pass a KMS key ARN, not an alias ARN "
            "(or omit it for the aws/backup key)"
        )


def start_backup_job(backend: BackupBackend, vault_name: str, resource_arn: str, role_arn: str) -> dict[str, Any]:
    if vault_name not in backend.vaults:
        raise ResourceNotFoundException(f"Backup vault {vault_name} does not exist")
    role = _check_role(backend, role_arn)
    match = DYNAMODB_TABLE_ARN.match(resource_arn or "")
    if not match:
        raise InvalidParameterValueException(
            f"Invalid ResourceArn {resource_arn!r}: the embedded AWS backs up DynamoDB tables only"
        )
    region, account, table_name = match.groups()
    if region != backend.region_name or account != backend.account_id:
        raise InvalidParameterValueException(f"{resource_arn} is not in {backend.region_name} of this account")
    dynamodb = dynamodb_backends[account][region]
    if table_name not in dynamodb.tables:
        raise ResourceNotFoundException(f"Resource {resource_arn} does not exist")
    job_id = str(uuid.uuid4()).upper()
    vault = backend.vaults[vault_name]
    state = state_of(backend)
    if _propagating(role):
        failed = (account, vault_name, vault.backup_vault_arn, resource_arn, role_arn)
        return _failed_job(state, job_id, *failed, role_not_assumable(role_arn))
    backup = dynamodb.create_backup(table_name, f"awsbackup-job-{job_id[:8]}")
    point = RecoveryPoint(backup.arn, vault_name, vault.backup_vault_arn, resource_arn, role_arn, unix_time(), job_id)
    state.recovery_points[point.arn] = point
    state.jobs[job_id] = {
        "BackupJobId": job_id,
        "AccountId": account,
        "BackupVaultName": vault_name,
        "BackupVaultArn": vault.backup_vault_arn,
        "RecoveryPointArn": point.arn,
        "ResourceArn": resource_arn,
        "ResourceType": "DynamoDB",
        "IamRoleArn": role_arn,
        "State": "COMPLETED",
        "PercentDone": "100.0",
        "CreationDate": point.creation_date,
        "CompletionDate": point.creation_date,
    }
    return state.jobs[job_id]


def _failed_job(
    state: BackupState,
    job_id: str,
    account: str,
    vault_name: str,
    vault_arn: str,
    resource_arn: str,
    role_arn: str,
    message: str,
) -> dict[str, Any]:
    """A job that ended FAILED without a recovery point (the ARN it would have had is still answered)."""
    now = unix_time()
    state.jobs[job_id] = {
        "BackupJobId": job_id,
        "AccountId": account,
        "BackupVaultName": vault_name,
        "BackupVaultArn": vault_arn,
        "RecoveryPointArn": f"{resource_arn}/backup/{int(now * 1000):017d}-{job_id[:8].lower()}",
        "ResourceArn": resource_arn,
        "ResourceType": "DynamoDB",
        "IamRoleArn": role_arn,
        "State": "FAILED",
        "StatusMessage": message,
        "PercentDone": "0.0",
        "CreationDate": now,
        "CompletionDate": now,
    }
    return state.jobs[job_id]


def describe_job(backend: BackupBackend, job_id: str) -> dict[str, Any]:
    job = state_of(backend).jobs.get(job_id)
    if job is None:
        raise ResourceNotFoundException(f"Backup job {job_id} does not exist")
    return job


def recovery_points(backend: BackupBackend, vault_name: str) -> list[RecoveryPoint]:
    if vault_name not in backend.vaults:
        raise ResourceNotFoundException(f"Backup vault {vault_name} does not exist")
    return [p for p in state_of(backend).recovery_points.values() if p.vault_name == vault_name]


def delete_recovery_point(backend: BackupBackend, vault_name: str, arn: str) -> None:
    point = state_of(backend).recovery_points.get(arn)
    if point is None or point.vault_name != vault_name:
        raise ResourceNotFoundException(f"Recovery point {arn} does not exist in {vault_name}")
    del state_of(backend).recovery_points[arn]
    dynamodb = dynamodb_backends[backend.account_id][backend.region_name]
    if arn in dynamodb.backups:
        dynamodb.delete_backup(arn)


__all__ = ["backup_backends"]
