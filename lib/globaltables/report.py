"""One self-contained HTML report of a batch run: the summary, the manifest, every executed notebook."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import plotly.io as pio
from nbconvert import HTMLExporter
from plotly.offline import get_plotlyjs

from globaltables.state import MANIFEST_NAME

if TYPE_CHECKING:
    from globaltables.batch import RunResult

REPORT_NAME = "report.html"


def _error_text(attempt) -> str:
    if attempt.get("status") not in ("failed", "interrupted"):
        return ""
    cell = f"cell In [{attempt['cell']}]: " if attempt.get("cell") is not None else ""
    return _cell(f"{cell}{attempt.get('error_name')}: {attempt.get('error_value')}")


def _cell(text: str) -> str:
    """Text for a cell of a markdown table: escaped, on one line."""
    return html.escape(text).replace("|", "\\|").replace("\n", " ")


def _summary_markdown(result: RunResult) -> str:
    rows = ["| notebook | status | attempts | seconds | started (UTC) | error |", "|---|---|---|---|---|---|"]
    for nb in result.notebooks:
        latest = nb.attempt()
        rows.append(
            f"| [{nb.name}](#{nb.name}) | {nb.status} | {len(nb.earlier) + (nb.status != 'not run')} "
            f"| {nb.seconds:.1f} | {nb.started_at or ''} | {_error_text(latest)} |"
        )
    verdict = {"ok": "succeeded", "failed": "FAILED", "interrupted": f"INTERRUPTED ({result.interrupted})"}
    text = f"# Run `{result.run_id}` {verdict[result.state]}\n\nTarget: `{result.target}`. "
    text += f"Last invocation ran: {', '.join(result.invoked) or 'nothing'}.\n\n" + "\n".join(rows)
    earlier = [(nb.name, attempt) for nb in result.notebooks for attempt in nb.earlier]
    if earlier:
        text += (
            "\n\n## Earlier attempts\n\n| notebook | status | seconds | started (UTC) | executed notebook | error |\n"
        )
        text += "|---|---|---|---|---|---|\n"
        text += "\n".join(
            f"| {name} | {attempt.get('status')} | {attempt.get('seconds', 0):.1f} | {attempt.get('started_at') or ''} "
            f"| {Path(attempt['output']).name if attempt.get('output') else ''} | {_error_text(attempt)} |"
            for name, attempt in earlier
        )
    return text


CLEANUP_NOTEBOOK = "10_cleanup"
# The manifest's log of cleanup steps (each: the resource as recorded, the step's outcome, when), written
# by cleanup beside ``resources``; a manifest written before it has none, and then only what is still
# recorded can be listed.
REMOVALS_KEY = "removals"
INCOMPLETE = ("failed", "held back")


def _outcome_text(outcome: Any) -> str:
    """A cleanup step's outcome as cleanup prints it, whether recorded as text or as cleanup's ``Outcome``
    (``{"result": "failed", "detail": "...", "error_code": ...}``)."""
    if not isinstance(outcome, dict):
        return str(outcome or "")
    result, detail = str(outcome.get("result") or ""), str(outcome.get("detail") or "")
    if not detail:
        return result
    return f"{result}{': ' if result in INCOMPLETE else ' '}{detail}"


def _identity(resource: dict[str, Any]) -> tuple[str, str, str]:
    return (resource.get("kind", ""), resource.get("name", ""), resource.get("region", ""))


def _cleanup_ran(result: RunResult) -> bool:
    return any(nb.name == CLEANUP_NOTEBOOK and nb.status != "not run" for nb in result.notebooks)


def _left_as_is(result: RunResult, manifest: dict[str, Any]) -> str:
    """What became of a resource cleanup never attempted: why it is still there."""
    if not _cleanup_ran(result):
        return f"still there ({CLEANUP_NOTEBOOK} not run)"
    if not manifest.get("params", {}).get("confirm_cleanup"):
        return "left by choice (cleanup not confirmed)"
    return "still there"


def resource_fates(result: RunResult, manifest: dict[str, Any]) -> list[dict[str, str]]:
    """Every resource the manifest knows the run made, still recorded or removed by cleanup, in the order
    they were made: kind, name, region, the notebook that made it and what became of it (the last cleanup
    step's outcome: deleted, already gone, scheduled for deletion, failed: ..., held back: ...; or why it
    is still there)."""
    last_step: dict[tuple[str, str, str], dict[str, Any]] = {}
    made: dict[tuple[str, str, str], dict[str, Any]] = {}
    for removal in manifest.get(REMOVALS_KEY) or []:
        resource = removal.get("resource") or {}
        last_step[_identity(resource)] = removal
        made.setdefault(_identity(resource), resource)
    for resource in manifest.get("resources", []):
        made[_identity(resource)] = resource
    recorded = {_identity(r) for r in manifest.get("resources", [])}
    rows = []
    for key, resource in sorted(made.items(), key=lambda item: item[1].get("created_at") or ""):
        outcome = _outcome_text(last_step[key].get("outcome")) if key in last_step else ""
        if key in recorded and not outcome.startswith(INCOMPLETE):
            outcome = _left_as_is(result, manifest)  # recorded again after a cleanup, or never cleaned up
        elif key not in recorded:
            outcome = (
                f"{outcome} ({last_step[key].get('by') or (CLEANUP_NOTEBOOK if _cleanup_ran(result) else 'cleanup')})"
            )
        rows.append(
            {
                "kind": key[0],
                "name": key[1],
                "region": key[2],
                "notebook": resource.get("notebook") or "",
                "fate": outcome,
            }
        )
    return rows


def _resources_markdown(result: RunResult) -> str:
    try:
        manifest = json.loads((Path(result.folder) / MANIFEST_NAME).read_text())
    except (FileNotFoundError, ValueError):
        return "## Resources\n\nNo manifest was written."
    rows = ["| kind | name | region | made by | what became of it |", "|---|---|---|---|---|"]
    rows += [
        f"| {row['kind']} | `{row['name']}` | {row['region']} | {row['notebook']} | {_cell(row['fate'])} |"
        for row in resource_fates(result, manifest)
    ]
    if len(rows) > 2:
        return "## Resources the run made\n\n" + "\n".join(rows)
    cleanup = next((nb for nb in result.notebooks if nb.name == CLEANUP_NOTEBOOK), None)
    if REMOVALS_KEY not in manifest and cleanup is not None and cleanup.status == "ok":
        return (
            f"## Resources the run made\n\n{CLEANUP_NOTEBOOK} removed everything the manifest recorded. This "
            "manifest keeps no log of what cleanup removed (it was written before that log existed), so the "
            f"resources are not listed one by one here: {CLEANUP_NOTEBOOK}'s executed notebook below lists each step."
        )
    return "## Resources the run made\n\nThe manifest records none."


PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def _is_plotly_bundle(output: dict) -> bool:
    html_text = output.get("data", {}).get("text/html", "")
    return len(html_text) > 500_000 and "plotly.js" in html_text[:5000] + html_text[-5000:]


def figure_html(figure: dict) -> str:
    """A figure (plotly's JSON) as an HTML fragment drawn by the report's one copy of plotly.js: no
    plotly.js of its own, no MathJax (plotly's notebook renderer would fetch it from a CDN), nothing
    fetched when the page opens."""
    return pio.to_html(
        figure,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        config={"typesetMath": False},
    )


def _figures_as_html(cells: list) -> None:
    """Draw every figure from its JSON with ``figure_html``, replacing whatever HTML the executed notebook
    carried for it (plotly's notebook renderers add plotly.js, or a CDN's MathJax and plotly.js, to each
    figure), and drop the plotly.js bundles that notebooks executed by earlier versions carry."""
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if _is_plotly_bundle(output):
                continue
            data = output.get("data", {})
            if PLOTLY_MIMETYPE in data:
                data["text/html"] = figure_html(data[PLOTLY_MIMETYPE])
            kept.append(output)
        cell["outputs"] = kept


def build_report_notebook(result: RunResult) -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell(_summary_markdown(result)),
        nbformat.v4.new_markdown_cell(_resources_markdown(result)),
    ]
    for nb in result.notebooks:
        if nb.status == "not run" or not nb.output or not Path(nb.output).exists():
            continue
        executed = nbformat.read(nb.output, as_version=4)
        cells.append(
            nbformat.v4.new_markdown_cell(f'<a id="{nb.name}"></a>\n\n# {nb.name} — {nb.status} ({nb.seconds:.1f} s)')
        )
        cells.extend(executed.cells)
    _figures_as_html(cells)
    report = nbformat.v4.new_notebook(cells=cells)
    report.metadata["title"] = f"globaltables run {result.run_id}"
    return report


def write_report(result: RunResult) -> Path:
    # No CDN: the report must open offline. plotly.js goes in once, in the head; the template's require.js,
    # MathJax, mermaid and widget renderer are not needed by anything the runbook shows (an empty URL is
    # never fetched).
    exporter = HTMLExporter(
        template_name="lab",
        require_js_url="",
        mathjax_url="",
        mermaid_js_url="",
        mermaid_layout_elk_js_url="",
        jupyter_widgets_base_url="",
        widget_renderer_url="",
    )
    body, _ = exporter.from_notebook_node(build_report_notebook(result))
    plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    body = body.replace("</head>", plotly_js + "\n</head>", 1)
    path = Path(result.folder) / REPORT_NAME
    path.write_text(body)
    return path
