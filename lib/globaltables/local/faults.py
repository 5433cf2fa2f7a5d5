"""Fault switches of the embedded AWS, per region: an outage (the region's APIs answer 503), paused
replication to and from a region (the embedded twin of AWS FIS's
``aws:dynamodb:global-table-pause-replication``) and an isolated region (its APIs answer, but it reaches
no other region). All three hold replicated writes; recovery drains them. For an MRSC table each makes
the region unreachable by the others' quorum; an isolated region (or one with replication paused)
answers its own writes and strongly consistent reads with InternalServerError (``replication.strong``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from globaltables.local.replication.models import GlobalTables

# SigV4: Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261124/eu-west-1/dynamodb/aws4_request, ...
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


def request_region(environ: dict[str, Any]) -> str | None:
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else None


class OutageMiddleware:
    """Answers every AWS request signed for a region in outage with 503 ServiceUnavailable."""

    def __init__(self, app: Callable[..., Iterable[bytes]], model: GlobalTables):
        self.app = app
        self.model = model

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        region = request_region(environ)
        if region and region in self.model.outage_regions:
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
                    "message": f"Service unavailable: {region} is in a simulated outage (embedded AWS)",
                }
            ).encode()
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self.app(environ, start_response)


def admin_routes(model: GlobalTables) -> dict[tuple[str, str], Callable[[dict[str, Any], bytes], tuple[int, Any]]]:
    """``GET replication`` (status and backlog), ``POST replication`` (delay, timing, replica transition
    time), ``POST faults`` ({"region", "outage"?, "replication_paused"?, "isolated"?})."""
    from globaltables.local.replication.models import DelayDistribution, Timing

    def status(environ: dict[str, Any], body: bytes) -> tuple[int, Any]:
        return 200, model.status()

    def configure(environ: dict[str, Any], body: bytes) -> tuple[int, Any]:
        settings = json.loads(body or b"{}")
        unknown = set(settings) - {"delay", "timing", "replica_transition_s", "seed"}
        if unknown:
            raise ValueError(
                f"unknown replication settings {sorted(unknown)}: use delay, timing, replica_transition_s, seed"
            )
        if "delay" in settings:
            model.delay = DelayDistribution.parse(settings["delay"])
        if "timing" in settings:  # before replica_transition_s, which may then adjust it
            model.timing = Timing.parse(settings["timing"])
        if "replica_transition_s" in settings:
            seconds = float(settings["replica_transition_s"])
            if seconds < 0:
                raise ValueError("replica_transition_s must be >= 0")
            model.replica_transition_s = seconds
        if "seed" in settings:
            model.rng.seed(settings["seed"])
        return 200, model.status()

    def faults(environ: dict[str, Any], body: bytes) -> tuple[int, Any]:
        settings = json.loads(body or b"{}")
        region = settings.get("region")
        if not region:
            raise ValueError('a fault names its region: {"region": "eu-west-1", "outage": true}')
        unknown = set(settings) - {"region", "outage", "replication_paused", "isolated"}
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}: use outage, replication_paused, isolated")
        if "outage" in settings:
            model.set_outage(region, bool(settings["outage"]))
        if "replication_paused" in settings:
            model.set_paused(region, bool(settings["replication_paused"]))
        if "isolated" in settings:
            model.set_isolated(region, bool(settings["isolated"]))
        return 200, model.status()

    return {("GET", "replication"): status, ("POST", "replication"): configure, ("POST", "faults"): faults}
