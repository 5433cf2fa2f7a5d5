"""Shared fixtures: one real embedded AWS process for the session, clients pointed at it."""

from __future__ import annotations

import pytest
from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS


@pytest.fixture(scope="session")
def embedded_aws():
    with EmbeddedAWS() as server:
        yield server


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
