"""One vocabulary of resource kinds: cleanup's order is the enum's, and manifests keep their strings."""

import json

from globaltables.kinds import DELETION_ORDER, ResourceKind, deletion_rank
from globaltables.params import RECORDED
from globaltables.state import Manifest, Resource


def test_every_kind_is_in_the_deletion_order_exactly_once():
    assert sorted(DELETION_ORDER) == sorted(ResourceKind)
    assert len(set(DELETION_ORDER)) == len(DELETION_ORDER) == len(ResourceKind)


def test_what_uses_something_is_removed_before_it():
    before = [
        (ResourceKind.FIS_EXPERIMENT, ResourceKind.FIS_TEMPLATE),
        (ResourceKind.ALARM, ResourceKind.TOPIC),
        (ResourceKind.FUNCTION, ResourceKind.LOG_GROUP),
        (ResourceKind.RECOVERY_POINT, ResourceKind.BACKUP_VAULT),
        (ResourceKind.BACKUP_SELECTION, ResourceKind.BACKUP_PLAN),
        (ResourceKind.SCALING_POLICY, ResourceKind.SCALABLE_TARGET),
        (ResourceKind.REPLICA, ResourceKind.TABLE),
        (ResourceKind.WITNESS, ResourceKind.TABLE),
        (ResourceKind.RESTORED_TABLE, ResourceKind.KMS_KEY),
        (ResourceKind.TABLE, ResourceKind.KMS_KEY),
        (ResourceKind.FUNCTION, ResourceKind.ROLE),
        (ResourceKind.ROLE, ResourceKind.POLICY),
        (ResourceKind.KMS_ALIAS, ResourceKind.KMS_KEY),
    ]
    assert [(a, b) for a, b in before if deletion_rank(a) >= deletion_rank(b)] == []


def test_a_kind_is_its_string_and_an_unknown_kind_comes_last():
    assert ResourceKind.TABLE == "dynamodb:table" and f"{ResourceKind.ROLE}" == "iam:role"
    assert ResourceKind.SCALABLE_TARGET.service == "application-autoscaling"
    assert deletion_rank("dynamodb:table") == deletion_rank(ResourceKind.TABLE)
    assert deletion_rank("someservice:thing") == len(DELETION_ORDER)


OLD_MANIFEST = {
    "run_id": "20250101-000000-abcd",
    "params": {"target": "local", "regions": ["us-east-1", "eu-west-1"]},
    "names": {
        "suffix": "k3x9q2",
        "table_name": "global-app-data-k3x9q2",
        "iam_role_name": "DynamoDBGlobalTableRole-k3x9q2",
        "iam_policy_name": "DynamoDBGlobalTablePolicy-k3x9q2",
        "kms_alias_prefix": "alias/dynamodb-global-k3x9q2",
        "function_name": "global-table-probe-k3x9q2",
        "backup_vault_name": "global-app-data-vault-k3x9q2",
        "backup_plan_name": "global-app-data-plan-k3x9q2",
    },
    "resources": [
        {"kind": "dynamodb:table", "name": "global-app-data-k3x9q2", "region": "us-east-1"},
        {"kind": "fis:experiment-template", "name": "drill", "region": "eu-west-1", "details": {"template_id": "EXT1"}},
        {"kind": "iam:role", "name": "DynamoDBGlobalTableRole-k3x9q2", "region": "global"},
    ],
}


def test_a_manifest_written_with_the_old_strings_loads_and_writes_them_back():
    manifest = Manifest.model_validate_json(json.dumps(OLD_MANIFEST), context={RECORDED: True})
    kinds = [r.kind for r in manifest.resources]
    assert kinds == [ResourceKind.TABLE, ResourceKind.FIS_TEMPLATE, ResourceKind.ROLE]
    assert all(isinstance(kind, ResourceKind) for kind in kinds)
    written = json.loads(manifest.model_dump_json())
    assert [r["kind"] for r in written["resources"]] == ["dynamodb:table", "fis:experiment-template", "iam:role"]


def test_a_kind_this_version_does_not_know_still_loads():
    assert Resource(kind="someservice:thing", name="x", region="us-east-1").kind == "someservice:thing"
