import nbformat
import pytest
from globaltables.batch import (
    NotebookResult,
    RunResult,
    list_notebooks,
    notebook_parameters,
    select_notebooks,
    summary_lines,
)
from globaltables.params import ParameterError


@pytest.fixture
def notebooks(tmp_path):
    for name in ["00_setup", "01_iam_kms", "02_table_replicas", "notes"]:
        nb = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("run_id = None\nregions = []", metadata={"tags": ["parameters"]})]
        )
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    return list_notebooks(tmp_path)


def test_only_numbered_notebooks_are_listed_in_order(notebooks):
    assert [p.stem for p in notebooks] == ["00_setup", "01_iam_kms", "02_table_replicas"]


def test_only_accepts_names_with_or_without_extension(notebooks):
    chosen = select_notebooks(notebooks, only=["02_table_replicas.ipynb", "00_setup"])
    assert [p.stem for p in chosen] == ["00_setup", "02_table_replicas"]


def test_from_runs_the_rest(notebooks):
    assert [p.stem for p in select_notebooks(notebooks, start_from="01_iam_kms")] == ["01_iam_kms", "02_table_replicas"]


@pytest.mark.parametrize(("only", "start"), [(["03_nope"], None), (None, "nope")])
def test_unknown_notebook_names_list_what_exists(notebooks, only, start):
    with pytest.raises(ParameterError, match="available: 00_setup, 01_iam_kms, 02_table_replicas"):
        select_notebooks(notebooks, only=only, start_from=start)


def test_only_the_declared_parameters_are_injected(notebooks):
    given = {"run_id": "r", "regions": ["us-east-1"], "target": "local"}
    assert notebook_parameters(notebooks[0], given) == {"run_id": "r", "regions": ["us-east-1"]}


def test_summary_names_the_failing_notebook_cell_and_error():
    result = RunResult(
        run_id="r",
        folder="/o/r",
        target="local",
        notebooks=[
            NotebookResult("00_setup", "ok", 1.5),
            NotebookResult("01_iam_kms", "failed", 0.5, "/o/r/01.ipynb", 7, "f()", "ValueError", "boom"),
            NotebookResult("02_table_replicas", "not run"),
        ],
        invoked=["00_setup", "01_iam_kms", "02_table_replicas"],
    )
    text = "\n".join(summary_lines(result))
    assert "FAILED in 01_iam_kms, cell In [7] (f()): ValueError: boom" in text
    assert "02_table_replicas  not run" in text
    assert not result.ok and result.failure.name == "01_iam_kms"


def test_a_kernel_killed_by_the_stop_while_it_starts_leaves_the_notebook_interrupted(notebooks, tmp_path, monkeypatch):
    """A Ctrl-C to the process group while a kernel is being started reaches it before its new session
    and kills it (seen in CI): the run is interrupted there and resumable, not failed."""
    import json
    import sys

    from globaltables.batch import run_notebooks
    from globaltables.params import validate_params

    spec = tmp_path / "jupyter" / "kernels" / "dies"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", "raise SystemExit(1)", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "dies", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))

    class StopWhileTheKernelStarts:
        """Not requested when the notebook begins, requested once its kernel has died."""

        signal_name, at_once, checks = "SIGINT", False, 0

        @property
        def requested(self):
            self.checks += 1
            return self.checks > 1

    result = run_notebooks(
        validate_params({}),
        "r",
        tmp_path / "out",
        notebooks[:2],
        kernel_name="dies",
        stop_request=StopWhileTheKernelStarts(),
    )
    first, second = result.notebooks
    assert (first.status, first.cell, first.error_name) == ("interrupted", None, "RunInterrupted")
    assert first.error_value.startswith("SIGINT: stopped before the first cell (")
    assert second.status == "not run" and result.interrupted == "SIGINT"
