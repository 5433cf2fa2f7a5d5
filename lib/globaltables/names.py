"""The run's resource names, derived once in 00_setup from the prefix and a random suffix."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

from pydantic import BaseModel

from globaltables.params import SUFFIX_LENGTH, TABLE_NAME_PATTERN

# Every resource the runbook tags carries this key with the run id as value; cleanup and the
# orphan finder look for it.
RUN_TAG_KEY = "globaltables:run-id"

_ALPHABET = string.ascii_lowercase + string.digits


def random_suffix(length: int = SUFFIX_LENGTH) -> str:
    """Lower-case letters and digits, at least one of each (as the recipe's generated suffix)."""
    while True:
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in suffix) and any(c.isalpha() for c in suffix):
            return suffix


def new_run_id(now: datetime | None = None, suffix: str | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{suffix or random_suffix(4)}"


class ResourceNames(BaseModel):
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


def derive_names(table_name_prefix: str, suffix: str | None = None) -> ResourceNames:
    suffix = suffix or random_suffix()
    table_name = f"{table_name_prefix}-{suffix}"
    # The schema limits the prefix so this holds; keep the invariant loud if either changes.
    assert TABLE_NAME_PATTERN.match(table_name), table_name
    role = f"DynamoDBGlobalTableRole-{suffix}"
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
