"""Shared fixtures: one real embedded AWS process for the session, clients pointed at it."""

from __future__ import annotations

import pytest
from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS


@pytest.fixture(scope="session")
def embedded_aws():
    # Zero replication delay and short replica transitions keep the suite fast; tests that need
    # delays set them through the admin API (``replication_settings``) and get them reset after.
    with EmbeddedAWS(replication_delay="0", replica_transition_s=0.1) as server:
        yield server


@pytest.fixture
def admin(embedded_aws):
    """The embedded AWS's admin API; replication settings and faults are restored after the test."""
    api = embedded_aws.admin
    yield api
    status = api.status()
    for region in status["outage_regions"]:
        api.set_outage(region, False)
    for region in status["paused_regions"]:
        api.resume_replication(region)
    api.configure(delay="0", replica_transition_s=0.1)


@pytest.fixture(scope="session")
def clients(embedded_aws) -> AwsClients:
    return AwsClients("local", embedded_aws.endpoint)


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """Announcements and outputs go to a temporary folder, never the developer's own."""
    monkeypatch.setenv("GLOBALTABLES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GLOBALTABLES_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.delenv("GLOBALTABLES_ENDPOINT", raising=False)
    return tmp_path
