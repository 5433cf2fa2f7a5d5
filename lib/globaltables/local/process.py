"""Start, probe and stop the embedded AWS as a separate process."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import IO, Any

from globaltables.embedded_admin import EmbeddedAWSAdmin
from globaltables.endpoint import ENDPOINT_ENV

START_TIMEOUT_S = 60.0


class EmbeddedAWSError(RuntimeError):
    """The embedded AWS did not start, or stopped answering."""


def _read_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def probe(endpoint: str, timeout: float = 2.0) -> dict[str, Any]:
    """GET the admin health route; raises OSError (or ValueError) when it does not answer as expected."""
    with urllib.request.urlopen(f"{endpoint}/_globaltables/health", timeout=timeout) as response:
        payload = json.loads(response.read())
    if payload.get("status") != "ok":
        raise ValueError(f"unexpected health answer: {payload}")
    return payload


class EmbeddedAWS:
    """A moto server process on 127.0.0.1, extended by ``globaltables.local``; a context manager.

    ``start()`` returns once the server answers its readiness probe; ``stop()`` ends it (SIGTERM,
    then SIGKILL after a grace period). ``endpoint`` is the URL clients use. ``restore_from``: a
    snapshot (``EmbeddedAWSAdmin.save_state``) the server loads before it serves; one it cannot load
    makes ``start()`` raise EmbeddedAWSError with the server's one-line reason. ``timing``: ``fast``
    (the default) or ``realistic`` (see ``--timing``). ``threads``: its request threads (``--threads``).
    """

    def __init__(
        self,
        port: int = 0,
        announce: bool = False,
        env: dict[str, str] | None = None,
        replication_delay: str | None = None,
        replica_transition_s: float | None = None,
        restore_from: str | os.PathLike[str] | None = None,
        timing: str | None = None,
        threads: int | None = None,
    ):
        self.port = port
        self.announce = announce
        self.replication_delay = replication_delay
        self.replica_transition_s = replica_transition_s
        self.timing = timing
        self.threads = threads
        self.env = env
        self.restore_from = os.path.abspath(restore_from) if restore_from is not None else None
        self.endpoint: str | None = None
        self.process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()

    def start(self, timeout: float = START_TIMEOUT_S) -> str:
        command = [sys.executable, "-m", "globaltables.local.server", "--port", str(self.port), "--exit-with-parent"]
        if self.announce:
            command.append("--announce")
        if self.replication_delay is not None:
            command += ["--replication-delay", str(self.replication_delay)]
        if self.replica_transition_s is not None:
            command += ["--replica-transition", str(self.replica_transition_s)]
        if self.timing is not None:
            command += ["--timing", self.timing]
        if self.restore_from is not None:
            command += ["--restore", self.restore_from]
        if self.threads is not None:
            command += ["--threads", str(self.threads)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(self.env or {})},
            # Own process group: a Ctrl-C meant for a notebook run does not kill the server mid-run.
            start_new_session=True,
        )
        assert self.process.stdout is not None
        reader = threading.Thread(target=_read_lines, args=(self.process.stdout, self._lines), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while self.endpoint is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                self.stop()
                reader.join(timeout=2)  # its last words (an ERROR line) may still be in the pipe
                seen += self.output()
                errors = [line[len("ERROR ") :] for line in seen if line.startswith("ERROR ")]
                if errors:
                    raise EmbeddedAWSError(errors[-1])
                raise EmbeddedAWSError(
                    f"the embedded AWS did not start within {timeout:.0f}s; it said:\n" + "\n".join(seen[-20:])
                )
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            seen.append(line)
            if line.startswith("READY "):
                self.endpoint = line.split(" ", 1)[1].strip()
        while True:
            try:
                probe(self.endpoint)
                return self.endpoint
            except (OSError, ValueError) as error:
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedAWSError(f"the embedded AWS at {self.endpoint} does not answer: {error}") from None
                time.sleep(0.05)

    def output(self) -> list[str]:
        """What the server printed since the last call (its log lines)."""
        lines = []
        while True:
            try:
                lines.append(self._lines.get_nowait())
            except queue.Empty:
                return lines

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=grace)

    @property
    def admin(self) -> EmbeddedAWSAdmin:
        """Replication settings and fault switches of this server."""
        if self.endpoint is None:
            raise EmbeddedAWSError("the embedded AWS is not started")
        return EmbeddedAWSAdmin(self.endpoint)

    @property
    def environment(self) -> dict[str, str]:
        """Environment variables that point a notebook kernel or a tool at this server."""
        if self.endpoint is None:
            raise EmbeddedAWSError("the embedded AWS is not started")
        return {ENDPOINT_ENV: self.endpoint}

    def __enter__(self) -> EmbeddedAWS:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
