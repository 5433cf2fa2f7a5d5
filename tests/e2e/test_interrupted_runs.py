"""A batch run killed after each notebook in turn leaves a manifest from which cleanup removes
everything; resuming with --from continues the run; the real-AWS guard refuses before anything."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from globaltables.batch import PROJECT_DIR, list_notebooks
from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS

from tests.e2e.test_rerun import inventory

SMALL = [
    "-p",
    "wait_timeout_s=120",
    "-p",
    "item_count=30",
    "-p",
    "load_duration_s=0.5",
    "-p",
    "load_warmup_s=0.2",
    "-p",
    "load_key_space=50",
    "-p",
    "conflict_items=10",
    "-p",
    "conflict_delays_ms=[0]",
    "-p",
    "canary_rounds=1",
    "-p",
    "confirm_cleanup=false",
]
NOTEBOOKS = [p.stem for p in list_notebooks()]


@pytest.fixture(scope="module")
def server():
    with EmbeddedAWS(replication_delay="0", replica_transition_s=0.1) as embedded:
        yield embedded


def cli(*args, timeout=420):
    try:
        return subprocess.run(
            [sys.executable, "-m", "globaltables", *args],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout.decode(errors="replace") if isinstance(expired.stdout, bytes) else expired.stdout
        raise AssertionError(f"globaltables {' '.join(args[:3])} still running after {timeout}s:\n{output}") from None


def start_and_kill_after(server, outputs, run_id, notebook):
    """Start a full batch run and kill its whole process group once ``notebook`` has finished."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "globaltables",
            "run",
            "--outputs",
            str(outputs),
            "--run-id",
            run_id,
            "-p",
            f"endpoint_url={server.endpoint}",
            *SMALL,
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    result_file = outputs / run_id / "run.json"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                statuses = {nb["name"]: nb["status"] for nb in json.loads(result_file.read_text())["notebooks"]}
            except (FileNotFoundError, ValueError):
                statuses = {}
            if statuses.get(notebook) == "ok":
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"{notebook} did not finish before the deadline")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


# One test per notebook (killing after the last would leave nothing to test), so that parallel
# workers share the matrix; each compares the whole inventory before and after on its own server.
@pytest.mark.parametrize("notebook", NOTEBOOKS[:-1])
def test_killed_after_a_notebook_then_cleaned_up_leaves_nothing(server, tmp_path, isolated_home, notebook):
    clients = AwsClients("local", server.endpoint)
    empty = inventory(clients)
    run_id = f"killed-after-{notebook}".replace("_", "-")
    start_and_kill_after(server, tmp_path, run_id, notebook)
    manifest = json.loads((tmp_path / run_id / "state.json").read_text())
    if notebook != "00_setup":
        assert manifest["resources"], f"after {notebook} the manifest records what was made"
    completed = cli("cleanup", "--run-id", run_id, "--outputs", str(tmp_path), "-p", f"endpoint_url={server.endpoint}")
    assert completed.returncode == 0, f"after {notebook}: {completed.stdout}{completed.stderr}"
    assert "Nothing left." in completed.stdout
    remaining = inventory(clients)
    # KMS keys stay listed while pending deletion (7 days); everything else is as before the run.
    assert {k: v for k, v in remaining.items() if not k.endswith(" keys")} == {
        k: v for k, v in empty.items() if not k.endswith(" keys")
    }, notebook
    assert json.loads((tmp_path / run_id / "state.json").read_text())["resources"] == []


def test_double_cleanup_says_there_is_nothing_to_do(server, tmp_path, isolated_home):
    start_and_kill_after(server, tmp_path, "twice", "02_table_replicas")
    endpoint = ["-p", f"endpoint_url={server.endpoint}"]
    first = cli("cleanup", "--run-id", "twice", "--outputs", str(tmp_path), *endpoint)
    second = cli("cleanup", "--run-id", "twice", "--outputs", str(tmp_path), *endpoint)
    assert first.returncode == second.returncode == 0
    assert "deleted" in first.stdout
    assert "0 resources in the manifest" in second.stdout and "Nothing left." in second.stdout


def test_a_failed_run_resumes_with_from(server, tmp_path, isolated_home):
    start_and_kill_after(server, tmp_path, "resumed", "03_seed_data")
    completed = cli(
        "run",
        "--outputs",
        str(tmp_path),
        "--run-id",
        "resumed",
        "--from",
        "04_monitoring",
        "-p",
        f"endpoint_url={server.endpoint}",
        *SMALL[:-2],
        "-p",
        "confirm_cleanup=true",
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    statuses = {
        nb["name"]: nb["status"] for nb in json.loads((tmp_path / "resumed" / "run.json").read_text())["notebooks"]
    }
    # The record is the whole run's: 00-03 from the killed invocation, 04-09 from the resume.
    assert statuses == {name: "ok" for name in NOTEBOOKS}
    assert json.loads((tmp_path / "resumed" / "state.json").read_text())["resources"] == []


def test_real_aws_is_refused_without_cost_confirmation(tmp_path, isolated_home):
    completed = cli("run", "--outputs", str(tmp_path), "--params", "params/aws.example.yaml")
    assert completed.returncode == 2
    assert "confirm_costs" in completed.stderr and "billable" in completed.stderr
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_executed_notebooks_never_contain_credentials(server, tmp_path, isolated_home):
    secret_id, secret_key = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": secret_id, "AWS_SECRET_ACCESS_KEY": secret_key}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "globaltables",
            "run",
            "--outputs",
            str(tmp_path),
            "--run-id",
            "secrets",
            "-p",
            f"endpoint_url={server.endpoint}",
            *SMALL[:-2],
            "-p",
            "confirm_cleanup=true",
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    files = list((tmp_path / "secrets").iterdir())
    assert any(f.suffix == ".ipynb" for f in files) and any(f.suffix == ".html" for f in files)
    for path in files:
        text = path.read_text(errors="replace")
        assert secret_id not in text and secret_key not in text, path.name
        assert "aws_secret_access_key" not in text.lower(), path.name
