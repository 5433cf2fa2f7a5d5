"""Invoke a moto Lambda function for real: unzip its code, run the handler in a separate Python
process with the function's environment, its region, its execution role's credentials (an STS session
whose requests the embedded AWS authorizes against the role's policies) and ``AWS_ENDPOINT_URL``
pointing back at it; enforce the timeout; return payload, error and log.

Invocations run concurrently, each in its own process (the server gives every running handler a
request thread of its own, ``server.lend_threads_while_functions_run``), up to a limit the embedded AWS
sets for the whole account, every function and region together: ``EmbeddedLambda.concurrency``
(``$GLOBALTABLES_LAMBDA_CONCURRENCY``, default ``DEFAULT_CONCURRENCY``). An invocation beyond the limit
waits for a running one to end before its process starts; its timeout counts from that start. AWS
instead refuses a synchronous invocation beyond the account's concurrency (1000 per region by default)
or a function's reserved concurrency with ``TooManyRequestsException`` (HTTP 429): the embedded AWS's
limit is one machine's, not an account quota, so it queues rather than refuses, and it enforces no
reserved concurrency (``PutFunctionConcurrency`` is stored by moto, not applied).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from globaltables.local import authorization

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
LOG_TAIL_BYTES = 4096  # what Invoke with LogType=Tail returns, as on AWS
CODE_CACHE = Path(tempfile.gettempdir()) / "globaltables-lambda-code"
CONCURRENCY_ENV = "GLOBALTABLES_LAMBDA_CONCURRENCY"
# Handler processes at once: a Python process with boto3 loaded is ~60 MB, and each one's threads
# compete for the machine's cores with the server that answers them.
DEFAULT_CONCURRENCY = 16


def _concurrency_from_environment() -> int:
    value = os.environ.get(CONCURRENCY_ENV, "")
    return max(1, int(value)) if value.strip().isdigit() else DEFAULT_CONCURRENCY


class EmbeddedLambda:
    """Settings of the function executor: where the functions call back to, and how many handler
    processes may run at once (see the module docstring)."""

    endpoint: str | None = None
    concurrency: int = _concurrency_from_environment()


class _Slots:
    """At most ``EmbeddedLambda.concurrency`` handler processes at once; the rest wait, in turn."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0  # the highest number running at once, for tests and the benchmark
        self._turn = threading.Condition()

    def __enter__(self) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self.running < max(1, EmbeddedLambda.concurrency))
            self.running += 1
            self.most = max(self.most, self.running)

    def __exit__(self, *exc: object) -> None:
        with self._turn:
            self.running -= 1
            self._turn.notify()


SLOTS = _Slots()


def code_directory(zip_bytes: bytes) -> Path:
    """The function's code, unzipped once per distinct zip."""
    digest = hashlib.sha256(zip_bytes).hexdigest()[:16]
    target = CODE_CACHE / digest
    if not target.exists():
        staging = Path(tempfile.mkdtemp(dir=CODE_CACHE.parent if CODE_CACHE.parent.exists() else None))
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            archive.extractall(staging)
        CODE_CACHE.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(target)
        except OSError:  # another invocation unzipped the same code first
            pass
    return target


@dataclasses.dataclass(frozen=True)
class InvocationResult:
    """What one invocation answers: ``payload``, the handler's result as JSON (or Lambda's error document),
    ``errored``, whether it is an error (Invoke's ``FunctionError``), and ``log_tail``, the end of its log
    (what ``LogType=Tail`` returns)."""

    payload: str
    errored: bool
    log_tail: str

    def as_moto_answer(self) -> tuple[str, bool, str]:
        """As moto's ``LambdaFunction._invoke_lambda`` answers: (payload, errored, log)."""
        return self.payload, self.errored, self.log_tail


@dataclasses.dataclass(frozen=True)
class _HandlerRun:
    """How the handler's process ended: the payload and whether it is an error, its output, its duration."""

    payload: str
    errored: bool
    output: str
    duration_ms: float


def _unsupported(runtime: str) -> InvocationResult:
    payload = {
        "errorType": "Runtime.Unsupported",
        "errorMessage": f"the embedded AWS runs Python functions only (python3.x runtimes); {runtime!r} cannot be "
        "invoked here. Deploy a Python function, or run this step against real AWS.",
    }
    return InvocationResult(json.dumps(payload), True, f"Runtime {runtime} is not supported by the embedded AWS\n")


def invoke(function: Any, event: Any) -> InvocationResult:
    """Run ``function`` (a moto LambdaFunction) on ``event``, in its own process; its log goes to CloudWatch
    Logs, as on AWS."""
    runtime = function.run_time or ""
    if not runtime.startswith("python3"):
        return _unsupported(runtime)
    request_id = str(uuid.uuid4())
    timeout_s = float(function.timeout or 3)
    log_stream = f"{time.strftime('%Y/%m/%d')}/[{function.version}]{request_id.replace('-', '')}"
    facts = {
        "function_name": function.function_name,
        "function_version": function.version,
        "invoked_function_arn": function.function_arn,
        "memory_limit_in_mb": function.memory_size,
        "aws_request_id": request_id,
        "log_group_name": function.logs_group_name,
        "log_stream_name": log_stream,
        "timeout_s": timeout_s,
    }
    ran = _run_handler(function, event, facts, _environment(function, runtime, log_stream))
    log = (
        f"START RequestId: {request_id} Version: {function.version}\n{ran.output}"
        f"END RequestId: {request_id}\n"
        f"REPORT RequestId: {request_id}\tDuration: {ran.duration_ms:.2f} ms\t"
        f"Billed Duration: {int(ran.duration_ms) + 1} ms\tMemory Size: {function.memory_size} MB\n"
    )
    function.logs_backend.ensure_log_group(function.logs_group_name)
    function.save_logs(log)
    return InvocationResult(ran.payload, ran.errored, log[-LOG_TAIL_BYTES:])


def _environment(function: Any, runtime: str, log_stream: str) -> dict[str, str]:
    """The handler process's environment, as Lambda sets it."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONUNBUFFERED": "1",
        **{k: str(v) for k, v in (function.environment_vars or {}).items()},
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        # The execution role's credentials, as Lambda gives them; requests signed with them are
        # authorized against the role's policies (see globaltables.local.authorization).
        **authorization.credentials_for(
            function.account_id, function.region, function.role, function.function_name
        ).environment(),
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": function.logs_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "_HANDLER": function.handler,
    }
    if EmbeddedLambda.endpoint:
        environment["AWS_ENDPOINT_URL"] = EmbeddedLambda.endpoint
    return environment


def _run_handler(function: Any, event: Any, facts: dict[str, Any], environment: dict[str, str]) -> _HandlerRun:
    """The bootstrap runs the handler in a process of its own, once a slot is free, within the timeout."""
    code = code_directory(function.code_bytes)
    request_id, timeout_s = facts["aws_request_id"], facts["timeout_s"]
    with SLOTS, tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        event_path, result_path = Path(scratch) / "event.json", Path(scratch) / "result.json"
        event_path.write_text(json.dumps(event if event is not None else {}))
        command = [
            sys.executable,
            str(BOOTSTRAP),
            str(code),
            function.handler,
            str(event_path),
            str(result_path),
            json.dumps(facts),
        ]
        try:
            completed = subprocess.run(
                command, env=environment, cwd=code, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as expired:
            duration_ms = (time.monotonic() - started) * 1000
            message = (
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {request_id} "
                f"Task timed out after {timeout_s:.2f} seconds"
            )
            output = _text(expired.stdout) + _text(expired.stderr) + message + "\n"
            return _HandlerRun(json.dumps({"errorMessage": message}), True, output, duration_ms)
        return _ended(completed, result_path, request_id, (time.monotonic() - started) * 1000)


def _ended(
    completed: subprocess.CompletedProcess[str], result_path: Path, request_id: str, duration_ms: float
) -> _HandlerRun:
    """The payload and whether it is an error, from the result the bootstrap wrote; a process that ended
    without writing one is Lambda's ``Runtime.ExitError``."""
    output = completed.stdout + completed.stderr
    if result_path.exists():
        outcome = json.loads(result_path.read_text())
        errored = not outcome.pop("ok")
        payload = json.dumps(outcome if errored else outcome["result"], default=str)
        return _HandlerRun(payload, errored, output, duration_ms)
    error = {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with code {completed.returncode}",
    }
    return _HandlerRun(json.dumps(error), True, output, duration_ms)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
