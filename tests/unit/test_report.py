"""The report opens offline (nothing fetched, plotly.js once) and lists every resource the run made, by
which notebook, and what became of it."""

import json
import re

import nbformat
import plotly.io as pio
import pytest
from globaltables import charts
from globaltables.batch import NotebookResult, RunResult
from globaltables.names import derive_names
from globaltables.params import validate_params
from globaltables.report import PLOTLY_MIMETYPE, resource_fates, write_report
from globaltables.state import RunState
from plotly.offline import get_plotlyjs

# What a page fetches by itself: an element's source or stylesheet, a module imported by URL.
EXTERNAL = re.compile(
    r"""<(?:script|link|img|iframe)[^>]+(?:src|href)\s*=\s*["']?(?:https?:)?//|import\(\s*["'](?:https?:)?//""",
    re.IGNORECASE,
)


@pytest.fixture
def run(tmp_path):
    params = validate_params({"endpoint_url": "http://127.0.0.1:1", "confirm_cleanup": True})
    return RunState.create(params, derive_names(params.table_name_prefix), "r1", tmp_path)


def executed(folder, name, outputs):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("figure", outputs=outputs)])
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return NotebookResult(name, "ok", seconds=1.0, output=str(path))


def test_figures_drawn_by_plotlys_notebook_renderer_fetch_nothing_in_the_report(run):
    figure = charts.winners({"us-east-1": 3, "eu-west-1": 4}).to_plotly_json()
    # A notebook executed with plotly's "notebook" renderer: each figure's HTML asks a CDN for MathJax.
    legacy = pio.renderers["notebook"].to_mimebundle(figure)
    assert "cdnjs.cloudflare.com/ajax/libs/mathjax" in legacy["text/html"]
    output = nbformat.v4.new_output("display_data", data={**legacy, PLOTLY_MIMETYPE: figure})
    result = RunResult(
        "r1", str(run.folder), "local", notebooks=[executed(run.folder, f"0{i}_step", [output]) for i in range(3)]
    )
    page = write_report(result).read_text()
    assert page.count(get_plotlyjs()) == 1  # one copy of plotly.js, in the head
    outside_plotly_js = page.replace(get_plotlyjs(), "")
    assert not EXTERNAL.findall(outside_plotly_js), EXTERNAL.findall(outside_plotly_js)
    assert page.count("Plotly.newPlot(") == 3 and "libs/mathjax" not in page


def removal(resource, outcome):
    return {"resource": resource.model_dump(), "outcome": outcome, "at": "2026-01-01T00:00:00.000+00:00"}


def test_the_resources_table_shows_what_became_of_every_resource_the_run_made(run):
    table = run.record("dynamodb:table", "app-t", "us-east-1", notebook="02_table_replicas")
    key = run.record("kms:key", "k-1", "us-east-1", notebook="01_iam_kms")
    role = run.record("iam:role", "role-1", "global", notebook="01_iam_kms")
    run.forget(table.kind, table.name, table.region)
    run.forget(key.kind, key.name, key.region)
    manifest = json.loads(run.path.read_text())
    manifest["removals"] = [
        removal(table, "deleted"),
        removal(key, {"result": "scheduled for deletion", "detail": "in 7 days", "error_code": None}),
        removal(role, {"result": "failed", "detail": "ClientError: DeleteConflict", "error_code": "DeleteConflict"}),
    ]
    cleaned = RunResult("r1", str(run.folder), "local", notebooks=[NotebookResult("10_cleanup", "failed")])
    fates = {row["name"]: (row["notebook"], row["fate"]) for row in resource_fates(cleaned, manifest)}
    assert fates == {
        "app-t": ("02_table_replicas", "deleted (10_cleanup)"),
        "k-1": ("01_iam_kms", "scheduled for deletion in 7 days (10_cleanup)"),
        "role-1": ("01_iam_kms", "failed: ClientError: DeleteConflict"),
    }
    run.path.write_text(json.dumps(manifest))
    page = write_report(cleaned).read_text()
    assert "Resources the run made" in page and "nothing recorded" not in page
    assert page.count("<td>02_table_replicas</td>") == 1 and "deleted (10_cleanup)" in page


def test_resources_cleanup_never_touched_are_left_by_choice_or_still_there(run):
    run.record("sns:topic", "alerts", "eu-west-1", notebook="04_monitoring")
    manifest = json.loads(run.path.read_text())
    not_run = RunResult("r1", str(run.folder), "local", notebooks=[NotebookResult("10_cleanup", "not run")])
    assert resource_fates(not_run, manifest)[0]["fate"] == "still there (10_cleanup not run)"
    declined = RunResult("r1", str(run.folder), "local", notebooks=[NotebookResult("10_cleanup", "failed")])
    manifest["params"]["confirm_cleanup"] = False
    assert resource_fates(declined, manifest)[0]["fate"] == "left by choice (cleanup not confirmed)"


def test_a_run_cleaned_up_before_cleanup_kept_a_log_says_so_instead_of_nothing_recorded(run):
    run.record("sns:topic", "alerts", "eu-west-1", notebook="04_monitoring")
    run.forget("sns:topic", "alerts", "eu-west-1")
    manifest = json.loads(run.path.read_text())
    del manifest["removals"]  # a manifest written before cleanup kept its log
    run.path.write_text(json.dumps(manifest))
    cleaned = RunResult("r1", str(run.folder), "local", notebooks=[NotebookResult("10_cleanup", "ok")])
    page = write_report(cleaned).read_text()
    assert "nothing recorded" not in page
    assert "10_cleanup removed everything the manifest recorded" in page
