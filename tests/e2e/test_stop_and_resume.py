"""Ctrl-C and SIGTERM stop a batch run cleanly (after the current cell; at once when repeated). A whole
run stopped by Ctrl-C and resumed on the same resources, from the state its embedded AWS saved, is
test_batch_run.py's run (one whole run serves the stop, the resume and the batch-run checks)."""

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from globaltables.batch import PROJECT_DIR

NOTEBOOKS = sorted(p.stem for p in (PROJECT_DIR / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def start(*args, env=None):
    """A batch run in its own process group, as a terminal starts it (Ctrl-C goes to the whole group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "globaltables", "run", *args],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )


def wait_for(condition, what, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


def record(folder):
    try:
        return json.loads((folder / "run.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def started(folder, notebook):
    return any(nb["name"] == notebook and nb.get("started_at") for nb in record(folder).get("notebooks", []))


def finish(process, timeout=180):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(f"still running after {timeout}s:\n{out}\n{err}") from None
    return process.returncode, out, err


def sleepy_notebooks(folder, seconds):
    folder.mkdir()
    cells = [
        nbformat.v4.new_code_cell("run_id = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(f"import time\ntime.sleep({seconds})\nprint('slept')"),
        nbformat.v4.new_code_cell("print('after the sleep')"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "00_sleepy.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=cells[:1]), folder / "01_next.ipynb")
    return folder


def executed_sleep_cell(path):
    return nbformat.read(path, as_version=4).cells[2]  # after papermill's injected-parameters cell


def sleep_cell_running(path):
    """papermill saves the notebook as each cell starts: the sleeping cell is executing now."""
    try:
        return executed_sleep_cell(path).metadata["papermill"]["status"] == "running"
    except (FileNotFoundError, ValueError, KeyError, IndexError, AttributeError):
        return False  # not written yet, or being written


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_one_stop_signal_lets_the_running_cell_finish_then_stops(stop, tmp_path, isolated_home):
    notebooks = sleepy_notebooks(tmp_path / "notebooks", 3)
    process = start("--outputs", str(tmp_path / "runs"), "--run-id", "one", "--notebooks", str(notebooks))
    folder = tmp_path / "runs" / "one"
    try:
        wait_for(lambda: sleep_cell_running(folder / "00_sleepy.ipynb"), "00_sleepy's sleep started", timeout=60)
        time.sleep(1.0)  # well inside the 3 s sleep
        os.killpg(process.pid, stop)
    finally:
        code, out, err = finish(process, timeout=60)
    assert code == 130, out + err
    assert executed_sleep_cell(folder / "00_sleepy.ipynb").outputs[0]["text"] == "slept\n"
    statuses = {nb["name"]: nb["status"] for nb in record(folder)["notebooks"]}
    assert statuses == {"00_sleepy": "interrupted", "01_next": "not run"}
    assert f"INTERRUPTED by {stop.name} in 00_sleepy" in out


def test_a_second_ctrl_c_stops_at_once(tmp_path, isolated_home):
    notebooks = sleepy_notebooks(tmp_path / "notebooks", 120)
    process = start("--outputs", str(tmp_path / "runs"), "--run-id", "twice", "--notebooks", str(notebooks))
    folder = tmp_path / "runs" / "twice"
    try:
        wait_for(lambda: sleep_cell_running(folder / "00_sleepy.ipynb"), "00_sleepy's sleep started", timeout=60)
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(0.5)
        stopped_at = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
    finally:
        code, out, err = finish(process, timeout=60)
    assert code == 130, out + err
    assert time.monotonic() - stopped_at < 30, "a second Ctrl-C does not wait for the 120 s cell"
    entry = record(folder)["notebooks"][0]
    assert entry["status"] == "interrupted" and "stopped at once" in entry["error_value"]


def test_resuming_a_run_that_never_started_is_refused_up_front(tmp_path, isolated_home):
    started_at = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "globaltables", "run", "--outputs", str(tmp_path), "--from", "03_seed_data"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "has no manifest" in completed.stderr and "nothing to resume" in completed.stderr
    assert "Embedded AWS" not in completed.stdout
    assert not any(tmp_path.iterdir()), "nothing written"
    assert time.monotonic() - started_at < 30
