"""Per-region boto3 clients for either target, cached per service and region."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from globaltables.endpoint import resolve_endpoint
from globaltables.params import Params

# The embedded AWS accepts any credentials; fixed dummy ones keep a developer's real profile
# from ever being sent to it (and it from ever being used by accident).
LOCAL_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=60,
    # Seeding and load tests share one client between many threads.
    max_pool_connections=64,
)
UNRETRIED = Config(retries={"mode": "standard", "total_max_attempts": 1})


class AwsClients:
    """Gives ``client(service, region)`` for real AWS or the embedded one; one cached client per pair.

    boto3 sessions are not thread-safe while they create clients, so creation is locked; the
    clients themselves are thread-safe and shared.
    """

    def __init__(self, target: str = "local", endpoint_url: str | None = None, profile_name: str | None = None):
        self.target = target
        self.endpoint_url = resolve_endpoint(endpoint_url) if target == "local" else None
        if target == "local":
            self._session = boto3.session.Session(**LOCAL_CREDENTIALS)
        else:
            self._session = boto3.session.Session(profile_name=profile_name)
        self._cache: dict[tuple[str, str, bool], Any] = {}
        self._lock = threading.Lock()

    @property
    def poll_interval_s(self) -> float:
        """How often to poll a status: the embedded AWS changes state in seconds, AWS in minutes."""
        return 0.1 if self.target == "local" else 5.0

    @classmethod
    def for_params(cls, params: Params) -> AwsClients:
        return cls(target=params.target, endpoint_url=params.endpoint_url)

    def client(self, service: str, region: str, retries: bool = True) -> Any:
        """The cached client; ``retries=False``: one attempt a call, for callers that count and back off
        throttles themselves (``throttling``)."""
        key = (service, region, retries)
        with self._lock:
            if key not in self._cache:
                config = CLIENT_CONFIG if retries else CLIENT_CONFIG.merge(UNRETRIED)
                self._cache[key] = self._session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=config
                )
            return self._cache[key]

    def resource(self, service: str, region: str) -> Any:
        """A boto3 resource (e.g. a DynamoDB ``Table`` factory); resources are not cached nor shared across threads."""
        with self._lock:
            return self._session.resource(
                service, region_name=region, endpoint_url=self.endpoint_url, config=CLIENT_CONFIG
            )

    def __repr__(self) -> str:
        where = self.endpoint_url or "AWS"
        return f"AwsClients(target={self.target!r}, endpoint={where!r})"
