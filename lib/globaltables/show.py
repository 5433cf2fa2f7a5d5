"""Small HTML renderings for notebooks: tables of facts a person reads at a glance."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from IPython.display import HTML


def table(rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> HTML:
    """Rows of dicts as an HTML table (the same text also shows as plain text in logs)."""
    rows = list(rows)
    columns = columns or (list(rows[0]) if rows else [])
    head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='text-align:left'>{html.escape(str(row.get(c, '')))}</td>" for c in columns)
        + "</tr>"
        for row in rows
    )
    return _Table(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>", rows, columns)


def facts(values: Mapping[str, Any]) -> HTML:
    """A two-column table of name and value."""
    return table(({"name": k, "value": v} for k, v in values.items()), ["name", "value"])


class _Table(HTML):
    def __init__(self, markup: str, rows: list[Mapping[str, Any]], columns: list[str]):
        super().__init__(markup)
        self._text = "\n".join(["\t".join(columns)] + ["\t".join(str(row.get(c, "")) for c in columns) for row in rows])

    def __repr__(self) -> str:
        return self._text
