"""One self-contained HTML report of a batch run: the summary, the manifest, every executed notebook."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

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
    text = f"{cell}{attempt.get('error_name')}: {attempt.get('error_value')}"
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


def _manifest_markdown(folder: Path) -> str:
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
    except (FileNotFoundError, ValueError):
        return "## Resources\n\nNo manifest was written."
    rows = ["| kind | name | region | notebook |", "|---|---|---|---|"]
    for resource in manifest.get("resources", []):
        rows.append(
            f"| {resource['kind']} | `{resource['name']}` | {resource['region']} | {resource.get('notebook') or ''} |"
        )
    if len(rows) == 2:
        rows.append("| | nothing recorded | | |")
    return "## Resources recorded in the manifest\n\n" + "\n".join(rows)


PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def _is_plotly_bundle(output: dict) -> bool:
    html_text = output.get("data", {}).get("text/html", "")
    return len(html_text) > 500_000 and "plotly.js" in html_text[:5000] + html_text[-5000:]


def _figures_as_html(cells: list) -> None:
    """Give each figure (plotly's JSON) an HTML form drawn by the report's one copy of plotly.js, and drop
    the plotly.js bundles that notebooks executed by earlier versions carry."""
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if _is_plotly_bundle(output):
                continue
            data = output.get("data", {})
            if PLOTLY_MIMETYPE in data and "text/html" not in data:
                data["text/html"] = pio.to_html(data[PLOTLY_MIMETYPE], include_plotlyjs=False, full_html=False)
            kept.append(output)
        cell["outputs"] = kept


def build_report_notebook(result: RunResult) -> nbformat.NotebookNode:
    folder = Path(result.folder)
    cells = [
        nbformat.v4.new_markdown_cell(_summary_markdown(result)),
        nbformat.v4.new_markdown_cell(_manifest_markdown(folder)),
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
    # No CDN: the report must open offline. plotly.js goes in once, in the head; the template's require.js
    # and MathJax are not needed by anything the runbook shows.
    exporter = HTMLExporter(template_name="lab", require_js_url="", mathjax_url="")
    body, _ = exporter.from_notebook_node(build_report_notebook(result))
    plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    body = body.replace("</head>", plotly_js + "\n</head>", 1)
    path = Path(result.folder) / REPORT_NAME
    path.write_text(body)
    return path
