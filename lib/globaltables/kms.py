"""Customer-managed KMS keys, one per region, each with rotation on and an alias."""

from __future__ import annotations

from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.errors import KeyConflict
from globaltables.kinds import ResourceKind
from globaltables.names import RUN_TAG_KEY
from globaltables.state import RunState


class RegionKey(BaseModel):
    region: str
    key_id: str
    arn: str
    alias: str
    rotation: bool


def ensure_region_key(clients: AwsClients, run: RunState, region: str, notebook: str = "01_iam_kms") -> RegionKey:
    """Create (or adopt the run's own) key in ``region``; enable rotation; point the run's alias at it.

    The key id comes from CreateKey's answer and is recorded at once, before anything else can fail:
    never from a listing, which could pick another key (recipe defect 6, docs/recipe-defects.md).
    """
    kms = clients.client("kms", region)
    alias = run.names.kms_alias(region)
    recorded = run.resources(ResourceKind.KMS_KEY, region)
    if recorded:
        metadata = kms.describe_key(KeyId=recorded[0].name)["KeyMetadata"]
    else:
        metadata = kms.create_key(
            Description=f"DynamoDB global table {run.names.table_name} in {region} (run {run.run_id})",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=[{"TagKey": RUN_TAG_KEY, "TagValue": run.run_id}],
        )["KeyMetadata"]
        run.record(ResourceKind.KMS_KEY, metadata["KeyId"], region, arn=metadata["Arn"], notebook=notebook)
    key_id = metadata["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    existing = {a["AliasName"]: a.get("TargetKeyId") for a in _aliases(kms)}
    if alias not in existing:
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    elif existing[alias] != key_id:
        raise KeyConflict(alias, region, existing[alias], key_id)
    run.record(ResourceKind.KMS_ALIAS, alias, region, notebook=notebook, target_key_id=key_id)
    rotation = kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    return RegionKey(region=region, key_id=key_id, arn=metadata["Arn"], alias=alias, rotation=rotation)


def _aliases(kms) -> list[dict]:
    return [alias for page in kms.get_paginator("list_aliases").paginate() for alias in page["Aliases"]]


def run_keys(run: RunState) -> dict[str, str]:
    """Region to key ARN, from the manifest."""
    return {r.region: r.arn for r in run.resources(ResourceKind.KMS_KEY) if r.arn}
