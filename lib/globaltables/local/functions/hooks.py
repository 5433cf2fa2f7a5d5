"""Where Lambda execution hooks into moto.

| hook | why there |
|---|---|
| ``LambdaFunction._invoke_lambda`` | moto runs the function in Docker here (none on this machine); the executor runs it in a local Python process instead; its ``InvocationResult`` is handed to moto as the triple moto's ``invoke`` unpacks (payload, errored, log) |
| ``LambdaFunction.invoke`` | an exception in a handler is ``FunctionError: Unhandled`` on AWS (moto says ``Handled``) |
| ``ActionAuthenticatorMixin._authenticate_and_authorize_action`` | where moto authorizes every action; requests signed with a function's role credentials are checked there (``globaltables.local.authorization``), all others go on unchecked |
"""

from __future__ import annotations

import functools
from typing import Any

from moto.awslambda.models import LambdaFunction

from globaltables.local import authorization, pinning
from globaltables.local.functions import executor

HOOKS: list[tuple[type, str]] = [(LambdaFunction, "_invoke_lambda"), (LambdaFunction, "invoke")]


def missing_hooks() -> list[str]:
    mine = pinning.absent(HOOKS)
    return mine + authorization.missing_hooks()


def install() -> None:
    authorization.install()
    if getattr(LambdaFunction._invoke_lambda, "__globaltables_hook__", False):
        return

    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return executor.invoke(self, event).as_moto_answer()

    invoke_lambda.__globaltables_hook__ = True  # type: ignore[attr-defined]
    LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]

    original_invoke = LambdaFunction.invoke

    @functools.wraps(original_invoke)
    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> Any:
        payload = original_invoke(self, body, request_headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
