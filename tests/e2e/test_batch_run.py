"""`python -m globaltables run` end to end: a real embedded AWS, real papermill, real outputs."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from globaltables.batch import PROJECT_DIR

from tests.e2e.test_browser_walkthrough import CHROMIUM_FLAGS, SCREENSHOTS, chromium, free_port
from tests.e2e.test_interrupted_runs import SMALL
from tests.e2e.test_stop_and_resume import NOTEBOOKS, finish, record, start, started, wait_for

RUN_ID = "e2e-run"


def run_cli(*args, cwd=PROJECT_DIR, timeout=900, env=None):
    return subprocess.run(
        [sys.executable, "-m", "globaltables", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@dataclass
class StoppedAndResumed:
    """A batch run stopped by Ctrl-C in 02 and finished by the resume command it printed."""

    stopped: subprocess.CompletedProcess  # the run Ctrl-C stopped
    run_after_stop: dict  # its run.json then
    report_after_stop: str  # its report.html then
    keys_before: set  # the KMS keys the manifest held then
    twin: subprocess.CompletedProcess  # a second run of the same run id while the first ran
    pid: int
    resume: str  # the resume command the stopped run printed
    completed: subprocess.CompletedProcess  # that command, run with cleanup confirmed
    outputs: Path
    folder: Path


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    """One whole batch run at small sizes (nbval runs the notebooks at their defaults), stopped by Ctrl-C
    in 02 and resumed with the command it printed, cleanup confirmed. The stop and the resume are checked
    here, the finished run's outputs too, and its report is opened in a browser: one run serves all three
    (a whole run is the dearest thing in the suite)."""
    home = tmp_path_factory.mktemp("batch")
    env = {**os.environ, "GLOBALTABLES_HOME": str(home / "home"), "GLOBALTABLES_OUTPUTS": str(home / "outputs")}
    env.pop("GLOBALTABLES_ENDPOINT", None)
    outputs, folder = home / "runs", home / "runs" / RUN_ID
    small = [*SMALL, "-p", "conflict_delays_ms=[0, 200]", "-p", "table_name_prefix=e2e"]
    process = start("--outputs", str(outputs), "--run-id", RUN_ID, *small, env=env)
    try:
        wait_for(lambda: started(folder, "00_setup"), "00 started")
        # The folder is this run's while it runs: a second run with the same id is refused at once.
        twin = run_cli("run", "--outputs", str(outputs), "--run-id", RUN_ID, timeout=60, env=env)
        wait_for(lambda: started(folder, "02_table_replicas"), "02 started")
        os.killpg(process.pid, signal.SIGINT)
    finally:
        code, out, err = finish(process)
    stopped = subprocess.CompletedProcess(process.args, code, out, err)
    run_after_stop = record(folder)
    report_after_stop = (folder / "report.html").read_text()
    manifest = json.loads((folder / "state.json").read_text())
    keys_before = {r["name"] for r in manifest["resources"] if r["kind"] == "kms:key"}
    found = re.search(r"resume: (python -m globaltables run .*)", out)
    resume = found.group(1) if found else ""
    # The printed command, as a person would paste it, finishing the run (cleanup confirmed).
    completed = run_cli(*shlex.split(resume)[3:], "-p", "confirm_cleanup=true", env=env) if resume else None
    return StoppedAndResumed(
        stopped, run_after_stop, report_after_stop, keys_before, twin, process.pid, resume, completed, outputs, folder
    )


def test_ctrl_c_stops_after_the_cell_and_the_printed_resume_continues_on_the_same_resources(batch_run):
    code, out, err = batch_run.stopped.returncode, batch_run.stopped.stdout, batch_run.stopped.stderr
    twin, folder, outputs = batch_run.twin, batch_run.folder, batch_run.outputs
    assert twin.returncode == 2, twin.stdout + twin.stderr
    assert f"run '{RUN_ID}' is in use by process {batch_run.pid}" in twin.stderr
    assert code == 130, out + err
    assert "stopping after the current cell" in err
    run = batch_run.run_after_stop
    assert run["state"] == "interrupted" and run["interrupted"] == "SIGINT"
    statuses = [nb["status"] for nb in run["notebooks"]]
    # 02 had just started: the run stops in it, after the cell that was running (or, if that was 02's
    # last cell on a slow machine, in the next notebook); nothing after it runs.
    stopped = next(nb for nb in run["notebooks"] if nb["status"] == "interrupted")
    assert stopped["name"] in ("02_table_replicas", "03_seed_data")
    assert statuses == ["ok"] * statuses.index("interrupted") + ["interrupted"] + ["not run"] * (
        len(NOTEBOOKS) - statuses.index("interrupted") - 1
    )
    after = f" after cell In [{stopped['cell']}]" if stopped["cell"] is not None else ""  # None: no code cell ran
    assert f"INTERRUPTED by SIGINT in {stopped['name']}{after}." in out
    assert "What exists now" in out and "kms:key" in out
    assert "INTERRUPTED (SIGINT)" in batch_run.report_after_stop
    assert (folder / "embedded-aws.state").exists()
    cleanup = f"python -m globaltables cleanup --run-id {RUN_ID} --outputs {outputs}"
    assert cleanup in out
    assert (
        batch_run.resume == f"python -m globaltables run --run-id {RUN_ID} --outputs {outputs} --from {stopped['name']}"
    )

    resumed = batch_run.completed
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"restored from {folder / 'embedded-aws.state'}" in resumed.stdout
    run = record(folder)
    assert {nb["name"]: nb["status"] for nb in run["notebooks"]} == {name: "ok" for name in NOTEBOOKS}
    again = next(nb for nb in run["notebooks"] if nb["name"] == stopped["name"])
    assert [attempt["status"] for attempt in again["earlier"]] == ["interrupted"]
    assert (folder / "attempts" / f"{stopped['name']}.attempt-1.ipynb").exists()
    report = (folder / "report.html").read_text()
    assert "Earlier attempts" in report
    # 01's keys were made before the stop; 10 scheduled the deletion of exactly those.
    deleted = nbformat.read(folder / "10_cleanup.ipynb", as_version=4)
    text = json.dumps([cell.get("outputs", []) for cell in deleted.cells])
    assert batch_run.keys_before and all(key in text for key in batch_run.keys_before)
    assert json.loads((folder / "state.json").read_text())["resources"] == []


def test_batch_run_writes_executed_notebooks_manifest_and_report(batch_run):
    completed, folder = batch_run.completed, batch_run.folder
    assert completed.returncode == 0, completed.stdout + completed.stderr
    notebooks = sorted(p.name for p in (PROJECT_DIR / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for name in notebooks:
        executed = nbformat.read(folder / name, as_version=4)
        assert executed.metadata["papermill"]["exception"] is None
        assert executed.metadata["papermill"]["parameters"]["run_id"] == RUN_ID
    # Each notebook ends with a check a person can read; their verdicts, in order:
    verdicts = [last_printed_line(folder / name) for name in notebooks]
    assert verdicts == [
        "Run ready: 3 regions, primary us-east-1, manifest written",
        "IAM role ready; 3 regional keys with rotation on",
        "3 regions ACTIVE: 2 replicas, PITR and deletion protection on everywhere",
        "0 failed writes; every replica holds exactly the 30 items written",
        "12 alarms with actions in 3 regions; replication lag measured on 6 region pairs",
        "function invoked in 3 regions; it wrote and read the table in all 3 regions each time",
        "PITR on in 3 regions; backup completed; restored table matches the source's 30 sample items",
        "load applied by this machine in 3 regions with 0 errors (0 throttled calls backed off); figures in performance.json and performance.csv",
        "2 storm(s) converged to identical replicas (0 throttled calls backed off); versioned and sharded idempotent updates lost nothing",
        "evacuation of ap-southeast-1: its traffic moved to us-east-1; after recovery every acknowledged write is in all "
        "3 regions; replication pause of ap-southeast-1: writes continued in every region; afterwards all 3 replicas "
        "hold every acknowledged write",
        f"nothing of run {RUN_ID} is left in 3 regions",
    ]
    assert (folder / "performance.csv").exists()
    state = json.loads((folder / "state.json").read_text())
    assert state["run_id"] == RUN_ID
    assert state["names"]["table_name"].startswith("e2e-")
    result = json.loads((folder / "run.json").read_text())
    assert [nb["status"] for nb in result["notebooks"]] == ["ok"] * len(notebooks)
    report = (folder / "report.html").read_text()
    assert f"Run <code>{RUN_ID}</code> succeeded" in report
    assert "00_setup" in report
    # The one-screen summary names each notebook and where the report is.
    assert f"Report:  {folder / 'report.html'}" in completed.stdout
    for name in notebooks:
        assert name.removesuffix(".ipynb") in completed.stdout


ALL_DRAWN = """() => {
    const charts = [...document.querySelectorAll('.plotly-graph-div')];
    return charts.length > 0 && charts.every(chart => chart.querySelector('.main-svg'));
}"""


def test_the_report_opens_offline_with_every_chart_drawn(batch_run):
    """Debian's Chromium, driven by Playwright, loads the run's ``report.html`` from disk behind a proxy
    that does not exist, every host name unresolvable and DevTools' offline mode on. Nothing may be
    requested but the file itself (plotly.js is in the page once; no MathJax, no CDN), every chart must be
    drawn, and the resources table says what became of each resource. Without Chromium the test is
    skipped with the reason, except under CI=true, where it fails."""
    completed, folder = batch_run.completed, batch_run.folder
    assert completed.returncode == 0, completed.stdout + completed.stderr
    browser_path = chromium()
    from playwright.sync_api import sync_playwright

    offline = [f"--proxy-server=http://127.0.0.1:{free_port()}", "--host-resolver-rules=MAP * ~NOTFOUND"]
    requested, failed = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS + offline)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        context.on("request", lambda request: requested.append(request.url))
        context.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
        page = context.new_page()
        devtools = context.new_cdp_session(page)
        devtools.send("Network.enable")
        devtools.send(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.goto((folder / "report.html").as_uri(), wait_until="load")
        page.wait_for_function(ALL_DRAWN, timeout=60_000)
        page.wait_for_load_state("networkidle")
        charts = page.locator(".plotly-graph-div")
        titles = [charts.nth(i).locator(".gtitle").first.text_content() for i in range(charts.count())]
        page.locator(".plotly-graph-div", has_text="Latency by percentile").first.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "05-report-offline-latency.png"))
        text = page.inner_text("body")
        browser.close()
    assert [url for url in requested if not url.startswith("file://")] == [], "requests left the machine"
    assert failed == []
    assert any(title.startswith("Latency by percentile") for title in titles), titles
    assert any(title.startswith("PutItem latency from the function") for title in titles), titles
    resources = text.split("Resources the run made", 1)[1].split("00_setup —", 1)[0]
    assert "what became of it" in resources and "02_table_replicas" in resources, resources
    assert "deleted (10_cleanup)" in resources and "scheduled for deletion in 7 days (10_cleanup)" in resources


def last_printed_line(path):
    executed = nbformat.read(path, as_version=4)
    last = [c for c in executed.cells if c.cell_type == "code"][-1]
    return "".join(o.get("text", "") for o in last.outputs if o.output_type == "stream").strip().splitlines()[-1]


def test_bad_parameters_stop_before_anything_starts(tmp_path, isolated_home):
    completed = run_cli("run", "--outputs", str(tmp_path), "-p", "regions=[us-east-1]")
    assert completed.returncode == 2
    assert "parameter 'regions' = ['us-east-1']" in completed.stderr
    assert "2 to 6" in completed.stderr
    assert "Embedded AWS" not in completed.stdout
    assert not any(tmp_path.iterdir())


def test_failing_notebook_is_named_with_its_cell_and_error(tmp_path, isolated_home):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name, source in [("00_ok", "x = 1"), ("01_broken", "y = 2\n"), ("02_never", "z = 3")]:
        cells = [
            nbformat.v4.new_code_cell("run_id = None", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(source),
        ]
        if name == "01_broken":
            cells.append(nbformat.v4.new_code_cell("raise RuntimeError('replica never became ACTIVE')"))
        nb = nbformat.v4.new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, notebooks / f"{name}.ipynb")
    completed = run_cli("run", "--outputs", str(tmp_path / "runs"), "--run-id", "bad", "--notebooks", str(notebooks))
    assert completed.returncode == 1
    expected = (
        "FAILED in 01_broken, cell In [4] (raise RuntimeError('replica never became ACTIVE')): "
        "RuntimeError: replica never became ACTIVE"
    )
    assert expected in completed.stdout
    result = json.loads((tmp_path / "runs" / "bad" / "run.json").read_text())
    assert [nb["status"] for nb in result["notebooks"]] == ["ok", "failed", "not run"]
    assert (tmp_path / "runs" / "bad" / "report.html").exists()
    assert (tmp_path / "runs" / "bad" / "01_broken.ipynb").exists()


def test_only_runs_the_named_notebooks(tmp_path, isolated_home):
    completed = run_cli("run", "--outputs", str(tmp_path), "--run-id", "only", "--only", "00_setup.ipynb")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert sorted(p.name for p in (tmp_path / "only").glob("*.ipynb")) == ["00_setup.ipynb"]
