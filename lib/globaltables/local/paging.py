"""List calls answered in small pages, so that a caller reading only the first page fails here as it
would on AWS with many resources.

AWS pages every list call the runbook makes (each API's own token names are in botocore's
``paginators-1.json``, the source boto3's paginators read); moto answers most of them in one page. The
page size is ``GLOBALTABLES_LIST_PAGE_SIZE`` (default 2); a caller's smaller ``Limit``/``MaxItems``/
``MaxResults`` is honoured.

| hook | why there |
|---|---|
| the response method of each operation in ``SLICED`` | moto answers these in one page (or, for ``DescribeScalableTargets``, with a wrong token): the method is called with the caller's token and limit hidden, and its answer is cut to one page with an opaque token of ours under the API's own names (``NextMarker``/``Truncated``, ``NextToken``, ``Marker``/``IsTruncated``) |
| the response method of each operation in ``LIMITED`` | moto pages these itself under AWS's names (``LastEvaluatedTableName``, ``nextToken``, ``Marker``, ``NextToken``): only the page size is lowered, by giving moto our limit when the caller asks for more or none |
| ``moto.sns.models.DEFAULT_PAGE_SIZE`` | ``ListTopics`` has no limit parameter (AWS: 100 a page); moto reads this constant at each call |

What AWS does with a list changed between two pages is not documented; here a token is an offset.
``ListEntitiesForPolicy`` is paged over its roles only (the runbook attaches policies to roles only).
The backup extension's own list handlers are paged too, so ``install`` runs after it.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import moto.sns.models as sns_models
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.awslambda.responses import LambdaResponse
from moto.backup.responses import BackupResponse
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler
from moto.iam.responses import IamResponse
from moto.kms.responses import KmsResponse
from moto.logs.responses import LogsResponse

PAGE_SIZE_ENV = "GLOBALTABLES_LIST_PAGE_SIZE"
DEFAULT_PAGE_SIZE = 2
# Given to moto where it would otherwise cut a list itself before we page it.
EVERYTHING = 1_000_000


@dataclass(frozen=True)
class Sliced:
    """An operation moto answers in one page: ``items`` is the list cut into pages."""

    owner: type
    method: str
    items: str
    token_in: str  # the request's token parameter, as it reaches moto
    token_out: str
    limit: str | None  # the request's page-size parameter, as it reaches moto
    truncated: str | None = None  # the answer's "more to come" flag, where the API has one
    bad_token: str = "InvalidParameterValueException"  # AWS's error code for a token it did not issue


@dataclass(frozen=True)
class Limited:
    """An operation moto pages itself under AWS's names: only its page size is lowered."""

    owner: type
    method: str
    limit: str


SLICED = [
    Sliced(KmsResponse, "list_keys", "Keys", "Marker", "NextMarker", "Limit", "Truncated", "InvalidMarkerException"),
    Sliced(KmsResponse, "list_aliases", "Aliases", "Marker", "NextMarker", "Limit", "Truncated", "InvalidMarkerException"),
    Sliced(LambdaResponse, "list_functions", "Functions", "Marker", "NextMarker", "MaxItems"),
    Sliced(CloudWatchResponse, "describe_alarms", "MetricAlarms", "NextToken", "NextToken", "MaxRecords", None, "InvalidNextToken"),
    Sliced(CloudWatchResponse, "list_dashboards", "DashboardEntries", "NextToken", "NextToken", None, None, "InvalidParameterValue"),
    Sliced(BackupResponse, "list_backup_vaults", "BackupVaultList", "nextToken", "NextToken", "maxResults"),
    Sliced(BackupResponse, "list_backup_plans", "BackupPlansList", "nextToken", "NextToken", "maxResults"),
    Sliced(BackupResponse, "list_backup_selections", "BackupSelectionsList", "nextToken", "NextToken", "maxResults"),
    Sliced(BackupResponse, "list_recovery_points_by_backup_vault", "RecoveryPoints", "nextToken", "NextToken", "maxResults"),
    Sliced(ApplicationAutoScalingResponse, "describe_scalable_targets", "ScalableTargets", "NextToken", "NextToken", "MaxResults", None, "InvalidNextTokenException"),
    Sliced(IamResponse, "list_role_policies", "PolicyNames", "Marker", "Marker", "MaxItems", "IsTruncated", "InvalidInput"),
    Sliced(IamResponse, "list_policy_versions", "Versions", "Marker", "Marker", "MaxItems", "IsTruncated", "InvalidInput"),
    Sliced(IamResponse, "list_entities_for_policy", "PolicyRoles", "Marker", "Marker", "MaxItems", "IsTruncated", "InvalidInput"),
]  # fmt: skip

LIMITED = [
    Limited(DynamoHandler, "list_tables", "Limit"),
    Limited(LogsResponse, "describe_log_groups", "limit"),
    Limited(ApplicationAutoScalingResponse, "describe_scaling_policies", "MaxResults"),
    Limited(IamResponse, "list_roles", "MaxItems"),
    Limited(IamResponse, "list_policies", "MaxItems"),
    Limited(IamResponse, "list_attached_role_policies", "MaxItems"),
]

# Added to BackupResponse by the backup extension (``local/backup/responses.py``), not by moto.
EXTENSION_METHODS = {
    (BackupResponse, "list_backup_selections"),
    (BackupResponse, "list_recovery_points_by_backup_vault"),
}


class UnissuedToken(ServiceException):
    """A page token this server did not issue, answered with the API's own error code (a class of this
    module, not moto's, so that moto serializes it with the service of the request)."""


def page_size() -> int:
    value = int(os.environ.get(PAGE_SIZE_ENV, DEFAULT_PAGE_SIZE))
    if value < 1:
        raise ValueError(f"{PAGE_SIZE_ENV} must be at least 1, not {value}")
    return value


def _set_param(response: Any, name: str, value: Any) -> None:
    """Make moto's ``_get_param(name)`` answer ``value`` (None: as if the caller had not sent it), wherever
    this service's moto reads its parameters from: parsed ``params``, a JSON body, or the query string."""
    if isinstance(getattr(response, "params", None), dict):
        _put(response.params, name, value)
    if isinstance(response.body, dict):
        _put(response.body, name, value)
    elif isinstance(response.body, str) and response.body.lstrip().startswith("{"):
        body = json.loads(response.body)
        _put(body, name, value)
        response.body = json.dumps(body)
    else:  # query protocol (form) or REST query string
        _put(response.querystring, name, None if value is None else [str(value)])
    if value is None and isinstance(response.querystring, dict):
        response.querystring.pop(name, None)


def _put(fields: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        fields.pop(name, None)
    else:
        fields[name] = value


def _requested_limit(response: Any, name: str | None) -> int | None:
    value = response._get_param(name) if name else None
    return int(value) if value not in (None, "") else None


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode(token: str, spec: Sliced) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise UnissuedToken(spec.bad_token, f"Invalid pagination token: {token}")


def _answer_dict(answer: Any) -> tuple[dict[str, Any], Callable[[dict[str, Any]], Any]]:
    """The answer's fields, and how to give the changed fields back in the answer's own form."""
    if isinstance(answer, ActionResult):
        return answer.result, lambda fields: ActionResult(fields)  # type: ignore[return-value]
    if isinstance(answer, str):
        return json.loads(answer), json.dumps
    if isinstance(answer, tuple) and len(answer) == 3:
        status, headers, body = answer
        return json.loads(body), lambda fields: (status, headers, json.dumps(fields))
    raise TypeError(f"cannot page an answer of type {type(answer).__name__}")


def _sliced(spec: Sliced, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def handler(self: Any) -> Any:
        token = self._get_param(spec.token_in)
        offset = _decode(token, spec) if token else 0
        size = min(page_size(), _requested_limit(self, spec.limit) or EVERYTHING)
        _set_param(self, spec.token_in, None)
        if spec.limit:
            _set_param(self, spec.limit, EVERYTHING if spec.owner is ApplicationAutoScalingResponse else None)
        fields, rebuild = _answer_dict(original(self))
        everything = list(fields.get(spec.items) or [])
        fields[spec.items] = everything[offset : offset + size]
        more = offset + size < len(everything)
        fields.pop(spec.token_out, None)
        if more:
            fields[spec.token_out] = _encode(offset + size)
        if spec.truncated:
            fields[spec.truncated] = more
        return rebuild(fields)

    return handler


def _limited(spec: Limited, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def handler(self: Any) -> Any:
        asked = _requested_limit(self, spec.limit)
        if asked is None or asked > page_size():
            _set_param(self, spec.limit, page_size())
        return original(self)

    return handler


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(owner, name)
    if getattr(original, "__globaltables_paging__", False):
        return
    wrapper = functools.wraps(original)(make(original))
    wrapper.__globaltables_paging__ = True  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def missing_hooks() -> list[str]:
    """The moto methods and constant this module pages (the backup extension's own are checked once it is
    installed: ``install`` fails if they are absent)."""
    hooked = [(s.owner, s.method) for s in SLICED if (s.owner, s.method) not in EXTENSION_METHODS]
    hooked += [(s.owner, s.method) for s in LIMITED]
    missing = [f"{owner.__name__}.{name}" for owner, name in hooked if not callable(getattr(owner, name, None))]
    if not isinstance(getattr(sns_models, "DEFAULT_PAGE_SIZE", None), int):
        missing.append("moto.sns.models.DEFAULT_PAGE_SIZE")
    return missing


def install() -> None:
    """Page every list call above (idempotent). Call after the backup extension is installed."""
    absent = [f"{o.__name__}.{n}" for o, n in EXTENSION_METHODS if not callable(getattr(o, n, None))]
    if absent:
        raise RuntimeError(f"install the backup extension before paging: {', '.join(absent)} missing")
    for spec in SLICED:
        _wrap(spec.owner, spec.method, functools.partial(_sliced, spec))
    for limited in LIMITED:
        _wrap(limited.owner, limited.method, functools.partial(_limited, limited))
    sns_models.DEFAULT_PAGE_SIZE = page_size()
