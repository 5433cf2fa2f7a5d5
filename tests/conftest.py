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


@pytest.fixture(scope="session")
def capacity_clients():
    """Clients of an embedded AWS of its own that enforces provisioned capacity (``fast,capacity=on``)."""
    with EmbeddedAWS(replication_delay="0", replica_transition_s=0.1, timing="fast,capacity=on") as server:
        yield AwsClients("local", server.endpoint)


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
    for region in status["isolated_regions"]:
        api.set_isolated(region, False)
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


@pytest.fixture
def new_run(tmp_path, embedded_aws):
    """A fresh run (params, names, manifest) in a temporary outputs folder, as 00_setup would make it."""
    from globaltables.names import derive_names, new_run_id
    from globaltables.params import validate_params
    from globaltables.state import RunState

    def make(**params):
        validated = validate_params({"endpoint_url": embedded_aws.endpoint, "wait_timeout_s": 30, **params})
        names = derive_names(validated.table_name_prefix)
        return RunState.create(validated, names, new_run_id(), tmp_path / "outputs", account="123456789012")

    return make
