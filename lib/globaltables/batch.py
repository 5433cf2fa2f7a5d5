"""Run the notebooks unattended with papermill: one run, one folder in ``outputs/``."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import papermill
from jupyter_client.manager import AsyncKernelManager
from papermill.exceptions import PapermillExecutionError

from globaltables.endpoint import ENDPOINT_ENV
from globaltables.params import ParameterError, ParameterProblem, Params
from globaltables.progress import BATCH_ENV
from globaltables.state import OUTPUTS_ENV, write_atomically

PROJECT_DIR = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJECT_DIR / "notebooks"
RESULT_NAME = "run.json"


class LocalKernelManager(AsyncKernelManager):
    """Kernels of a batch run talk to the runner over Unix sockets, not TCP on loopback: nothing to
    intercept, and no "kernel is running over TCP without encryption" warning per notebook."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("transport", "ipc")
        super().__init__(**kwargs)


def list_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The runbook's notebooks in order: ``NN_name.ipynb``, sorted by name."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb") if p.is_file())


def _stem(name: str) -> str:
    return name.removesuffix(".ipynb")


def select_notebooks(notebooks: list[Path], only: list[str] | None = None, start_from: str | None = None) -> list[Path]:
    """Keep the named notebooks (``only``) or those from ``start_from`` on; unknown names are an error."""
    by_stem = {p.stem: p for p in notebooks}
    available = ", ".join(by_stem) or "none"
    if only and start_from:
        raise ParameterError(
            [ParameterProblem(key="--only/--from", value=[only, start_from], allowed="give one of the two")]
        )
    if only:
        wanted = [_stem(n.strip()) for n in only if n.strip()]
        unknown = [n for n in wanted if n not in by_stem]
        if unknown:
            raise ParameterError(
                [ParameterProblem(key="--only", value=unknown, allowed=f"no such notebook; available: {available}")]
            )
        return [p for p in notebooks if p.stem in wanted]
    if start_from:
        first = _stem(start_from)
        if first not in by_stem:
            raise ParameterError(
                [ParameterProblem(key="--from", value=start_from, allowed=f"no such notebook; available: {available}")]
            )
        return [p for p in notebooks if p.stem >= first]
    return list(notebooks)


@dataclass
class NotebookResult:
    name: str
    status: str  # "ok", "failed" or "not run"
    seconds: float = 0.0
    output: str | None = None
    cell: int | None = None  # execution count, as the executed notebook shows it: In [cell]
    cell_source: str | None = None
    error_name: str | None = None
    error_value: str | None = None


@dataclass
class RunResult:
    run_id: str
    folder: str
    target: str
    notebooks: list[NotebookResult] = field(default_factory=list)
    report: str | None = None

    @property
    def ok(self) -> bool:
        return all(nb.status == "ok" for nb in self.notebooks)

    @property
    def failure(self) -> NotebookResult | None:
        return next((nb for nb in self.notebooks if nb.status == "failed"), None)

    def save(self) -> None:
        write_atomically(Path(self.folder) / RESULT_NAME, json.dumps(asdict(self), indent=2) + "\n")


@contextlib.contextmanager
def _kernel_environment(values: dict[str, str]) -> Iterator[None]:
    """Kernels inherit the runner's environment; set ours for the run and restore it after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def notebook_parameters(notebook: Path, available: dict[str, Any]) -> dict[str, Any]:
    """The values this notebook's ``parameters`` cell declares (papermill warns about the others)."""
    declared = papermill.inspect_notebook(str(notebook))
    return {name: available[name] for name in declared if name in available}


def run_notebooks(
    params: Params,
    run_id: str,
    outputs_dir: Path,
    notebooks: list[Path],
    endpoint: str | None = None,
    on_event: Callable[[str, NotebookResult], None] | None = None,
    kernel_name: str = "python3",
) -> RunResult:
    """Execute ``notebooks`` in order into ``outputs_dir/run_id``; stops at the first failure.

    Each notebook gets the parameters its ``parameters`` cell declares (the validated ``params``,
    ``run_id`` and ``outputs_dir``). The executed copies, ``run.json`` and the report land in the
    run's folder whether the run succeeds or not.
    """
    folder = Path(outputs_dir) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    available = {**params.to_notebook_parameters(), "run_id": run_id, "outputs_dir": str(Path(outputs_dir).resolve())}
    environment = {BATCH_ENV: "1", OUTPUTS_ENV: str(Path(outputs_dir).resolve())}
    if endpoint:
        environment[ENDPOINT_ENV] = endpoint
    result = RunResult(run_id=run_id, folder=str(folder), target=params.target)
    result.notebooks = [NotebookResult(name=nb.stem, status="not run") for nb in notebooks]
    result.save()
    with _kernel_environment(environment):
        for notebook, entry in zip(notebooks, result.notebooks, strict=True):
            output = folder / notebook.name
            entry.output = str(output)
            if on_event:
                on_event("start", entry)
            started = time.monotonic()
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(output),
                    parameters=notebook_parameters(notebook, available),
                    cwd=str(notebook.parent),
                    kernel_name=kernel_name,
                    progress_bar=False,
                    log_output=False,
                    report_mode=False,
                    kernel_manager_class=LocalKernelManager,
                )
                entry.status = "ok"
            except PapermillExecutionError as error:
                entry.status = "failed"
                entry.cell = error.exec_count
                entry.cell_source = (error.source or "").strip().splitlines()[0][:80] if error.source else None
                entry.error_name = error.ename
                entry.error_value = str(error.evalue)
            except Exception as error:  # kernel died, notebook unreadable: still a failed step
                entry.status = "failed"
                entry.error_name = type(error).__name__
                entry.error_value = str(error)
            entry.seconds = round(time.monotonic() - started, 2)
            result.save()
            if on_event:
                on_event("end", entry)
            if entry.status == "failed":
                break
    from globaltables.report import write_report

    result.report = str(write_report(result))
    result.save()
    return result


def summary_lines(result: RunResult) -> list[str]:
    """The one-screen summary the CLI prints."""
    width = max((len(nb.name) for nb in result.notebooks), default=10)
    lines = [f"Run {result.run_id} (target: {result.target})"]
    for nb in result.notebooks:
        seconds = f"{nb.seconds:7.1f}s" if nb.status != "not run" else "        "
        lines.append(f"  {nb.name:<{width}}  {nb.status:<8} {seconds}")
    failure = result.failure
    if failure:
        cell = f", cell In [{failure.cell}]" if failure.cell is not None else ""
        source = f" ({failure.cell_source})" if failure.cell_source else ""
        lines.append(f"FAILED in {failure.name}{cell}{source}: {failure.error_name}: {failure.error_value}")
        lines.append(f"  executed notebook: {failure.output}")
        lines.append(f"  resume: python -m globaltables run --run-id {result.run_id} --from {failure.name}")
        lines.append(f"  or remove what it made: python -m globaltables cleanup --run-id {result.run_id}")
    else:
        total = sum(nb.seconds for nb in result.notebooks)
        lines.append(f"All {len(result.notebooks)} notebooks ran in {total:.1f}s.")
    lines.append(f"Outputs: {result.folder}")
    lines.append(f"Report:  {result.report}")
    return lines
