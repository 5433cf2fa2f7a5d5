"""The kinds of resource a run records in its manifest (``service:type``), in the order cleanup removes them.

One vocabulary for the manifest, the steps that record resources, cleanup and the orphan finder. The
members are declared in dependency order (what uses something comes before it: an alarm before its
topic, a replica before its table, a table before its key), and that declaration IS cleanup's order:
there is no second list to keep in step.

``ResourceKind`` is a ``str`` enum, so a kind is equal to its string (``ResourceKind.TABLE ==
"dynamodb:table"``), prints and serializes as it, and a manifest written before the enum existed
loads unchanged.
"""

from __future__ import annotations

from enum import StrEnum

# What region an IAM resource (a global service) is recorded in.
GLOBAL_REGION = "global"


class ResourceKind(StrEnum):
    FIS_EXPERIMENT = "fis:experiment"  # 09's drill on AWS: stopped if still running (never deletable)
    FIS_TEMPLATE = "fis:experiment-template"
    ALARM = "cloudwatch:alarm"
    DASHBOARD = "cloudwatch:dashboard"
    TOPIC = "sns:topic"  # after the alarms that notify it
    FUNCTION = "lambda:function"
    LOG_GROUP = "logs:log-group"  # after its function, which would write it again
    BACKUP_SELECTION = "backup:selection"
    RECOVERY_POINT = "backup:recovery-point"
    BACKUP_PLAN = "backup:plan"  # after its selections
    BACKUP_VAULT = "backup:vault"  # after its recovery points
    RESTORED_TABLE = "dynamodb:restored-table"
    SCALING_POLICY = "application-autoscaling:scaling-policy"
    SCALABLE_TARGET = "application-autoscaling:scalable-target"  # after its policies
    REPLICA = "dynamodb:replica"
    # A strong table's witness: no table of ours in its region (DynamoDB owns it), listed by DescribeTable.
    WITNESS = "dynamodb:witness"
    TABLE = "dynamodb:table"  # after its replicas and witness
    ROLE = "iam:role"  # after the function, the vault and the drill that assume it
    POLICY = "iam:policy"
    KMS_ALIAS = "kms:alias"
    KMS_KEY = "kms:key"  # last: every table, replica and restored table using it goes first

    @property
    def service(self) -> str:
        """The AWS service, as its client is named (``dynamodb``, ``application-autoscaling``)."""
        return self.value.split(":", 1)[0]


DELETION_ORDER: tuple[ResourceKind, ...] = tuple(ResourceKind)
_RANK: dict[str, int] = {kind: rank for rank, kind in enumerate(DELETION_ORDER)}


def deletion_rank(kind: str) -> int:
    """Where ``kind`` comes in cleanup's order; a kind this version does not know comes last."""
    return _RANK.get(kind, len(DELETION_ORDER))
