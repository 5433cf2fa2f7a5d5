import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from globaltables.endpoint import EndpointNotFound, announced_endpoint, resolve_endpoint
from globaltables.local import EmbeddedAWS, extensions
from globaltables.local.process import probe


def test_server_binds_loopback_only(embedded_aws):
    host, port = embedded_aws.endpoint.removeprefix("http://").rsplit(":", 1)
    assert host == "127.0.0.1"
    # Nothing listens on the machine's other addresses for that port.
    others = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for address in others - {"127.0.0.1"}:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            assert sock.connect_ex((address, int(port))) != 0


def test_health_route_reports_the_pinned_moto(embedded_aws):
    health = probe(embedded_aws.endpoint)
    assert health["status"] == "ok" and health["moto"] == extensions.MOTO_VERSION


def test_unknown_admin_route_is_a_404(embedded_aws):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{embedded_aws.endpoint}/_globaltables/nope")
    assert caught.value.code == 404


def test_regions_are_separate_worlds(clients):
    east = clients.client("dynamodb", "us-east-1")
    west = clients.client("dynamodb", "eu-west-1")
    east.create_table(
        TableName="only-in-east",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    # The session's server holds other tests' tables too: read every page (ListTables gives 100 a page).
    def names(client):
        return {name for page in client.get_paginator("list_tables").paginate() for name in page["TableNames"]}

    assert "only-in-east" in names(east)
    assert "only-in-east" not in names(west)


def test_installed_moto_is_the_pinned_one():
    # The extensions hook moto internals; a different version must fail loudly, not subtly.
    extensions.check_moto_version()


def test_wrong_moto_version_is_refused(monkeypatch):
    monkeypatch.setattr(extensions.moto, "__version__", "0.0.1")
    with pytest.raises(extensions.MotoHookMissing, match="0.0.1"):
        extensions.check_moto_version()


def test_stop_ends_the_process_and_frees_the_port():
    server = EmbeddedAWS()
    endpoint = server.start()
    server.stop()
    assert server.process.poll() is not None
    with pytest.raises(OSError):
        probe(endpoint, timeout=0.5)


def test_foreground_server_announces_itself_and_withdraws_on_sigterm(isolated_home):
    process = subprocess.Popen(
        [sys.executable, "-m", "globaltables", "local"], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("READY http://127.0.0.1:")
        endpoint = first.split()[1]
        banner = process.stdout.readline()
        assert endpoint in banner
        assert announced_endpoint() == endpoint
        assert resolve_endpoint() == endpoint
        assert json.loads(urllib.request.urlopen(f"{endpoint}/_globaltables/health").read())["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert announced_endpoint() is None


def test_a_burst_of_sigterms_at_start_up_stops_the_server(isolated_home):
    """A signal landing while the main thread entered its wait once deadlocked the server (CI, under load);
    50 signals at once hung four starts in five of the old server."""
    process = subprocess.Popen(
        [sys.executable, "-m", "globaltables", "local"], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert process.stdout.readline().startswith("READY ")
        for _ in range(50):
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
        process.wait()
    assert announced_endpoint() is None


def test_no_endpoint_anywhere_is_a_clear_error(isolated_home):
    with pytest.raises(EndpointNotFound, match="python -m globaltables local"):
        resolve_endpoint()


def test_announcement_of_a_dead_server_is_ignored(isolated_home):
    from globaltables.endpoint import announcement_path

    announcement_path().parent.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    announcement_path().write_text(json.dumps({"endpoint": "http://127.0.0.1:1", "pid": dead.pid}))
    assert announced_endpoint() is None


def test_endpoint_order_is_parameter_then_environment(isolated_home, monkeypatch):
    monkeypatch.setenv("GLOBALTABLES_ENDPOINT", "http://127.0.0.1:2222/")
    assert resolve_endpoint() == "http://127.0.0.1:2222"
    assert resolve_endpoint("http://127.0.0.1:3333") == "http://127.0.0.1:3333"


def test_server_ends_when_the_process_that_started_it_is_killed(tmp_path):
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from globaltables.local import EmbeddedAWS\n"
            "server = EmbeddedAWS(); print(server.start(), server.process.pid, flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    endpoint, pid = starter.stdout.readline().split()
    probe(endpoint)
    starter.kill()  # SIGKILL: no cleanup code of the starter runs
    starter.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the embedded AWS outlived the process that started it")
