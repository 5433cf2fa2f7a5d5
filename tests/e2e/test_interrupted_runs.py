"""A batch run killed after each notebook in turn leaves a manifest from which cleanup removes
everything; resuming with --from continues the run; the real-AWS guard refuses before anything;
no executed notebook or report holds the credentials the run used."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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
    "drill_duration_s=0.6",
    "-p",
    "drill_cut_after_s=0.2",
    "-p",
    "drill_pause_s=0.2",
    "-p",
    "confirm_cleanup=false",
]
NOTEBOOKS = [p.stem for p in list_notebooks()]
RUN_ID = "killed"
SECRET_ID, SECRET_KEY = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def embedded_aws(**options) -> EmbeddedAWS:
    return EmbeddedAWS(replication_delay="0", replica_transition_s=0.1, **options)


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


def start_and_kill_after(server, outputs, run_id, notebook, *options):
    """Start a batch run (``options``: e.g. ``--from NB`` to resume) and kill its whole process group
    with SIGKILL once ``notebook`` has finished."""
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
            *options,
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


@dataclass
class KilledRun:
    empty: dict  # the embedded AWS's inventory before the run
    folders: dict[str, Path]  # notebook -> the run's folder as the kill after it left it
    states: dict[str, Path]  # notebook -> the embedded AWS's saved state at that kill
    resumed: subprocess.CompletedProcess  # the last resume, which ran the cleanup notebook
    final_folder: Path


# The module's tests share one killed-and-resumed run: `make test` keeps a file's tests on one worker,
# and a session fixture is made once there even if that worker runs other tests in between.
@pytest.fixture(scope="session")
def killed_run(tmp_path_factory):
    """One run killed after each notebook in turn and resumed with ``--from`` the next, every kill a
    SIGKILL of the whole process group; at each kill the run's folder and the embedded AWS's state are
    kept, so that each test cleans up from exactly what that kill left. The credentials are fake
    secrets that no output may contain. (Nine fresh runs, each killed later, would execute 45
    notebooks; this executes each once.)"""
    folder = tmp_path_factory.mktemp("killed-run")
    outputs = folder / "runs"
    folders, states = {}, {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GLOBALTABLES_HOME", str(folder / "home"))
        env.setenv("GLOBALTABLES_OUTPUTS", str(outputs))
        env.delenv("GLOBALTABLES_ENDPOINT", raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", SECRET_ID)
        env.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        with embedded_aws() as server:
            empty = inventory(AwsClients("local", server.endpoint))
            for index, notebook in enumerate(NOTEBOOKS[:-1]):
                options = SMALL if index == 0 else ["--from", notebook]
                start_and_kill_after(server, outputs, RUN_ID, notebook, *options)
                folders[notebook] = shutil.copytree(outputs / RUN_ID, folder / "after" / notebook / RUN_ID)
                states[notebook] = folder / "after" / notebook / "embedded-aws.state"
                server.admin.save_state(states[notebook])
            resumed = cli(
                "run",
                "--outputs",
                str(outputs),
                "--run-id",
                RUN_ID,
                "--from",
                NOTEBOOKS[-1],
                "-p",
                f"endpoint_url={server.endpoint}",
                "-p",
                "confirm_cleanup=true",
            )
    return KilledRun(empty, folders, states, resumed, outputs / RUN_ID)


def without_keys(found: dict) -> dict:
    # KMS keys stay listed while pending deletion (7 days); everything else is as before the run.
    return {k: v for k, v in found.items() if not k.endswith(" keys")}


@pytest.mark.parametrize("notebook", NOTEBOOKS[:-1])
def test_killed_after_a_notebook_then_cleaned_up_leaves_nothing(killed_run, tmp_path, isolated_home, notebook):
    shutil.copytree(killed_run.folders[notebook], tmp_path / RUN_ID)
    manifest = json.loads((tmp_path / RUN_ID / "state.json").read_text())
    if notebook != "00_setup":
        assert manifest["resources"], f"after {notebook} the manifest records what was made"
    with embedded_aws(restore_from=killed_run.states[notebook]) as server:
        endpoint = f"endpoint_url={server.endpoint}"
        completed = cli("cleanup", "--run-id", RUN_ID, "--outputs", str(tmp_path), "-p", endpoint)
        assert completed.returncode == 0, f"after {notebook}: {completed.stdout}{completed.stderr}"
        assert "Nothing left." in completed.stdout
        remaining = inventory(AwsClients("local", server.endpoint))
    assert without_keys(remaining) == without_keys(killed_run.empty), notebook
    assert json.loads((tmp_path / RUN_ID / "state.json").read_text())["resources"] == []


def test_double_cleanup_says_there_is_nothing_to_do(killed_run, tmp_path, isolated_home):
    shutil.copytree(killed_run.folders["02_table_replicas"], tmp_path / RUN_ID)
    with embedded_aws(restore_from=killed_run.states["02_table_replicas"]) as server:
        endpoint = ["-p", f"endpoint_url={server.endpoint}"]
        first = cli("cleanup", "--run-id", RUN_ID, "--outputs", str(tmp_path), *endpoint)
        second = cli("cleanup", "--run-id", RUN_ID, "--outputs", str(tmp_path), *endpoint)
    assert first.returncode == second.returncode == 0
    assert "deleted" in first.stdout
    assert "0 resources in the manifest" in second.stdout and "Nothing left." in second.stdout


def test_a_failed_run_resumes_with_from(killed_run):
    completed = killed_run.resumed
    assert completed.returncode == 0, completed.stdout + completed.stderr
    notebooks = json.loads((killed_run.final_folder / "run.json").read_text())["notebooks"]
    # The record is the whole run's: each notebook from the invocation killed after it, the cleanup
    # notebook from the last resume.
    assert {nb["name"]: nb["status"] for nb in notebooks} == {name: "ok" for name in NOTEBOOKS}
    assert json.loads((killed_run.final_folder / "state.json").read_text())["resources"] == []


def test_real_aws_is_refused_without_cost_confirmation(tmp_path, isolated_home):
    completed = cli("run", "--outputs", str(tmp_path), "--params", "params/aws.example.yaml")
    assert completed.returncode == 2
    assert "confirm_costs" in completed.stderr and "billable" in completed.stderr
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_executed_notebooks_never_contain_credentials(killed_run):
    files = [path for path in killed_run.final_folder.parent.parent.rglob("*") if path.is_file()]
    assert any(f.suffix == ".ipynb" for f in files) and any(f.suffix == ".html" for f in files)
    for path in files:
        if path.name == "embedded-aws.state":
            continue  # the embedded AWS's own state, kept by the test, not an output of the run
        text = path.read_text(errors="replace")
        assert SECRET_ID not in text and SECRET_KEY not in text, path.name
        assert "aws_secret_access_key" not in text.lower(), path.name
