"""The load fan-out (07, ``load_engine: lambda``): the harness runs inside AWS Lambda in every region.

A latency test from one machine measures the road to each region, and one machine's threads cap the
rate. Here a function deployed in every region (``functions/load_harness.py``) runs the harness
(``loadgen``) against its own region's replica; ``load_invocations_per_region`` invocations run at once
in each region (synchronous ``Invoke`` calls, from threads), each applying the run's load spec by itself,
and each answers its HDR histograms in HdrHistogram's compressed form. They are decoded and merged
(``add``: exact, bucket by bucket) per region and over every region, into the ``RegionResult`` shape that
``perf.run_load`` gives, so 07's tables and charts are the same for both engines.

The same code path on both targets: on AWS, Lambda runs the invocations; on the embedded AWS its
function executor runs each one as a separate Python process, concurrently up to the limit it sets
(``globaltables.local.functions.executor``).

What is deployed, per region, recorded in the manifest before it is made (so cleanup, which removes
``iam:role``, ``lambda:function`` and ``logs:log-group`` by name and finds "already gone" fine, removes
it even after an interrupted deployment): a role trusted by Lambda whose inline policy allows exactly
``GetItem`` and ``PutItem`` on that region's replica, ``kms:Decrypt`` through DynamoDB in that region
(the table's customer managed key), and the function's own log group; the function; its log group.
Deploying again updates code and configuration in place (idempotent).

The zip (``package``) holds the handler, ``globaltables/loadgen.py``, ``globaltables/waiting.py`` and
what that imports (``errors.py``, ``kinds.py``; standard library only), ``hdrh``'s Python files with its licence, and ``pyhdrh.py``, a pure-Python
stand-in for ``hdrh``'s C extension (``functions/vendor/pyhdrh.py``): AWS's Python runtime has boto3
but not ``hdrh``, and the project's compiled extension is built for its own CPython and machine.
"""

from __future__ import annotations

import io
import json
import math
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import hdrh
from botocore.config import Config

from globaltables import loadgen, waiting
from globaltables.clients import CLIENT_CONFIG, AwsClients
from globaltables.errors import FanOutError, ForeignResource, GlobalTablesError, aws_error_code
from globaltables.functions import RUNTIME, create_function_once_role_is_ready
from globaltables.iam import IAM_REGION, trust_policy
from globaltables.kinds import ResourceKind
from globaltables.names import LOAD_ROLE_PREFIX, RUN_TAG_KEY, log_group_name
from globaltables.parallel import run_together
from globaltables.perf import LoadSpec, RegionResult, result_of
from globaltables.state import RunState
from globaltables.throttling import Backoff

NOTEBOOK = "07_performance"
PROJECT = Path(__file__).resolve().parents[2]
HANDLER_SOURCE = PROJECT / "functions" / "load_harness.py"
PURE_PYHDRH = PROJECT / "functions" / "vendor" / "pyhdrh.py"
HANDLER = "load_harness.handler"
ENGINES = ("local", "lambda")
# Lambda gives CPU in proportion to memory (a whole vCPU at 1769 MB): the harness's threads need CPU
# more than memory, and the histograms take a few hundred kilobytes.
MEMORY_MB = 1024
# Seconds an invocation takes beyond the load itself: a cold start (boto3's import), the calls still
# in flight at the end (``loadgen.IN_FLIGHT_GRACE_S``) and the handler's margin to answer.
STARTUP_S = 10.0
MARGIN_S = 3.0
# The load functions' roles, one per region (the orphan finder looks for roles by these prefixes).
MAX_TIMEOUT_S = 900  # Lambda's most
LOAD_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem"]
# Invoke refused for concurrency (the account's, or a reserved one): nothing ran, so it is sent again.
INVOKE_THROTTLE_CODES = frozenset({"TooManyRequestsException"})
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same files make the same zip (and the same CodeSha256)


class LoadTooLongForLambda(GlobalTablesError, ValueError):
    """The load does not fit in one invocation (Lambda stops a function after 900 seconds)."""

    def __init__(self, spec: LoadSpec, timeout_s: float):
        self.planned_s, self.timeout_s = spec.planned_s(), timeout_s
        super().__init__(
            f"load_warmup_s + load_duration_s = {self.planned_s:g} s needs a {timeout_s:.0f} s function timeout; "
            f"Lambda allows at most {MAX_TIMEOUT_S} s: shorten the load to at most "
            f"{MAX_TIMEOUT_S - STARTUP_S - loadgen.IN_FLIGHT_GRACE_S - MARGIN_S:g} s, or use load_engine: local"
        )


def load_engine(params: Any) -> str:
    """The engine the run's load uses: ``load_engine``, or when empty by target (``lambda`` on AWS,
    ``local`` on the embedded AWS, where a batch run should stay quick)."""
    return params.load_engine or ("lambda" if params.target == "aws" else "local")


def function_name(run: RunState) -> str:
    return f"global-table-load-{run.names.suffix}"


def role_name(run: RunState, region: str) -> str:
    return f"{LOAD_ROLE_PREFIX}{run.names.suffix}-{region}"


def timeout_s(spec: LoadSpec) -> int:
    """The function's timeout for ``spec``: the load, a cold start, the grace for calls in flight and
    a margin. Raises ``LoadTooLongForLambda`` beyond Lambda's 900 seconds."""
    needed = math.ceil(spec.planned_s() + STARTUP_S + loadgen.IN_FLIGHT_GRACE_S + MARGIN_S)
    if needed > MAX_TIMEOUT_S:
        raise LoadTooLongForLambda(spec, needed)
    return needed


def billed_gb_seconds(params: Any) -> float:
    """GB-seconds of one 07 run with the ``lambda`` engine (every invocation billed for the load and a
    cold start): what ``costs`` prices."""
    seconds = params.load_warmup_s + params.load_duration_s + STARTUP_S
    return len(params.regions) * params.load_invocations_per_region * seconds * MEMORY_MB / 1024


def load_policy(partition: str, account: str, region: str, table_name: str, function: str) -> dict[str, Any]:
    """Least privilege for one region's harness: its replica's GetItem and PutItem, the table's key
    through DynamoDB in that region, its own log group."""
    table = f"arn:{partition}:dynamodb:{region}:{account}:table/{table_name}"
    log_group = f"arn:{partition}:logs:{region}:{account}:log-group:{log_group_name(function)}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "LoadTheRegionsReplica", "Effect": "Allow", "Action": LOAD_ACTIONS, "Resource": table},
            {
                "Sid": "UseTheTableKeyThroughDynamoDB",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": f"arn:{partition}:kms:{region}:{account}:key/*",
                "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
            },
            {"Sid": "CreateOwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogGroup"], "Resource": log_group},
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group}:*",
            },
        ],
    }


def package(source: Path = HANDLER_SOURCE) -> bytes:
    """The harness's deployment zip (see the module docstring); byte for byte the same for the same files."""
    library = Path(loadgen.__file__).parent
    hdrh_dir = Path(hdrh.__file__).parent
    files: list[tuple[Path, str]] = [
        (source, source.name),
        (library / "__init__.py", "globaltables/__init__.py"),
        (Path(loadgen.__file__), "globaltables/loadgen.py"),
        (Path(waiting.__file__), "globaltables/waiting.py"),
        # waiting's errors and the resource kinds those name: standard library only, like the rest.
        (library / "errors.py", "globaltables/errors.py"),
        (library / "kinds.py", "globaltables/kinds.py"),
        (PURE_PYHDRH, "pyhdrh.py"),
        *((path, f"hdrh/{path.name}") for path in sorted(hdrh_dir.glob("*.py"))),
        *((path, f"hdrh/{path.name}") for path in _hdrh_licences()),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in files:
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _hdrh_licences() -> list[Path]:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        found = distribution("hdrhistogram").files or []
    except PackageNotFoundError:
        return []
    return [Path(str(f.locate())) for f in found if f.name in {"LICENSE", "AUTHORS"}]


def ensure_role(clients: AwsClients, run: RunState, region: str) -> str:
    """Create (or adopt, when it carries the run's tag) the region's harness role and put its policy;
    recorded before it is made. Returns its ARN."""
    iam = clients.client("iam", run.params.primary_region)  # IAM is global
    name = role_name(run, region)
    run.record(ResourceKind.ROLE, name, IAM_REGION, notebook=NOTEBOOK)
    tag = {"Key": RUN_TAG_KEY, "Value": run.run_id}
    try:
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy()),
            Description=f"Load harness of {run.names.table_name} in {region}",
            Tags=[tag],
        )["Role"]
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) != "EntityAlreadyExists":
            raise
        role = iam.get_role(RoleName=name)["Role"]
        if tag not in role.get("Tags", []):
            raise ForeignResource(ResourceKind.ROLE, name) from None
    partition = role["Arn"].split(":")[1]
    policy = load_policy(partition, run.manifest.account or "", region, run.names.table_name, function_name(run))
    iam.put_role_policy(RoleName=name, PolicyName="load-harness", PolicyDocument=json.dumps(policy))
    run.record(ResourceKind.ROLE, name, IAM_REGION, arn=role["Arn"], notebook=NOTEBOOK)
    return role["Arn"]


def ensure_function(
    clients: AwsClients, run: RunState, region: str, role_arn: str, code: bytes, timeout: int
) -> dict[str, Any]:
    """Create the region's harness function (or update its code and configuration), wait until it is
    Active; recorded (with its log group) before it is made. A role made seconds ago may not be
    assumable by Lambda yet (IAM is eventually consistent): creation is retried for a minute on that."""
    lam = clients.client("lambda", region)
    name = function_name(run)
    run.record(ResourceKind.FUNCTION, name, region, notebook=NOTEBOOK)
    run.record(ResourceKind.LOG_GROUP, log_group_name(name), region, notebook=NOTEBOOK)
    configuration = {
        "Runtime": RUNTIME,
        "Role": role_arn,
        "Handler": HANDLER,
        "Timeout": timeout,
        "MemorySize": MEMORY_MB,
        "Environment": {"Variables": {"TABLE_NAME": run.names.table_name}},
        "Description": f"Load harness of {run.names.table_name} (07)",
    }
    waiter = {"Delay": 1, "MaxAttempts": 120}
    try:
        current = lam.get_function(FunctionName=name)["Configuration"]
        if current.get("CodeSha256") != _sha256(code):
            lam.update_function_code(FunctionName=name, ZipFile=code)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=waiter)
        if any(current.get(key) != value for key, value in configuration.items() if key != "Environment") or (
            current.get("Environment", {}).get("Variables") != configuration["Environment"]["Variables"]
        ):
            lam.update_function_configuration(FunctionName=name, **configuration)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=waiter)
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) != "ResourceNotFoundException":
            raise
        create_function_once_role_is_ready(lam, name, code, run.run_id, configuration, clients.poll_interval_s)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=waiter)
    function = lam.get_function(FunctionName=name)["Configuration"]
    run.record(ResourceKind.FUNCTION, name, region, arn=function["FunctionArn"], notebook=NOTEBOOK)
    return function


def _sha256(code: bytes) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha256(code).digest()).decode()


def ensure_harness(
    clients: AwsClients, run: RunState, spec: LoadSpec, regions: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The harness deployed (or brought up to date) in every region at once; its configuration per
    region. Raises ``LoadTooLongForLambda`` before any call when ``spec`` cannot fit an invocation."""
    regions = regions or run.params.regions
    timeout = timeout_s(spec)
    code = package()
    functions: dict[str, dict[str, Any]] = {}

    def deploy(region: str) -> None:
        functions[region] = ensure_function(clients, run, region, ensure_role(clients, run, region), code, timeout)

    run_together([(deploy, (region,)) for region in regions])
    return {region: functions[region] for region in regions}


@dataclass
class Invocation:
    """One harness's run: where, which, how long the Invoke call took, and what it measured."""

    region: str
    number: int
    seconds: float
    tally: loadgen.Tally
    hdr_codec: str


@dataclass
class FanOut:
    """The fan-out's figures: per region (``results``, the shape ``perf.run_load`` returns), over every
    region (``overall``, region ``"all regions"``), and each invocation's."""

    results: list[RegionResult]
    overall: RegionResult
    invocations: list[Invocation]


OVERALL = "all regions"
_invoking: dict[tuple[int, str], Any] = {}
_invoking_lock = threading.Lock()


def _invoking_client(clients: AwsClients, region: str) -> Any:
    """A Lambda client that waits as long as Lambda's longest invocation and never sends an Invoke
    twice by itself (boto3 retries a read timeout, which would run the load again)."""
    key = (id(clients), region)
    with _invoking_lock:
        if key not in _invoking:
            config = CLIENT_CONFIG.merge(
                Config(read_timeout=MAX_TIMEOUT_S + 60, retries={"mode": "standard", "total_max_attempts": 1})
            )
            _invoking[key] = clients._session.client(  # the run's session: same profile, credentials, endpoint
                "lambda", region_name=region, endpoint_url=clients.endpoint_url, config=config
            )
        return _invoking[key]


def invoke_harness(clients: AwsClients, region: str, name: str, plan: loadgen.Plan, number: int) -> Invocation:
    """One synchronous invocation (``RequestResponse``); sent again after a backoff only when Lambda
    refused it for concurrency (it did not run). Raises ``FanOutError`` when the function failed."""
    lam = _invoking_client(clients, region)
    payload = json.dumps({"plan": plan.to_json(), "invocation": number}).encode()
    backoff = Backoff()
    started = time.perf_counter()
    while True:
        try:
            response = lam.invoke(FunctionName=name, InvocationType="RequestResponse", Payload=payload, LogType="Tail")
            break
        except botocore.exceptions.ClientError as error:
            if aws_error_code(error) not in INVOKE_THROTTLE_CODES:
                raise
            time.sleep(backoff.next_pause())
    seconds = time.perf_counter() - started
    answer = json.loads(response["Payload"].read() or b"null") or {}
    if response.get("FunctionError"):
        import base64

        tail = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
        raise FanOutError(
            region, number, answer.get("errorType", response["FunctionError"]), answer.get("errorMessage", ""), tail
        )
    return Invocation(
        region=region,
        number=number,
        seconds=round(seconds, 3),
        tally=loadgen.Tally.from_json(answer["tally"]),
        hdr_codec=answer.get("hdr_codec", ""),
    )


def invocation_plans(spec: LoadSpec, invocations: int) -> list[loadgen.Plan]:
    """Each invocation's plan: ``spec``, with a seed of its own (so that they draw different keys)."""
    plan = spec.plan()
    return [loadgen.Plan(**{**plan.to_json(), "seed": spec.seed + number}) for number in range(invocations)]


def run_fanout(
    clients: AwsClients, run: RunState, spec: LoadSpec, invocations_per_region: int, regions: list[str] | None = None
) -> FanOut:
    """Invoke the deployed harness ``invocations_per_region`` times at once in every region, each
    applying ``spec``; merge what they measured per region and over every region."""
    regions = regions or run.params.regions
    timeout_s(spec)  # refuses a load that cannot fit an invocation, before any call
    name = function_name(run)
    plans = invocation_plans(spec, invocations_per_region)
    done: list[Invocation] = []
    lock = threading.Lock()

    def one(region: str, number: int) -> None:
        invocation = invoke_harness(clients, region, name, plans[number], number)
        with lock:
            done.append(invocation)

    run_together([(one, (region, number)) for region in regions for number in range(invocations_per_region)])
    done.sort(key=lambda i: (regions.index(i.region), i.number))
    results, everything = [], None
    for region in regions:
        merged = merge([i.tally for i in done if i.region == region])
        results.append(result_of(region, spec, merged, engine="lambda", invocations=invocations_per_region))
        everything = merged.copy() if everything is None else _added(everything, merged)
    assert everything is not None
    overall = result_of(OVERALL, spec, everything, engine="lambda", invocations=invocations_per_region * len(regions))
    return FanOut(results=results, overall=overall, invocations=done)


def merge(tallies: list[loadgen.Tally]) -> loadgen.Tally:
    """One tally of several that ran at the same time (``loadgen.Tally.add``), the inputs unchanged."""
    merged = tallies[0].copy()
    for tally in tallies[1:]:
        merged.add(tally)
    return merged


def _added(first: loadgen.Tally, second: loadgen.Tally) -> loadgen.Tally:
    first.add(second)
    return first
