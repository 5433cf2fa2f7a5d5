"""The run's resource names, derived once in 00_setup from the prefix and a random suffix, and the
rules each AWS service sets for them.

Every name a run gives a resource is built here and nowhere else, so that the prefix can be checked
against every service's rules before any call (``prefix_problem``, used by the parameter schema), and
so that the names a run uses can be listed (``every_name``). The table name ``<prefix>-<suffix>`` is
the stem of the names that carry the prefix; the others carry only the suffix. Every name carries the
suffix, which the orphan finder looks for.

The rules (``NameRule``) are those of each service's API reference: DynamoDB's naming rules, SNS
``CreateTopic``, CloudWatch ``PutDashboard`` and ``PutMetricAlarm``, the IAM name requirements, KMS
``CreateAlias``, Lambda ``CreateFunction`` (64 characters for a bare name), CloudWatch Logs
``CreateLogGroup``, AWS Backup ``CreateBackupVault``, ``BackupPlan`` and ``BackupSelection``, and
Application Auto Scaling ``PutScalingPolicy``.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import permutations

from pydantic import BaseModel

# Every resource the runbook tags carries this key with the run id as value; cleanup and the
# orphan finder look for it.
RUN_TAG_KEY = "globaltables:run-id"

SUFFIX_LENGTH = 6
# How the runbook's IAM role names start (the suffix follows): the orphan finder recognises its roles by them.
APP_ROLE_PREFIX = "DynamoDBGlobalTableRole-"
BACKUP_ROLE_PREFIX = "GlobalTableBackupRole-"
LOAD_ROLE_PREFIX = "GlobalTableLoadRole-"  # 07's load functions, one per region
FIS_ROLE_PREFIX = "GlobalTableFisRole-"  # 09's FIS experiments on AWS
# The table's one global secondary index (tables.py builds the table with it; its scaling policy is named after it).
GSI_NAME = "GSI1"
# Metrics the runbook alarms on, per region (ReplicationLatency also per receiving region).
THROTTLE_METRICS = ("ReadThrottleEvents", "WriteThrottleEvents")
LATENCY_METRIC = "ReplicationLatency"

_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class NameRule:
    """What one service accepts as a name: a length range, the characters allowed (a regex character
    class and the same in words), and an optional required start and forbidden start."""

    kind: str
    min_length: int
    max_length: int
    characters: str
    in_words: str
    starts_with: str = ""
    must_not_start_with: str = ""

    def problem(self, name: str) -> str | None:
        """Why ``name`` breaks this rule (one phrase), or None when it is valid."""
        if not self.min_length <= len(name) <= self.max_length:
            return f"has {len(name)} characters; {self.kind}s have {self.min_length} to {self.max_length}"
        refused = self.refused_characters(name)
        if refused:
            return f"contains {_listed(refused)}; {self.kind}s allow only {self.in_words}"
        if self.starts_with and not name.startswith(self.starts_with):
            return f"does not start with {self.starts_with!r}, as {self.kind}s must"
        if self.must_not_start_with and name.startswith(self.must_not_start_with):
            return f"starts with {self.must_not_start_with!r}, which AWS reserves"
        return None

    def refused_characters(self, name: str) -> list[str]:
        allowed = re.compile(f"[{self.characters}]")
        return sorted({c for c in name if not allowed.fullmatch(c)})


def _listed(characters: list[str]) -> str:
    return ", ".join(repr(c) for c in characters)


_PRINTABLE = r"\x20-\x7e"
DYNAMODB_TABLE = NameRule("DynamoDB table name", 3, 255, r"a-zA-Z0-9_.\-", "letters, digits, _, . and -")
SNS_TOPIC = NameRule("SNS topic name", 1, 256, r"A-Za-z0-9_\-", "letters, digits, - and _")
CLOUDWATCH_DASHBOARD = NameRule("CloudWatch dashboard name", 1, 255, r"A-Za-z0-9_\-", "letters, digits, - and _")
CLOUDWATCH_ALARM = NameRule("CloudWatch alarm name", 1, 255, _PRINTABLE, "printable characters")
IAM_ROLE = NameRule("IAM role name", 1, 64, r"a-zA-Z0-9+=,.@_\-", "letters, digits and + = , . @ _ -")
IAM_POLICY = NameRule("IAM policy name", 1, 128, r"a-zA-Z0-9+=,.@_\-", "letters, digits and + = , . @ _ -")
KMS_ALIAS = NameRule(
    "KMS alias name",
    1,
    256,
    r"a-zA-Z0-9/_\-",
    "letters, digits, /, _ and -",
    starts_with="alias/",
    must_not_start_with="alias/aws/",
)
LAMBDA_FUNCTION = NameRule("Lambda function name", 1, 64, r"a-zA-Z0-9_\-", "letters, digits, - and _")
LOG_GROUP = NameRule("CloudWatch Logs log group name", 1, 512, r"a-zA-Z0-9_./#\-", "letters, digits and _ - / . #")
BACKUP_VAULT = NameRule("AWS Backup vault name", 2, 50, r"a-zA-Z0-9_\-", "letters, digits, - and _")
# The API takes 1-200 characters, the console 1-50: 50 keeps the plan editable in the console.
BACKUP_PLAN = NameRule("AWS Backup plan name", 1, 50, r"a-zA-Z0-9_.\-", "letters, digits, -, _ and .")
BACKUP_SELECTION = NameRule("AWS Backup selection name", 1, 50, r"a-zA-Z0-9_.\-", "letters, digits, -, _ and .")
SCALING_POLICY = NameRule("Application Auto Scaling policy name", 1, 256, _PRINTABLE, "printable characters")


def random_suffix(length: int = SUFFIX_LENGTH) -> str:
    """Lower-case letters and digits, at least one of each (as the recipe's generated suffix)."""
    while True:
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in suffix) and any(c.isalpha() for c in suffix):
            return suffix


def new_run_id(now: datetime | None = None, suffix: str | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{suffix or random_suffix(4)}"


# The derivations, as functions of the table name (or the suffix), so that a caller holding only a
# table name (a test, the orphan finder) derives the same names as a run does.
def restored_table_name(table_name: str) -> str:
    return f"{table_name}-restored"


def topic_name(table_name: str) -> str:
    return f"{table_name}-alarms"


def alarm_name(table_name: str, metric: str, region: str, receiving: str | None = None) -> str:
    """``<table>-<metric>-<region>``, and ``-to-<receiving>`` for a metric per receiving region."""
    return f"{table_name}-{metric}-{region}" + (f"-to-{receiving}" if receiving else "")


def dashboard_name(table_name: str, region: str) -> str:
    return f"{table_name}-{region}"


def scaling_policy_name(table_name: str, resource_id: str) -> str:
    """``<table>-write-table`` for the table, ``<table>-write-<index>`` for an index (resource ids
    ``table/<table>`` and ``table/<table>/index/<index>``); the table name appears once, not twice."""
    _, _, index = resource_id.partition("/index/")
    return f"{table_name}-write-{index or 'table'}"


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


class ResourceNames(BaseModel):
    """The names fixed in 00_setup and kept in the manifest; the rest are derived from them."""

    suffix: str
    table_name: str
    iam_role_name: str
    iam_policy_name: str
    kms_alias_prefix: str
    function_name: str
    backup_vault_name: str
    backup_plan_name: str

    def kms_alias(self, region: str) -> str:
        return f"{self.kms_alias_prefix}-{region}"

    @property
    def restored_table_name(self) -> str:
        return restored_table_name(self.table_name)

    @property
    def topic_name(self) -> str:
        return topic_name(self.table_name)

    def alarm_name(self, metric: str, region: str, receiving: str | None = None) -> str:
        return alarm_name(self.table_name, metric, region, receiving)

    def dashboard_name(self, region: str) -> str:
        return dashboard_name(self.table_name, region)

    def scaling_policy_name(self, resource_id: str) -> str:
        return scaling_policy_name(self.table_name, resource_id)

    @property
    def log_group_name(self) -> str:
        return log_group_name(self.function_name)

    @property
    def backup_role_name(self) -> str:
        return f"{BACKUP_ROLE_PREFIX}{self.suffix}"

    @property
    def backup_selection_name(self) -> str:
        return f"table-{self.suffix}"


def derive_names(table_name_prefix: str, suffix: str | None = None) -> ResourceNames:
    suffix = suffix or random_suffix()
    table_name = f"{table_name_prefix}-{suffix}"
    # The schema checks the prefix against every rule (prefix_problem); keep the invariant loud.
    assert DYNAMODB_TABLE.problem(table_name) is None, table_name
    role = f"{APP_ROLE_PREFIX}{suffix}"
    return ResourceNames(
        suffix=suffix,
        table_name=table_name,
        iam_role_name=role,
        iam_policy_name=f"{role}-Policy",
        kms_alias_prefix=f"alias/dynamodb-global-{suffix}",
        function_name=f"global-table-test-{suffix}",
        backup_vault_name=f"DynamoDB-Global-Backup-{suffix}",
        backup_plan_name=f"DynamoDB-Global-Backup-Plan-{suffix}",
    )


def every_name(names: ResourceNames, regions: Iterable[str]) -> list[tuple[NameRule, str]]:
    """Every name a run with ``names`` in ``regions`` gives a resource, with the rule it must follow
    (per-region names for each region; latency alarms for each ordered pair of regions)."""
    regions = list(regions)
    table = names.table_name
    found: list[tuple[NameRule, str]] = [
        (DYNAMODB_TABLE, table),
        (DYNAMODB_TABLE, names.restored_table_name),
        (SNS_TOPIC, names.topic_name),
        (SCALING_POLICY, names.scaling_policy_name(f"table/{table}")),
        (SCALING_POLICY, names.scaling_policy_name(f"table/{table}/index/{GSI_NAME}")),
        (IAM_ROLE, names.iam_role_name),
        (IAM_POLICY, names.iam_policy_name),
        (IAM_ROLE, names.backup_role_name),
        (LAMBDA_FUNCTION, names.function_name),
        (LOG_GROUP, names.log_group_name),
        (BACKUP_VAULT, names.backup_vault_name),
        (BACKUP_PLAN, names.backup_plan_name),
        (BACKUP_SELECTION, names.backup_selection_name),
    ]
    for region in regions:
        found.append((KMS_ALIAS, names.kms_alias(region)))
        found.append((CLOUDWATCH_DASHBOARD, names.dashboard_name(region)))
        found += [(CLOUDWATCH_ALARM, names.alarm_name(metric, region)) for metric in THROTTLE_METRICS]
    found += [
        (CLOUDWATCH_ALARM, names.alarm_name(LATENCY_METRIC, sending, receiving))
        for sending, receiving in permutations(regions, 2)
    ]
    return found


# The suffix shown in messages about a prefix: the real one is drawn later, with the same length.
PLACEHOLDER_SUFFIX = "x" * SUFFIX_LENGTH


def worst_case_regions(regions: Iterable[str]) -> list[str]:
    """The two longest region names: every per-region name is longest with them, whatever regions a
    run picks (a name spans at most two regions)."""
    return sorted(regions, key=lambda r: (-len(r), r))[:2]


def prefix_max_length(regions: Iterable[str]) -> int:
    """The longest prefix every derived name has room for, in the worst case of ``regions``."""
    regions = worst_case_regions(regions)
    short = every_name(derive_names("p", PLACEHOLDER_SUFFIX), regions)
    longer = every_name(derive_names("pp", PLACEHOLDER_SUFFIX), regions)
    # A name carries the prefix when it grows with it; its room is what is left beside the rest of it.
    return min(
        rule.max_length - (len(name) - 1)
        for (rule, name), (_, grown) in zip(short, longer, strict=True)
        if len(grown) > len(name)
    )


def prefix_problem(prefix: str, regions: Iterable[str]) -> str | None:
    """Why ``prefix`` cannot name every resource of a run in any of ``regions`` (the name it makes, the
    rule it breaks and the fix, in one line), or None when it can."""
    regions = worst_case_regions(regions)
    if not prefix:
        return f"the prefix is empty; give 1 to {prefix_max_length(regions)} letters, digits, - or _"
    table_name = f"{prefix}-{PLACEHOLDER_SUFFIX}"
    names = ResourceNames(**{**derive_names("p", PLACEHOLDER_SUFFIX).model_dump(), "table_name": table_name})
    broken = [(rule, name, rule.problem(name)) for rule, name in every_name(names, regions)]
    broken = [(rule, name, problem) for rule, name, problem in broken if problem]
    if not broken:
        return None
    rule, name, problem = broken[0]
    others = sorted({r.kind for r, _, _ in broken} - {rule.kind})
    also = f" (the {', the '.join(others)} too)" if others else ""
    refused = rule.refused_characters(prefix)
    if refused == ["."]:
        fix = "use - or _ instead of ."
    elif refused:
        fix = f"remove {_listed(refused)}: use only letters, digits, - and _"
    else:
        fix = f"use at most {prefix_max_length(regions)} characters"
    shown = name if len(name) <= 80 else f"{name[:40]}…{name[-30:]}"
    return (
        f"makes the {rule.kind} {shown!r}, which {problem}{also}; {fix} "
        f"({PLACEHOLDER_SUFFIX} stands for the run's random suffix)"
    )
