"""IAM enforcement for the credentials a Lambda execution gets, and for nothing else.

The executor gives each handler credentials of its function's execution role: a session assumed with
moto's STS (``credentials_for``). Requests signed with such a session are authenticated and authorized
through moto's IAM access control (``moto.iam.access_control``: the access key is looked up among STS's
assumed roles, the SigV4 signature recomputed with its secret, the role's inline and attached managed
policies collected). Every other request (the runbook's dummy credentials, a user's own
``AssumeRole``) goes on as before: moto's ``INITIAL_NO_AUTH_ACTION_COUNT`` stays infinite.

moto's statement evaluation is not used as is: it checks every action of DynamoDB and CloudWatch Logs
against the resource ``*`` (so a policy scoped to a table denies everything), ignores conditions
(treats them as met) and ``NotResource``, and matches patterns as regular expressions. Here:

- the resource is the one AWS authorizes: the table, index, stream or backup of the request in the
  request's region (``BatchWriteItem``/``BatchGetItem`` each table, ``TransactWriteItems`` and PartiQL as
  the item actions they are made of), the log group or stream; other services as moto determines it;
- ``Action``/``NotAction``, ``Resource``/``NotResource`` with ``*`` and ``?`` wildcards (actions
  case-insensitively), explicit deny first, then an allow needed in the identity policies and, when the
  role has one, in its permissions boundary;
- conditions on the keys in ``context_keys`` with the string, ARN, ``Bool`` and ``Null`` operators
  (``...IfExists`` too); a condition this module cannot evaluate makes an ``Allow`` grant nothing and a
  ``Deny`` apply: stricter than AWS, never looser;
- item and stream data of a table under a customer managed key also need ``kms:Decrypt`` on that key
  through DynamoDB (``kms:ViaService``), granted by the key policy or delegated by it to the account
  and granted by the role, as on AWS (``key_usable``).

A denial answers as AWS does: ``AccessDeniedException`` (HTTP 400) for DynamoDB and the other JSON
services (403 for REST-JSON ones such as Lambda), ``AccessDenied`` (403) for query-protocol ones, S3's
own error for S3, with AWS's message ``User: <assumed-role ARN> is not authorized to perform: <action>
on resource: <ARN> because no identity-based policy allows the <action> action`` (or ``with an
explicit deny in an identity-based policy``); a key that may not be used: DynamoDB's ``KMS key access
denied error: ...``.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import (
    AccessDeniedError,
    InvalidClientTokenIdError,
    JsonRESTError,
    SignatureDoesNotMatchError,
)
from moto.core.utils import utcnow
from moto.iam.access_control import IAMPolicy, S3IAMRequest
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from globaltables.local import pinning

HOOKS: list[tuple[type, str]] = [(ActionAuthenticatorMixin, "_authenticate_and_authorize_action")]

SESSION_S = 3600  # AssumeRole's default duration
RENEW_BEFORE_S = 900  # a fresh session when less is left (a function may run up to 900 s)
DYNAMODB_ERROR = "com.amazonaws.dynamodb.v20120810#AccessDeniedException"


@dataclass(frozen=True)
class LambdaSession:
    """An execution role's session, as the executor issued it."""

    account_id: str
    partition: str
    role_arn: str
    session_name: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


_LOCK = threading.Lock()
_SESSIONS: dict[str, LambdaSession] = {}  # access key id -> session: the requests that are checked
_BY_FUNCTION: dict[tuple[str, str, str], LambdaSession] = {}  # like a warm execution environment's


def credentials_for(account_id: str, region: str, role_arn: str, session_name: str) -> LambdaSession:
    """The role's credentials for a function (STS AssumeRole, session named after the function, as Lambda
    does); reused while the session has time left, as a warm execution environment reuses its own."""
    partition = get_partition(region)
    key = (account_id, role_arn, session_name)
    with _LOCK:
        cached = _BY_FUNCTION.get(key)
        if cached is not None and _still_valid(cached):
            return cached
        sts = sts_backends[account_id][partition]
        assumed = sts.assume_role(
            region_name=region,
            role_session_name=session_name,
            role_arn=role_arn,
            policy=None,  # type: ignore[arg-type]
            duration=SESSION_S,
            external_id=None,  # type: ignore[arg-type]
        )
        session = LambdaSession(
            account_id=assumed.account_id,
            partition=partition,
            role_arn=role_arn,
            session_name=session_name,
            access_key_id=assumed.access_key_id,
            secret_access_key=assumed.secret_access_key,
            session_token=assumed.session_token,
        )
        _SESSIONS[session.access_key_id] = session
        _BY_FUNCTION[key] = session
        return session


def _still_valid(session: LambdaSession) -> bool:
    """Its STS session still exists (a reset or a restored state drops it) with time left."""
    for assumed in sts_backends[session.account_id][session.partition].assumed_roles:
        if assumed.access_key_id == session.access_key_id:
            return assumed.expiration - utcnow() > timedelta(seconds=RENEW_BEFORE_S)
    return False


def session_of(access_key_id: str | None) -> LambdaSession | None:
    with _LOCK:
        return _SESSIONS.get(access_key_id or "")


# --------------------------------------------------------------------------- the hook


def missing_hooks() -> list[str]:
    return pinning.absent(HOOKS)


def install() -> None:
    """Check requests signed with a Lambda execution's credentials; leave every other request to moto."""
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action
    if getattr(original, "__globaltables_hook__", False):
        return

    @functools.wraps(original)
    def authenticate_and_authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        try:
            key = self.get_access_key()
        except Exception:  # a request moto cannot read a key from is none of ours
            key = None
        if session_of(key) is None:
            return original(self, iam_request_cls, resource)
        return authorize(self, iam_request_cls, resource)

    authenticate_and_authorize.__globaltables_hook__ = True  # type: ignore[attr-defined]
    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_and_authorize  # type: ignore[method-assign]


def authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
    """moto's authentication of the request, then this module's evaluation of each (action, resource)."""
    parsed_url = urlparse(response.uri)
    path = response.raw_path + (f"?{parsed_url.query}" if parsed_url.query else "")
    operation = response._get_action()
    content_type = str(response.headers.get("Content-Type", "")).lower()
    try:
        request = iam_request_cls(
            account_id=response.current_account,
            method=response.method,
            path=path,
            # moto fills ``data`` with the headers when a request has no query (a REST GET), and signs
            # ``data`` when the body is empty: that signature never matches. No body, no payload.
            data=response.data if response.raw_body or "urlencoded" in content_type else {},
            body=response.raw_body,
            headers=response.headers,
            action=operation,
        )
        request.check_signature()
    except (SignatureDoesNotMatchError, InvalidClientTokenIdError) as refused:
        signing_name = str(response.headers.get("Authorization", "")).partition("Credential=")[2].split("/")
        service = signing_name[3] if len(signing_name) > 3 else ""
        wire = _wire(service, response.headers)
        raise _answered(response, wire, _in_protocol(refused, service, wire)) from None
    service, region = request._service, request._region
    body = _json_body(response)
    principal = request._access_key.arn
    role_name = request._access_key._owner_role_name
    iam = iam_backends[request.account_id][get_partition(region)]
    identity, boundary = role_policies(iam, role_name)
    context = context_keys(request, region, iam, role_name)
    for action, target in requested(service, operation, body, region, request.account_id, resource):
        if action.lower() == "sts:getcalleridentity":
            continue  # always allowed, even with an explicit deny (as moto and AWS do)
        verdict = evaluate(identity, action, target, context)
        kind = "identity-based"
        if verdict == ALLOW and boundary is not None:
            verdict = evaluate([boundary], action, target, context)
            kind = "permissions boundary"
        if verdict == ALLOW and request._is_assuming_role_operation(target):
            request._action = action
            if not request._check_role_trust_relationship(target):
                verdict = NO_ALLOW
        if verdict != ALLOW:
            if iam_request_cls is S3IAMRequest:
                request._raise_access_denied()
            wire = _wire(service, response.headers)
            raise _answered(response, wire, access_denied(service, wire, principal, action, target, verdict, kind))
    if service == "dynamodb":
        pairs = requested(service, operation, body, region, request.account_id, resource)
        callers = [principal, context["aws:principalarn"]]
        for key in table_keys(pairs, request.account_id, region):
            if not key_usable(key, identity, boundary, callers, request.account_id, region, context):
                raise _answered(response, "json", JsonRESTError(DYNAMODB_ERROR, kms_denied_message()))


def _answered(response: Any, wire: str, error: Exception) -> Exception:
    """A JSON error goes out with its protocol's content type (moto would say text/html)."""
    if isinstance(error, JsonRESTError):
        if wire == "rest-json":
            response.response_headers["Content-Type"] = "application/json"
        else:
            response.response_headers["Content-Type"] = (
                response.headers.get("Content-Type") or "application/x-amz-json-1.0"
            )
    return error


# Signing names that are not the name of the service's botocore model.
_MODEL_NAME = {"monitoring": "cloudwatch", "email": "ses"}


def _wire(service: str, headers: Any) -> str:
    """The protocol the request speaks: its content type says, else the service's model."""
    content_type = str(headers.get("Content-Type", "")).lower()
    if "x-amz-json" in content_type:
        return "json"
    if "urlencoded" in content_type:
        return "query"
    return _protocol(service)


@functools.cache
def _protocol(service: str) -> str:
    """The service's protocol (json, rest-json, query, rest-xml, ec2) from botocore's model."""
    import botocore.session

    try:
        return botocore.session.get_session().get_service_model(_MODEL_NAME.get(service, service)).protocol
    except Exception:  # an unknown signing name: answer as moto does
        return ""


# DynamoDB's names for moto's authentication errors (DynamoDB developer guide, "Error handling").
_DYNAMODB_AUTH_ERRORS = {
    "SignatureDoesNotMatch": "com.amazon.coral.service#InvalidSignatureException",
    "InvalidClientTokenId": "com.amazon.coral.service#UnrecognizedClientException",
}


def _in_protocol(refused: Any, service: str, wire: str) -> Exception:
    """moto answers authentication errors in XML; a JSON service answers them in JSON (DynamoDB: 400)."""
    if service == "dynamodb":
        return JsonRESTError(_DYNAMODB_AUTH_ERRORS[refused.error_type], refused.message)
    if wire in ("json", "rest-json"):
        error = JsonRESTError(refused.error_type, refused.message)
        error.code = refused.code
        return error
    return refused


def _json_body(response: Any) -> dict[str, Any]:
    raw = response.raw_body
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def access_denied(
    service: str, wire: str, principal: str, action: str, resource: str, verdict: str, kind: str
) -> Exception:
    # AWS's wording (IAM User Guide, "Troubleshoot access denied error messages").
    where = "a permissions boundary" if kind == "permissions boundary" else f"an {kind} policy"
    if verdict == EXPLICIT_DENY:
        why = f"with an explicit deny in {where}"
    else:
        why = f"because no {where.split(' ', 1)[1]} allows the {action} action"
    message = f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"
    if service == "dynamodb":
        return JsonRESTError(DYNAMODB_ERROR, message)
    if wire == "json":
        return JsonRESTError("AccessDeniedException", message)  # 400, as DynamoDB's
    if wire == "rest-json":
        error = JsonRESTError("AccessDeniedException", message)
        error.code = 403  # Lambda's, AWS Backup's
        return error
    return QueryAccessDenied(message)


class QueryAccessDenied(AccessDeniedError):
    """moto's ``AccessDenied`` (403, query protocol) with AWS's whole message."""

    def __init__(self, message: str):
        super(AccessDeniedError, self).__init__("AccessDenied", message)


# --------------------------------------------------------------------------- what a request asks for

_PARTIQL_VERB = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|EXISTS)\b", re.IGNORECASE)
_PARTIQL_TABLE = re.compile(
    r"\b(?:FROM|INTO|UPDATE)\s+(\"(?:[^\"]|\"\")+\"|[A-Za-z0-9_.-]+)(?:\s*\.\s*(\"(?:[^\"]|\"\")+\"|[A-Za-z0-9_.-]+))?",
    re.IGNORECASE,
)
_TRANSACT_WRITE = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Actions AWS authorizes on "*" (no resource type in the service authorization reference).
_DYNAMODB_UNSCOPED = {
    "ListStreams",
    "DescribeLimits",
    "DescribeEndpoints",
    "ListBackups",
    "ListGlobalTables",
    "ListExports",
    "ListImports",
    "DescribeReservedCapacity",
    "DescribeReservedCapacityOfferings",
}


# Services whose signing name is not their IAM prefix.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}


def requested(
    service: str, operation: str, body: dict[str, Any], region: str, account: str, resource: str
) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorizes for this request."""
    if service == "dynamodb":
        return _dynamodb(operation, body, f"arn:{get_partition(region)}:dynamodb:{region}:{account}", account)
    if service == "logs":
        return [(f"logs:{operation}", _logs(body, f"arn:{get_partition(region)}:logs:{region}:{account}"))]
    return [(f"{_IAM_PREFIX.get(service, service)}:{operation}", resource or "*")]


def _dynamodb(operation: str, body: dict[str, Any], base: str, account: str) -> list[tuple[str, str]]:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else f"{base}:table/{name}"

    def act(name: str) -> str:
        return f"dynamodb:{name}"

    if operation == "TransactWriteItems":
        pairs = []
        for entry in body.get("TransactItems", []):
            for kind, action in _TRANSACT_WRITE.items():
                if kind in entry:
                    pairs.append((act(action), table(entry[kind]["TableName"])))
        return pairs
    if operation == "TransactGetItems":
        return [(act("GetItem"), table(e["Get"]["TableName"])) for e in body.get("TransactItems", []) if "Get" in e]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [(act(operation), table(name)) for name in body.get("RequestItems", {})]
    if operation == "ExecuteStatement":
        return [_partiql(body.get("Statement", ""), table)]
    if operation == "BatchExecuteStatement":
        return [_partiql(s.get("Statement", ""), table) for s in body.get("Statements", [])]
    if operation == "ExecuteTransaction":
        return [_partiql(s.get("Statement", ""), table) for s in body.get("TransactStatements", [])]
    if operation == "ListTables":
        return [(act(operation), f"{base}:table/*")]
    if operation in _DYNAMODB_UNSCOPED:
        return [(act(operation), "*")]
    if operation in ("Query", "Scan") and body.get("IndexName"):
        return [(act(operation), f"{table(body['TableName'])}/index/{body['IndexName']}")]
    if operation == "GetRecords" and body.get("ShardIterator"):
        return [(act(operation), str(body["ShardIterator"]).split("|")[0])]
    for arn_field in ("StreamArn", "ResourceArn", "BackupArn", "TableArn", "ExportArn", "ImportArn"):
        if body.get(arn_field):
            return [(act(operation), str(body[arn_field]))]
    if body.get("TableName"):
        return [(act(operation), table(str(body["TableName"])))]
    if body.get("GlobalTableName"):
        return [
            (act(operation), f"arn:{base.split(':')[1]}:dynamodb::{account}:global-table/{body['GlobalTableName']}")
        ]
    return [(act(operation), "*")]


def _partiql(statement: str, table: Any) -> tuple[str, str]:
    verb = _PARTIQL_VERB.match(statement)
    action = f"dynamodb:PartiQL{(verb.group(1) if verb else 'Select').capitalize()}"
    found = _PARTIQL_TABLE.search(statement)
    if not found:
        return action, "*"
    name, index = (part.strip('"').replace('""', '"') if part else None for part in found.groups())
    arn = table(name)
    return action, f"{arn}/index/{index}" if index else arn


def _logs(body: dict[str, Any], base: str) -> str:
    group = body.get("logGroupName") or body.get("logGroupIdentifier")
    if group and str(group).startswith("arn:"):
        return str(group)
    if group and body.get("logStreamName"):
        return f"{base}:log-group:{group}:log-stream:{body['logStreamName']}"
    if group:
        return f"{base}:log-group:{group}"
    return f"{base}:log-group:*"


# --------------------------------------------------------------------------- the table's KMS key

# Item and stream data are encrypted with the table's key: with a customer managed key, DynamoDB uses it
# with the caller's permissions (kms:Decrypt through DynamoDB; AWS's AWSBackupServiceRolePolicyForBackup
# grants exactly that, and aws-cdk issue 10010 shows PutItem failing without it).
_DATA_ACTIONS = {
    f"dynamodb:{name}"
    for name in (
        "GetItem PutItem UpdateItem DeleteItem ConditionCheckItem Query Scan BatchGetItem BatchWriteItem "
        "GetRecords PartiQLSelect PartiQLInsert PartiQLUpdate PartiQLDelete"
    ).split()
}
AWS_MANAGED_DYNAMODB_KEY = "alias/aws/dynamodb"


def table_keys(pairs: list[tuple[str, str]], account: str, region: str) -> list[Any]:
    """The customer managed keys of the tables a data request touches (AWS managed and owned keys need no
    permission of the caller)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.kms.models import kms_backends

    kms = kms_backends[account][region]
    try:
        managed = kms.describe_key(AWS_MANAGED_DYNAMODB_KEY).id if kms.alias_exists(AWS_MANAGED_DYNAMODB_KEY) else None
    except Exception:
        managed = None
    keys: dict[str, Any] = {}
    for action, resource in pairs:
        if action not in _DATA_ACTIONS or ":table/" not in resource:
            continue
        name = resource.split(":table/", 1)[1].split("/", 1)[0]
        try:
            spec = dynamodb_backends[account][region].get_table(name).sse_specification or {}
        except Exception:  # no such table: DynamoDB answers that itself
            continue
        if not spec.get("Enabled") or not spec.get("KMSMasterKeyId"):
            continue
        try:
            key = kms.describe_key(spec["KMSMasterKeyId"])
        except Exception:  # moto does not check that a table's key exists
            continue
        if key.id != managed:
            keys[key.id] = key
    return list(keys.values())


def key_usable(
    key: Any,
    identity: list[dict[str, Any]],
    boundary: dict[str, Any] | None,
    callers: list[str],
    account: str,
    region: str,
    context: dict[str, str],
) -> bool:
    """kms:Decrypt through DynamoDB: the key policy grants it to the caller, or delegates to the account
    (the default key policy) and the role's policies grant it; an explicit deny anywhere wins."""
    context = {**context, "kms:viaservice": f"dynamodb.{region}.amazonaws.com", "kms:calleraccount": account}
    action = "kms:Decrypt"
    root = f"arn:{get_partition(region)}:iam::{account}:root"
    direct = delegated = False
    for statement in _statements(_document(key.policy) if key.policy else {}):
        principals = _principals(statement.get("Principal"))
        names_caller = "*" in principals or any(c in principals for c in callers)
        names_account = root in principals or account in principals
        if not (names_caller or names_account) or not _applies(statement, action, key.arn, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        direct = direct or names_caller
        delegated = delegated or names_account
    verdict = evaluate(identity, action, key.arn, context)
    if verdict == EXPLICIT_DENY:
        return False
    if direct:
        return True
    if not delegated or verdict != ALLOW:
        return False
    return boundary is None or evaluate([boundary], action, key.arn, context) == ALLOW


def _principals(principal: Any) -> list[str]:
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return _values(principal.get("AWS", []))
    return []


def kms_denied_message() -> str:
    """DynamoDB's answer when the caller may not use the table's key (as quoted in aws-cdk issue 10010)."""
    return (
        "KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: The ciphertext refers "
        "to a customer master key that does not exist, does not exist in this region, or you are not allowed "
        f"to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: {uuid.uuid4()}; "
        "Proxy: null)"
    )


# --------------------------------------------------------------------------- policy evaluation

ALLOW, EXPLICIT_DENY, NO_ALLOW = "allow", "explicit-deny", "no-allow"


def role_policies(iam: Any, role_name: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The role's identity policies (inline and attached managed, default versions) and its boundary."""
    try:
        role = iam.get_role(role_name)
    except Exception:  # the role is gone: nothing allows anything
        return [], None
    documents = [_document(text) for text in role.policies.values()]
    attached, _ = iam.list_attached_role_policies(role_name, max_items=1000)
    documents += [IAMPolicy(policy)._policy_json for policy in attached]
    boundary = None
    if role.permissions_boundary_arn:
        try:
            boundary = IAMPolicy(iam.get_policy(role.permissions_boundary_arn))._policy_json
        except Exception:
            boundary = {"Statement": []}
    return documents, boundary


def _document(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    from urllib.parse import unquote

    try:
        return json.loads(text)
    except ValueError:
        return json.loads(unquote(text))


def context_keys(request: Any, region: str, iam: Any, role_name: str) -> dict[str, str]:
    """The global condition keys a Lambda execution's request carries here (names in lower case)."""
    account = request.account_id
    partition = get_partition(region)
    try:
        role = iam.get_role(role_name)
        role_arn, role_id = role.arn, role.id
    except Exception:
        role_arn, role_id = f"arn:{partition}:iam::{account}:role/{role_name}", ""
    return {
        "aws:requestedregion": region,
        "aws:principalarn": role_arn,
        "aws:principalaccount": account,
        "aws:principaltype": "AssumedRole",
        "aws:userid": f"{role_id}:{request._access_key._session_name}",
        "aws:securetransport": "false",  # the embedded AWS speaks plain HTTP on loopback
        "aws:viaawsservice": "false",
        "aws:principalisawsservice": "false",
    }


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def evaluate(documents: Iterable[dict[str, Any]], action: str, resource: str, context: dict[str, str]) -> str:
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if not _applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return EXPLICIT_DENY
            if statement.get("Effect") == "Allow":
                allowed = True
    return ALLOW if allowed else NO_ALLOW


def _values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    # fnmatch's "[...]" classes are not IAM syntax: escape them.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    if "Action" in statement:
        if not any(_glob(p, action, ignore_case=True) for p in _values(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_glob(p, action, ignore_case=True) for p in _values(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(_glob(p, resource) for p in _values(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(_glob(p, resource) for p in _values(statement["NotResource"])):
            return False
    met = _conditions_met(statement.get("Condition") or {}, context)
    if met is None:  # cannot be evaluated here: grant nothing, deny anyway
        return statement.get("Effect") == "Deny"
    return met


_STRING_OPERATORS = {
    "stringequals": lambda v, p: v == p,
    "stringnotequals": lambda v, p: v != p,
    "stringequalsignorecase": lambda v, p: v.lower() == p.lower(),
    "stringnotequalsignorecase": lambda v, p: v.lower() != p.lower(),
    "stringlike": lambda v, p: _glob(p, v),
    "stringnotlike": lambda v, p: not _glob(p, v),
    "arnequals": lambda v, p: _glob(p, v),
    "arnlike": lambda v, p: _glob(p, v),
    "arnnotequals": lambda v, p: not _glob(p, v),
    "arnnotlike": lambda v, p: not _glob(p, v),
    "bool": lambda v, p: v.lower() == p.lower(),
}
_NEGATED = {"stringnotequals", "stringnotequalsignorecase", "stringnotlike", "arnnotequals", "arnnotlike"}


def _conditions_met(conditions: dict[str, Any], context: dict[str, str]) -> bool | None:
    """True or False for the conditions this module understands, None as soon as one it does not."""
    for operator, pairs in conditions.items():
        # Every key this module knows is present, so "...IfExists" changes nothing.
        name = operator.lower().removesuffix("ifexists")
        if not isinstance(pairs, dict):
            return None
        for key, expected in pairs.items():
            key = key.lower()
            if name == "null":
                if key not in context:
                    return None
                if (str(_values(expected)[0]).lower() == "true") != (key not in context):
                    return False
                continue
            test = _STRING_OPERATORS.get(name)
            if test is None or "${" in json.dumps(expected) or key not in context:
                return None
            value = context[key]
            patterns = _values(expected)
            if name in _NEGATED:
                ok = all(test(value, p) for p in patterns)
            else:
                ok = any(test(value, p) for p in patterns)
            if not ok:
                return False
    return True
