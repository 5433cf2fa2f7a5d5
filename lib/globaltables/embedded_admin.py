"""A small Python API over the embedded AWS's admin endpoint: replication settings, fault switches and
state snapshots.

Plain HTTP to `/_globaltables/` of a running embedded AWS: both the embedded AWS package (`EmbeddedAWS.admin`)
and the library (notebook 08's replication scenarios) use it; it imports neither.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from globaltables.errors import ReplicationTimeout, StateSaveError


class EmbeddedAWSAdmin:
    """Talks to ``/_globaltables/`` of a running embedded AWS (``EmbeddedAWS.admin`` gives one)."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint.rstrip("/")

    def _call(
        self, method: str, name: str, payload: dict[str, Any] | None = None, timeout: float = 10
    ) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}/_globaltables/{name}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def status(self) -> dict[str, Any]:
        """Delay settings, backlog of replicated writes in flight, faults, and every global table."""
        return self._call("GET", "replication")

    def configure(
        self,
        delay: str | None = None,
        replica_transition_s: float | None = None,
        seed: int | None = None,
        timing: str | None = None,
    ) -> dict[str, Any]:
        """``delay``: ``MS``, ``fixed:MS``, ``uniform:LOW:HIGH`` or ``lognormal:MEDIAN:SIGMA`` (ms).
        ``timing``: ``fast`` or ``realistic``, optionally with ``,KEY=SECONDS`` overrides (KEY:
        ``create_table``, ``delete_table``, ``create_replica``, ``delete_replica``, ``sync``); applied
        before ``replica_transition_s``, which replaces its replica and synchronisation durations.
        Transitions already under way keep their end."""
        settings: dict[str, Any] = {}
        if delay is not None:
            settings["delay"] = delay
        if timing is not None:
            settings["timing"] = timing
        if replica_transition_s is not None:
            settings["replica_transition_s"] = replica_transition_s
        if seed is not None:
            settings["seed"] = seed
        return self._call("POST", "replication", settings)

    def set_outage(self, region: str, down: bool = True) -> dict[str, Any]:
        return self._call("POST", "faults", {"region": region, "outage": down})

    def set_isolated(self, region: str, isolated: bool = True) -> dict[str, Any]:
        """The region's APIs answer, but it reaches no other region: replicated writes to and from it are
        held (an MREC table keeps accepting writes there); an MRSC table there answers writes and strongly
        consistent reads with HTTP 500 InternalServerError, serves eventually consistent reads, and the
        other two regions keep serving (quorum of two)."""
        return self._call("POST", "faults", {"region": region, "isolated": isolated})

    def pause_replication(self, region: str) -> dict[str, Any]:
        return self._call("POST", "faults", {"region": region, "replication_paused": True})

    def resume_replication(self, region: str) -> dict[str, Any]:
        return self._call("POST", "faults", {"region": region, "replication_paused": False})

    def wait_until_replicated(self, timeout: float = 30.0, poll: float = 0.02) -> float:
        """Wait until no replicated write is in flight; returns the seconds waited."""
        started = time.monotonic()
        while True:
            backlog = self.status()["backlog"]
            if backlog == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise ReplicationTimeout(f"{backlog} replicated writes still in flight after {timeout:.0f}s")
            time.sleep(poll)

    def save_state(
        self, path: str | os.PathLike[str], settle_s: float = 10.0, quiesce_s: float = 30.0, timeout: float = 300.0
    ) -> dict[str, Any]:
        """Write the whole embedded AWS to ``path`` (atomically), for ``EmbeddedAWS(restore_from=path)``.

        Replicated writes in flight get up to ``settle_s`` to land; writes held for a paused or failed
        region are kept in the snapshot (and the faults with them). AWS requests in flight get up to
        ``quiesce_s`` to finish (new ones wait while the snapshot is taken). Returns ``saved`` (the
        absolute path), ``bytes``, ``seconds``, ``held`` and the faults; raises StateSaveError with the
        server's reason (409 when requests did not finish)."""
        target = os.path.abspath(path)
        request = {"save": target, "settle_s": settle_s, "quiesce_s": quiesce_s}
        try:
            return self._call("POST", "state", request, timeout=timeout)
        except urllib.error.HTTPError as error:
            try:
                reason = json.loads(error.read()).get("error") or error.reason
            except ValueError:
                reason = error.reason
            raise StateSaveError(f"the embedded AWS did not save its state to {target}: {reason}") from None
