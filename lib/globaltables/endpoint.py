"""Where a running embedded AWS is announced, so notebooks and the CLI can find it.

The embedded AWS (``globaltables.local``) writes its endpoint here; the client library reads it.
This file is the whole contract between the two: the library never imports ``globaltables.local``.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from pathlib import Path

from globaltables.errors import EndpointNotFound

ENDPOINT_ENV = "GLOBALTABLES_ENDPOINT"
HOME_ENV = "GLOBALTABLES_HOME"


def port_number(text: str, lowest: int = 1) -> int:
    """A ``--port`` option's type: a TCP port, ``lowest`` to 65535 (the server module also takes 0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not lowest <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give {lowest} to 65535")
    return port


def announcement_path() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".globaltables") / "embedded-aws.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def announced_endpoint() -> str | None:
    """The endpoint a live ``python -m globaltables local`` announced, or None."""
    path = announcement_path()
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(record, dict) or not _alive(int(record.get("pid", -1))):
        return None
    return record.get("endpoint")


def resolve_endpoint(endpoint_url: str | None = None) -> str:
    """The embedded AWS to talk to: the parameter, then $GLOBALTABLES_ENDPOINT, then the announcement."""
    found = endpoint_url or os.environ.get(ENDPOINT_ENV) or announced_endpoint()
    if not found:
        raise EndpointNotFound(
            "No embedded AWS is running. Start one with `make lab` or `python -m globaltables local` "
            f"(it announces itself in {announcement_path()}), or set {ENDPOINT_ENV} or the "
            "endpoint_url parameter to the URL of one that is."
        )
    return found.rstrip("/")


def endpoint_answers(endpoint: str, timeout: float = 2.0) -> bool:
    """Whether an embedded AWS answers its readiness probe at ``endpoint``."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_globaltables/health", timeout=timeout) as response:
            return json.loads(response.read()).get("status") == "ok"
    except (OSError, ValueError):
        return False
