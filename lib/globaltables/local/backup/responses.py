"""The HTTP surface of the backup extension: methods added to moto's BackupResponse, routed by moto
from the botocore model (method and URI), plus the URL patterns moto lacks for jobs and recovery points."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.backup import urls as backup_urls
from moto.backup.models import BackupBackend
from moto.backup.responses import BackupResponse
from moto.core.responses import EmptyResult

from globaltables.local import pinning
from globaltables.local.backup import models

EXTRA_URL_PATHS = {
    "{0}/backup-jobs/?$": BackupResponse.dispatch,
    "{0}/backup-jobs/(?P<job>[^/]+)$": BackupResponse.dispatch,
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/$": BackupResponse.dispatch,
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<arn>.+)$": BackupResponse.dispatch,
}


def _segments(response: BackupResponse) -> list[str]:
    return [unquote(s) for s in response.path.strip("/").split("/")]


def create_backup_selection(self: BackupResponse) -> str:
    body = json.loads(self.body or "{}")
    plan_id = _segments(self)[2]
    selection = models.create_selection(
        self.backup_backend, plan_id, body.get("BackupSelection") or {}, body.get("CreatorRequestId")
    )
    return json.dumps(
        {"SelectionId": selection.selection_id, "BackupPlanId": plan_id, "CreationDate": selection.creation_date}
    )


def get_backup_selection(self: BackupResponse) -> str:
    segments = _segments(self)
    selection = models.get_selection(self.backup_backend, segments[2], segments[4])
    return json.dumps(
        {
            "BackupSelection": selection.selection,
            "SelectionId": selection.selection_id,
            "BackupPlanId": selection.plan_id,
            "CreationDate": selection.creation_date,
            "CreatorRequestId": selection.creator_request_id,
        }
    )


def list_backup_selections(self: BackupResponse) -> str:
    selections = models.list_selections(self.backup_backend, _segments(self)[2])
    return json.dumps(
        {
            "BackupSelectionsList": [
                {
                    "SelectionId": s.selection_id,
                    "SelectionName": s.selection["SelectionName"],
                    "BackupPlanId": s.plan_id,
                    "CreationDate": s.creation_date,
                    "IamRoleArn": s.selection["IamRoleArn"],
                    "CreatorRequestId": s.creator_request_id,
                }
                for s in selections
            ]
        }
    )


def delete_backup_selection(self: BackupResponse) -> EmptyResult:
    segments = _segments(self)
    models.delete_selection(self.backup_backend, segments[2], segments[4])
    return EmptyResult()


def start_backup_job(self: BackupResponse) -> str:
    body = json.loads(self.body or "{}")
    job = models.start_backup_job(
        self.backup_backend, body.get("BackupVaultName", ""), body.get("ResourceArn", ""), body.get("IamRoleArn", "")
    )
    return json.dumps(
        {
            "BackupJobId": job["BackupJobId"],
            "RecoveryPointArn": job["RecoveryPointArn"],
            "CreationDate": job["CreationDate"],
            "IsParent": False,
        }
    )


def describe_backup_job(self: BackupResponse) -> str:
    return json.dumps(models.describe_job(self.backup_backend, _segments(self)[1]))


def list_recovery_points_by_backup_vault(self: BackupResponse) -> str:
    points = models.recovery_points(self.backup_backend, _segments(self)[1])
    return json.dumps({"RecoveryPoints": [p.describe() for p in points]})


def describe_recovery_point(self: BackupResponse) -> str:
    segments = _segments(self)
    vault, arn = segments[1], "/".join(segments[3:])
    point = next((p for p in models.recovery_points(self.backup_backend, vault) if p.arn == arn), None)
    if point is None:
        from moto.backup.exceptions import ResourceNotFoundException

        raise ResourceNotFoundException(f"Recovery point {arn} does not exist in {vault}")
    return json.dumps(point.describe())


def delete_recovery_point(self: BackupResponse) -> EmptyResult:
    segments = _segments(self)
    models.delete_recovery_point(self.backup_backend, segments[1], "/".join(segments[3:]))
    return EmptyResult()


HANDLERS = {
    "create_backup_selection": create_backup_selection,
    "get_backup_selection": get_backup_selection,
    "list_backup_selections": list_backup_selections,
    "delete_backup_selection": delete_backup_selection,
    "start_backup_job": start_backup_job,
    "describe_backup_job": describe_backup_job,
    "list_recovery_points_by_backup_vault": list_recovery_points_by_backup_vault,
    "describe_recovery_point": describe_recovery_point,
    "delete_recovery_point": delete_recovery_point,
}


def install() -> None:
    """Add the handlers and URL patterns, and AWS's checks on vault and plan deletion and vault keys."""
    if getattr(BackupResponse, "__globaltables_backup__", False):
        return
    for name, handler in HANDLERS.items():
        setattr(BackupResponse, name, handler)
    backup_urls.url_paths.update(EXTRA_URL_PATHS)

    original_delete_vault = BackupBackend.delete_backup_vault
    original_delete_plan = BackupBackend.delete_backup_plan
    original_create_vault = BackupBackend.create_backup_vault

    def delete_backup_vault(self: BackupBackend, backup_vault_name: str) -> None:
        models.check_vault_deletion(self, backup_vault_name)
        original_delete_vault(self, backup_vault_name)

    def delete_backup_plan(self: BackupBackend, backup_plan_id: str) -> Any:
        if backup_plan_id in self.plans:
            models.check_plan_deletion(self, backup_plan_id)
        return original_delete_plan(self, backup_plan_id)

    def create_backup_vault(
        self: BackupBackend,
        backup_vault_name: str,
        backup_vault_tags: Any,
        encryption_key_arn: str,
        creator_request_id: str,
    ) -> Any:
        models.check_vault_key(encryption_key_arn)
        return original_create_vault(self, backup_vault_name, backup_vault_tags, encryption_key_arn, creator_request_id)

    BackupBackend.delete_backup_vault = delete_backup_vault  # type: ignore[method-assign]
    BackupBackend.delete_backup_plan = delete_backup_plan  # type: ignore[method-assign]
    BackupBackend.create_backup_vault = create_backup_vault  # type: ignore[method-assign]
    BackupResponse.__globaltables_backup__ = True  # type: ignore[attr-defined]


HOOKS = [
    (BackupBackend, "delete_backup_vault"),
    (BackupBackend, "delete_backup_plan"),
    (BackupBackend, "create_backup_vault"),
    (BackupResponse, "dispatch"),
]


def missing_hooks() -> list[str]:
    missing = pinning.absent(HOOKS)
    if not isinstance(getattr(backup_urls, "url_paths", None), dict):
        missing.append("moto.backup.urls.url_paths")
    return missing
