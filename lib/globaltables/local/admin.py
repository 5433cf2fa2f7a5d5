"""The embedded AWS's own admin endpoint, under ``/_globaltables/``, in front of moto's dispatcher.

Only this project's tools call it (readiness probe, version, fault switches, state snapshots); every
other path goes to moto unchanged, through a gate that counts it in flight (a snapshot waits for none).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import moto

from globaltables.local.snapshot import RequestGate

ADMIN_PREFIX = "/_globaltables/"

Handler = Callable[[dict[str, Any], bytes], tuple[int, Any]]


class AdminMiddleware:
    """WSGI app: admin routes answered here, everything else handed to ``aws_app`` (moto)."""

    def __init__(self, aws_app: Callable[..., Iterable[bytes]]):
        self.aws_app = aws_app
        self.gate = RequestGate()
        self.routes: dict[tuple[str, str], Handler] = {("GET", "health"): self._health}

    def route(self, method: str, name: str, handler: Handler) -> None:
        self.routes[(method, name)] = handler

    def _health(self, environ: dict[str, Any], body: bytes) -> tuple[int, Any]:
        return 200, {"status": "ok", "moto": moto.__version__, "pid": os.getpid()}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(ADMIN_PREFIX):
            self.gate.enter()
            try:
                return self.aws_app(environ, start_response)
            finally:
                self.gate.leave()
        name = path[len(ADMIN_PREFIX) :].strip("/")
        handler = self.routes.get((environ.get("REQUEST_METHOD", "GET"), name))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if handler is None:
            status, payload = 404, {"error": f"no admin route {environ.get('REQUEST_METHOD')} {path}"}
        else:
            try:
                status, payload = handler(environ, body)
            except (ValueError, KeyError) as error:
                status, payload = 400, {"error": str(error)}
        data = json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}.get(
            status, "OK"
        )
        start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
