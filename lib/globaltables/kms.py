"""Customer-managed KMS keys, one per region, each with rotation on and an alias."""

from __future__ import annotations

from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.names import RUN_TAG_KEY
from globaltables.state import RunState

KIND_KEY = "kms:key"
KIND_ALIAS = "kms:alias"


class RegionKey(BaseModel):
    region: str
    key_id: str
    arn: str
    alias: str
    rotation: bool


class KeyConflict(RuntimeError):
    """The alias already names another key: someone else's resource, never to be reused or deleted."""


def ensure_region_key(clients: AwsClients, run: RunState, region: str, notebook: str = "01_iam_kms") -> RegionKey:
    """Create (or adopt the run's own) key in ``region``; enable rotation; point the run's alias at it.

    The key id comes from CreateKey's answer and is recorded at once, before anything else can fail:
    never from a listing, which could pick another key (recipe defect 6).
    """
    kms = clients.client("kms", region)
    alias = run.names.kms_alias(region)
    recorded = run.resources(KIND_KEY, region)
    if recorded:
        metadata = kms.describe_key(KeyId=recorded[0].name)["KeyMetadata"]
    else:
        metadata = kms.create_key(
            Description=f"DynamoDB global table {run.names.table_name} in {region} (run {run.run_id})",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=[{"TagKey": RUN_TAG_KEY, "TagValue": run.run_id}],
        )["KeyMetadata"]
        run.record(KIND_KEY, metadata["KeyId"], region, arn=metadata["Arn"], notebook=notebook)
    key_id = metadata["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    existing = {a["AliasName"]: a.get("TargetKeyId") for a in _aliases(kms)}
    if alias not in existing:
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    elif existing[alias] != key_id:
        raise KeyConflict(f"alias {alias} in {region} already names key {existing[alias]}, not this run's {key_id}")
    run.record(KIND_ALIAS, alias, region, notebook=notebook, target_key_id=key_id)
    rotation = kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    return RegionKey(region=region, key_id=key_id, arn=metadata["Arn"], alias=alias, rotation=rotation)


def _aliases(kms) -> list[dict]:
    return [alias for page in kms.get_paginator("list_aliases").paginate() for alias in page["Aliases"]]


def run_keys(run: RunState) -> dict[str, str]:
    """Region to key ARN, from the manifest."""
    return {r.region: r.arn for r in run.resources(KIND_KEY) if r.arn}
