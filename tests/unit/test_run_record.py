"""The run's record and its parameters: step parameters recorded as used, what a rerun may change, the
run lock, attempts kept across invocations, and every schema parameter declared where it is used."""

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from globaltables.batch import NotebookResult, RunResult, list_notebooks, summary_lines
from globaltables.names import derive_names
from globaltables.params import (
    SETUP_NOTEBOOK,
    STEP_PARAMETERS,
    ParameterError,
    Params,
    parameter_notebook,
    validate_params,
)
from globaltables.state import RunInUse, RunLock, RunState, check_resumable_changes, check_run_folder

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(tmp_path):
    params = validate_params({"endpoint_url": "http://127.0.0.1:1"})
    return RunState.create(params, derive_names(params.table_name_prefix), "r1", tmp_path, account="123456789012")


def test_a_step_parameter_is_recorded_as_the_step_used_it(run, tmp_path):
    used = run.use_step_parameters(item_count=1, data_seed=None)
    assert used.item_count == 1 and used.data_seed == 42  # None keeps the run's value
    assert json.loads((tmp_path / "r1" / "state.json").read_text())["params"]["item_count"] == 1


def test_a_run_wide_parameter_cannot_be_set_by_a_later_notebook(run):
    with pytest.raises(ParameterError, match="parameter 'billing_mode'.*set for the whole run in 00_setup"):
        run.use_step_parameters(billing_mode="PROVISIONED")


def test_a_bad_step_value_is_refused_with_the_parameter_named(run):
    with pytest.raises(ParameterError, match="parameter 'item_count' = True"):
        run.use_step_parameters(item_count=True)


def test_setup_rerun_cannot_change_what_shapes_existing_resources(run, tmp_path):
    run.record("dynamodb:table", run.names.table_name, "us-east-1")
    changed = run.params.model_copy(update={"regions": ["us-east-1", "eu-west-1"], "billing_mode": "PROVISIONED"})
    with pytest.raises(ParameterError) as refused:
        RunState.create(changed, run.names, "r1", tmp_path)
    assert {problem.key for problem in refused.value.problems} == {"regions", "billing_mode"}
    assert "cannot change within a run" in str(refused.value)
    # What does not shape resources may change on a rerun.
    RunState.create(run.params.model_copy(update={"item_count": 5}), run.names, "r1", tmp_path)


def test_a_resume_refuses_a_step_parameter_whose_notebook_does_not_run(run):
    wanted = run.params.model_copy(update={"item_count": 7, "wait_timeout_s": 60.0})
    with pytest.raises(ParameterError, match="'item_count'.*used by 03_seed_data, which this invocation does not run"):
        check_resumable_changes(run, wanted, reaching={"load_mode"})
    check_resumable_changes(run, wanted, reaching={"item_count"})  # run-wide wait_timeout_s is recorded instead


def test_run_ids_that_name_the_runbooks_own_files_are_refused(tmp_path):
    (tmp_path / "README.md").write_text("x")
    for name in ("README.md", "LATEST", "lab-params.yaml"):
        with pytest.raises(ParameterError, match="parameter 'run_id'"):
            check_run_folder(tmp_path, name)
    check_run_folder(tmp_path, "a-new-run")


def test_a_run_lock_is_held_by_one_process_and_freed_when_it_dies(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from globaltables.state import RunLock; lock = RunLock(sys.argv[1]).acquire(); "
            "print('held', flush=True); time.sleep(60)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInUse, match=f"in use by process {holder.pid}"):
            RunLock(folder).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    with RunLock(folder):  # the kernel released the dead holder's lock
        pass


def test_a_new_attempt_keeps_the_earlier_one_and_its_executed_notebook(tmp_path):
    executed = tmp_path / "03_seed_data.ipynb"
    executed.write_text("{}")
    entry = NotebookResult("03_seed_data", "failed", 2.0, str(executed), 4, "x()", "ValueError", "boom", "t0")
    entry.start_new_attempt(tmp_path)
    assert entry.status == "not run" and entry.output is None
    assert entry.earlier[0]["status"] == "failed" and entry.earlier[0]["error_value"] == "boom"
    assert Path(entry.earlier[0]["output"]) == tmp_path / "attempts" / "03_seed_data.attempt-1.ipynb"
    assert Path(entry.earlier[0]["output"]).exists() and not executed.exists()


def test_the_record_accumulates_across_invocations(tmp_path):
    first = RunResult.load_or_new(tmp_path, "r", "local")
    first.entry("00_setup").status = "ok"
    first.entry("01_iam_kms").status = "failed"
    first.invoked = ["00_setup", "01_iam_kms"]
    first.save()
    again = RunResult.load_or_new(tmp_path, "r", "local")
    again.entry("01_iam_kms").start_new_attempt(tmp_path)
    again.entry("01_iam_kms").status = "ok"
    again.invoked = ["01_iam_kms"]
    assert [nb.name for nb in again.notebooks] == ["00_setup", "01_iam_kms"]
    assert again.ok and again.entry("01_iam_kms").earlier[0]["status"] == "failed"
    text = "\n".join(summary_lines(again))
    assert re.search(r"00_setup\s+ok.*\(earlier\)", text) and "attempt 2" in text


def test_an_interrupted_run_prints_where_it_stopped_and_both_commands(tmp_path):
    result = RunResult("r9", str(tmp_path), "local", invoked=["00_setup", "01_iam_kms"], interrupted="SIGINT")
    result.notebooks = [
        NotebookResult("00_setup", "ok", 1.0),
        NotebookResult("01_iam_kms", "interrupted", 0.5, cell=3),
    ]
    text = "\n".join(summary_lines(result, command_options=" --outputs /o"))
    assert "INTERRUPTED by SIGINT in 01_iam_kms after cell In [3]." in text
    assert "resume: python -m globaltables run --run-id r9 --outputs /o --from 01_iam_kms" in text
    assert "python -m globaltables cleanup --run-id r9 --outputs /o" in text
    assert not result.ok and result.state == "interrupted"


def declared(notebook: Path) -> set[str]:
    return set(papermill.inspect_notebook(str(notebook)))


def test_setup_declares_every_parameter_and_each_step_notebook_its_own():
    notebooks = {path.stem: path for path in list_notebooks()}
    assert declared(notebooks[SETUP_NOTEBOOK]) == set(Params.model_fields) | {"outputs_dir"}
    for stem, path in notebooks.items():
        if stem != SETUP_NOTEBOOK:
            assert declared(path) == {"run_id", "outputs_dir", *STEP_PARAMETERS.get(stem, ())}, stem


def test_every_parameter_is_used_by_a_step():
    """A parameter nothing reads would be accepted and ignored: each one is read by the library or a notebook."""
    code = "\n".join(path.read_text() for path in (PROJECT / "lib" / "globaltables").rglob("*.py"))
    code = code.replace((PROJECT / "lib" / "globaltables" / "params.py").read_text(), "")
    for path in list_notebooks():
        notebook = nbformat.read(path, as_version=4)
        code += "\n".join(cell.source for cell in notebook.cells if "parameters" not in cell.metadata.get("tags", []))
    for name in Params.model_fields:
        assert re.search(rf"\.{name}\b|\b{name}=", code), f"{name} is declared but no step reads it"
    assert all(parameter_notebook(name) in {p.stem for p in list_notebooks()} for name in Params.model_fields)


def test_open_run_returns_the_line_each_notebook_prints(run, tmp_path):
    from globaltables.runbook import open_run

    opened, clients, summary = open_run("r1", tmp_path)
    assert opened.run_id == "r1" and clients is not None
    regions = ", ".join(run.params.regions)
    assert summary == f"run r1: eventual (MREC) table {run.names.table_name} in {regions} (local)"


def test_the_summary_of_a_strong_run_names_its_mode_and_witness(tmp_path):
    from globaltables.runbook import open_run

    params = validate_params(
        {
            "endpoint_url": "http://127.0.0.1:1",
            "consistency": "strong",
            "regions": ["us-east-1", "us-east-2"],
            "witness_region": "us-west-2",
        }
    )
    created = RunState.create(params, derive_names(params.table_name_prefix), "s1", tmp_path)
    summary = open_run("s1", tmp_path).summary
    assert summary == (
        f"run s1: strong (MRSC) table {created.names.table_name} in us-east-1, us-east-2, witness in us-west-2 (local)"
    )
