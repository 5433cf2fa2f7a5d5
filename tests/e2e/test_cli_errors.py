"""Bad arguments and unusable surroundings: exit 2 with one `error:` line, never a traceback; `lab`
prints the URL JupyterLab really serves; a killed batch run leaves no kernel sockets behind."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from globaltables.batch import NOTEBOOKS_DIR, PROJECT_DIR

KERNELS_PREFIX = "globaltables-kernels-"  # batch.KERNELS_PREFIX: the temp folders of runs' kernels


@pytest.fixture
def env(tmp_path):
    """The CLI's environment: announcements, outputs and Jupyter's runtime files in tmp_path."""
    values = {
        **os.environ,
        "GLOBALTABLES_HOME": str(tmp_path / "home"),
        "GLOBALTABLES_OUTPUTS": str(tmp_path / "outputs"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
    }
    values.pop("GLOBALTABLES_ENDPOINT", None)
    values.pop("GLOBALTABLES_BATCH", None)
    return values


def cli(env, *args, module="globaltables", timeout=120):
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_error_line(completed, *fragments):
    assert completed.returncode == 2, completed.stdout + completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), completed.stderr
    for fragment in fragments:
        assert fragment in lines[0], completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["local", "lab"])
@pytest.mark.parametrize("port", ["99999", "-1", "0", "http"])
def test_port_outside_1_to_65535_is_refused(env, command, port):
    completed = cli(env, command, "--port", port, "--no-browser" if command == "lab" else "--verbose")
    assert_one_error_line(completed, "--port", "1 to 65535")
    assert "READY" not in completed.stdout


def test_server_module_refuses_a_port_outside_0_to_65535(env):
    completed = cli(env, "--port", "65536", module="globaltables.local.server")
    assert completed.returncode == 2
    assert "0 to 65535" in completed.stderr and "Traceback" not in completed.stderr


def test_local_on_a_port_in_use_says_so(env, taken_port):
    completed = cli(env, "local", "--port", str(taken_port))
    assert_one_error_line(completed, f"--port {taken_port}", "in use")


def test_local_with_an_unwritable_home_names_the_file_and_the_fix(env, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder\n")
    env["GLOBALTABLES_HOME"] = str(blocker / "sub")  # unwritable for root too
    completed = cli(env, "local")
    assert_one_error_line(completed, str(blocker / "sub" / "embedded-aws.json"), "GLOBALTABLES_HOME")
    assert "READY" not in completed.stdout  # refused before serving


def test_lab_with_an_unwritable_home_stops_before_starting_anything(env, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder\n")
    env["GLOBALTABLES_HOME"] = str(blocker / "sub")
    completed = cli(env, "lab", "--no-browser")
    assert_one_error_line(completed, str(blocker / "sub" / "embedded-aws.json"), "GLOBALTABLES_HOME")
    assert "Embedded AWS" not in completed.stdout


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def test_lab_on_a_taken_port_prints_the_url_jupyterlab_serves(env, tmp_path, taken_port):
    env["JUPYTER_TOKEN"] = token = "globaltables-test"
    process = subprocess.Popen(
        [sys.executable, "-m", "globaltables", "lab", "--port", str(taken_port), "--no-browser"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "lab.log", "w"),
        text=True,
        start_new_session=True,
    )
    embedded_pid = None
    try:
        said = []
        for line in process.stdout:
            said.append(line)
            found = re.search(r"JupyterLab on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        else:
            raise AssertionError("lab printed no URL: " + "".join(said) + (tmp_path / "lab.log").read_text()[-2000:])
        assert port != taken_port
        assert f"{taken_port} is in use" in "".join(said)
        embedded_pid = json.loads((tmp_path / "home" / "embedded-aws.json").read_text())["pid"]
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as answer:
                    assert "started" in json.loads(answer.read())
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(
                        f"JupyterLab does not answer on {port}: " + (tmp_path / "lab.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    # Nothing lingers: JupyterLab's port closes, and the embedded AWS follows its starter.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            serving = probe.connect_ex(("127.0.0.1", port)) == 0
        if not serving and (embedded_pid is None or _gone(embedded_pid)):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"JupyterLab on {port} or the embedded AWS ({embedded_pid}) outlived lab")


def _kernel_folders(pid, temp):
    return list(Path(temp).glob(f"{KERNELS_PREFIX}{pid}-*"))


def _running_cells(path):
    try:
        return [c for c in nbformat.read(path, as_version=4).cells if c.get("execution_count")]
    except (OSError, ValueError, AttributeError):
        return []


@pytest.fixture
def own_temp(env):
    """A temporary folder of the test's own, as TMPDIR: runs of other tests (other xdist workers) sweep
    the kernel folders of dead runs in theirs, not here. Short: it holds the kernels' Unix sockets."""
    temp = tempfile.mkdtemp(prefix="gt-")
    env["TMPDIR"] = temp
    yield temp
    shutil.rmtree(temp, ignore_errors=True)


def test_killed_run_leaves_no_kernel_sockets_and_the_next_run_sweeps_them(embedded_aws, env, own_temp, tmp_path):
    outputs = tmp_path / "runs"
    endpoint = ["-p", f"endpoint_url={embedded_aws.endpoint}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "globaltables", "run", "--outputs", str(outputs), "--run-id", "killed"]
        + ["--only", "00_setup,01_iam_kms", *endpoint],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not _running_cells(outputs / "killed" / "01_iam_kms.ipynb"):  # 01's kernel runs its cells
            assert process.poll() is None, "the run ended before it could be killed during 01_iam_kms"
            assert time.monotonic() < deadline, "01_iam_kms did not start"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    time.sleep(2)  # the kernel notices its runner is gone (within a second) and exits
    strays = [p.name for p in NOTEBOOKS_DIR.iterdir() if p.suffix != ".ipynb" and not p.name.startswith(".")]
    assert strays == [], "kernel files left next to the notebooks"
    left = _kernel_folders(process.pid, own_temp)
    assert left, "the killed run's kernel folder (connection files, sockets) should still be in the temp folder"
    assert any(p.suffix == ".json" for p in left[0].iterdir())

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebooks / "00_tiny.ipynb")
    completed = cli(env, "run", "--outputs", str(outputs), "--notebooks", str(notebooks), *endpoint, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert _kernel_folders(process.pid, own_temp) == [], "the next run sweeps the folder of a run that is gone"
    assert [p.name for p in notebooks.iterdir()] == ["00_tiny.ipynb"]


@pytest.mark.parametrize("run_id", ["README.md", "LATEST"])
def test_a_run_id_naming_a_file_of_the_outputs_folder_is_refused(env, tmp_path, run_id):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "README.md").write_text("the outputs folder's own readme\n")
    for command in (["run", "--only", "00_setup"], ["cleanup"]):
        completed = cli(env, *command, "--outputs", str(outputs), "--run-id", run_id)
        assert completed.returncode == 2, completed.stdout + completed.stderr
        assert f"parameter 'run_id' = '{run_id}'" in completed.stderr and "choose another run id" in completed.stderr
        assert "Traceback" not in completed.stdout + completed.stderr
    assert sorted(p.name for p in outputs.iterdir()) == ["README.md"]


def test_params_naming_a_folder_and_an_unclosed_list_are_refused_in_a_line(env, tmp_path):
    folder = cli(env, "run", "--outputs", str(tmp_path), "--params", str(tmp_path))
    assert folder.returncode == 2 and "--params" in folder.stderr and "Traceback" not in folder.stderr
    unclosed = cli(env, "run", "--outputs", str(tmp_path), "-p", "regions=[us-east-1")
    assert unclosed.returncode == 2 and "-p regions" in unclosed.stderr and "Traceback" not in unclosed.stderr
