"""The runbook's Lambda function, deployed in every region: package, deploy, invoke, report.

Fixes of the recipe: the environment is structured data (a JSON list of regions, defect 9), the
runtime is current (defect 10), and the function is invoked and its result checked. The defects are
described in docs/recipe-defects.md.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import botocore.exceptions
from pydantic import BaseModel

from globaltables.clients import AwsClients
from globaltables.errors import aws_error_code, aws_error_message
from globaltables.kinds import ResourceKind
from globaltables.names import RUN_TAG_KEY, log_group_name
from globaltables.state import RunState

RUNTIME = "python3.13"
HANDLER_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "global_table_probe.py"
HANDLER = "global_table_probe.handler"
NOTEBOOK = "05_lambda"


def package(source: Path = HANDLER_SOURCE) -> bytes:
    """A deployment zip holding the handler's source file (a real file of the project, not a string)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(source, source.name)
    return buffer.getvalue()


def function_environment(run: RunState) -> dict[str, str]:
    return {"TABLE_NAME": run.names.table_name, "REGIONS": json.dumps(run.params.regions)}


def create_function_once_role_is_ready(
    lam: Any, name: str, code: bytes, run_id: str, configuration: dict[str, Any], poll_interval_s: float
) -> None:
    """CreateFunction, tagged with the run. A role made seconds ago may not be assumable by Lambda yet (IAM
    is eventually consistent: "The role defined for the function cannot be assumed by Lambda"): that
    error only is retried, for up to a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            lam.create_function(FunctionName=name, Code={"ZipFile": code}, Tags={RUN_TAG_KEY: run_id}, **configuration)
            return
        except botocore.exceptions.ClientError as error:
            if "cannot be assumed" not in aws_error_message(error) or time.monotonic() > deadline:
                raise
            time.sleep(poll_interval_s)


def ensure_function(
    clients: AwsClients, run: RunState, region: str, role_arn: str, code: bytes, timeout_s: int = 60
) -> dict[str, Any]:
    """Create the function in ``region`` (or update its code and configuration), wait until Active.

    A role made seconds ago may not be assumable by Lambda yet (IAM is eventually consistent):
    creation is retried for up to a minute on that error only."""
    lam = clients.client("lambda", region)
    name = run.names.function_name
    configuration = {
        "Runtime": RUNTIME,
        "Role": role_arn,
        "Handler": HANDLER,
        "Timeout": timeout_s,
        "MemorySize": 256,
        "Environment": {"Variables": function_environment(run)},
        "Description": f"Cross-region probe of {run.names.table_name}",
    }
    try:
        lam.get_function(FunctionName=name)
        lam.update_function_code(FunctionName=name, ZipFile=code)
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        lam.update_function_configuration(FunctionName=name, **configuration)
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) != "ResourceNotFoundException":
            raise
        create_function_once_role_is_ready(lam, name, code, run.run_id, configuration, clients.poll_interval_s)
    function = lam.get_function(FunctionName=name)["Configuration"]
    run.record(ResourceKind.FUNCTION, name, region, arn=function["FunctionArn"], notebook=NOTEBOOK)
    run.record(ResourceKind.LOG_GROUP, log_group_name(name), region, notebook=NOTEBOOK)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return function


class Invocation(BaseModel):
    function_region: str
    ok: bool
    function_error: str | None
    seconds: float
    result: dict[str, Any]
    log_tail: str


def invoke(clients: AwsClients, region: str, function_name: str, invocation: str) -> Invocation:
    """Invoke synchronously with the log tail; ``ok`` only when the function succeeded in every region."""
    started = time.perf_counter()
    response = clients.client("lambda", region).invoke(
        FunctionName=function_name,
        Payload=json.dumps({"invocation": invocation}).encode(),
        LogType="Tail",
    )
    seconds = time.perf_counter() - started
    result = json.loads(response["Payload"].read() or b"null") or {}
    error = response.get("FunctionError")
    per_region = result.get("results", {}) if not error else {}
    return Invocation(
        function_region=region,
        ok=not error and bool(per_region) and all(r.get("ok") for r in per_region.values()),
        function_error=error,
        seconds=round(seconds, 3),
        result=result,
        log_tail=base64.b64decode(response.get("LogResult", "")).decode(errors="replace"),
    )


def invocation_rows(invocations: list[Invocation]) -> list[dict[str, Any]]:
    rows = []
    for call in invocations:
        for target, outcome in call.result.get("results", {}).items():
            rows.append(
                {
                    "function in": call.function_region,
                    "table in": target,
                    "ok": outcome.get("ok"),
                    "write ms": outcome.get("write_ms"),
                    "read ms": outcome.get("read_ms"),
                    "query ms": outcome.get("query_ms"),
                    "error": outcome.get("error", ""),
                }
            )
        if call.function_error:
            rows.append(
                {
                    "function in": call.function_region,
                    "table in": "-",
                    "ok": False,
                    "error": f"{call.function_error}: {call.result.get('errorMessage', '')}",
                }
            )
    return rows
