"""Run the notebooks unattended with papermill: one run, one folder in ``outputs/``."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import papermill
from jupyter_client.manager import AsyncKernelManager
from papermill.exceptions import PapermillExecutionError

from globaltables.endpoint import ENDPOINT_ENV
from globaltables.params import ParameterError, ParameterProblem, Params
from globaltables.progress import BATCH_ENV
from globaltables.state import NOTEBOOKS_DIR, OUTPUTS_ENV, write_atomically
from globaltables.state import PROJECT_DIR as PROJECT_DIR  # where tests and notebooks have looked for it
from globaltables.stopping import ENGINE_NAME, RunInterrupted, StopRequest

RESULT_NAME = "run.json"


KERNELS_PREFIX = "globaltables-kernels-"  # + "<pid>-<random>": a run's private folder in the temp folder
_kernel_folder: Path | None = None  # set by kernel_scratch() while a run's notebooks execute


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed process its parent has not reaped yet is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def sweep_kernel_folders() -> list[Path]:
    """Remove the kernel folders of runs whose process is gone (killed by SIGKILL); returns them."""
    swept = []
    for folder in Path(tempfile.gettempdir()).glob(f"{KERNELS_PREFIX}*"):
        pid = folder.name.removeprefix(KERNELS_PREFIX).split("-", 1)[0]
        try:
            mine = folder.is_dir() and folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and _process_gone(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
    return swept


@contextlib.contextmanager
def kernel_scratch() -> Iterator[Path]:
    """A private folder for the kernels' connection files and IPC sockets while the block runs.

    Kernels run in the notebooks' folder; without this their ``kernel-ipc-N`` sockets land there,
    and a run stopped by a signal leaves them for JupyterLab to list and ``copytree`` to trip on.
    The folder goes when the block ends (or at exit); folders of killed runs go at the next run.
    """
    global _kernel_folder
    sweep_kernel_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"{KERNELS_PREFIX}{os.getpid()}-"))

    def remove() -> None:
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    previous, _kernel_folder = _kernel_folder, folder
    try:
        yield folder
    finally:
        _kernel_folder = previous
        remove()
        atexit.unregister(remove)


class LocalKernelManager(AsyncKernelManager):
    """Kernels of a batch run talk to the runner over Unix sockets, not TCP on loopback: nothing to
    intercept, and no "kernel is running over TCP without encryption" warning per notebook.

    Their connection file and sockets go in the run's ``kernel_scratch()`` folder, never the
    notebooks' folder (the kernel's working directory, where relative socket paths would land)."""

    # Kernels of this process, so that a run stopped at once can end them instead of leaving them to
    # finish a cell nobody waits for.
    instances: weakref.WeakSet[LocalKernelManager] = weakref.WeakSet()

    def __init__(self, **kwargs: Any):
        LocalKernelManager.instances.add(self)
        kwargs.setdefault("transport", "ipc")
        if _kernel_folder is not None:
            name = f"kernel-{uuid.uuid4().hex[:8]}"
            kwargs.setdefault("connection_file", str(_kernel_folder / f"{name}.json"))
            # Absolute, and short: a Unix socket path has at most 107 characters.
            kwargs.setdefault("ip", str(_kernel_folder / f"{name[-8:]}-ipc"))
        super().__init__(**kwargs)


def kill_kernels() -> None:
    """SIGKILL the kernels this process started that still run (each leads its own process group)."""
    for manager in list(LocalKernelManager.instances):
        process = getattr(manager.provisioner, "process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


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


ATTEMPTS_DIR = "attempts"


@dataclass
class NotebookResult:
    """A notebook's latest attempt in the run, with its earlier attempts (oldest first)."""

    name: str
    status: str  # "ok", "failed", "interrupted", "not run", or "running" (also: killed while running)
    seconds: float = 0.0
    output: str | None = None
    cell: int | None = None  # execution count, as the executed notebook shows it: In [cell]
    cell_source: str | None = None
    error_name: str | None = None
    error_value: str | None = None
    started_at: str | None = None
    earlier: list[dict[str, Any]] = field(default_factory=list)

    def attempt(self) -> dict[str, Any]:
        """This attempt alone, as it is kept once a newer one starts."""
        return {key: value for key, value in asdict(self).items() if key not in ("name", "earlier")}

    def start_new_attempt(self, folder: Path) -> None:
        """Keep the current attempt (and its executed notebook, under ``attempts/``) and start afresh."""
        if self.status != "not run":
            kept = self.attempt()
            if self.output and Path(self.output).exists():
                archive = folder / ATTEMPTS_DIR / f"{self.name}.attempt-{len(self.earlier) + 1}.ipynb"
                archive.parent.mkdir(exist_ok=True)
                os.replace(self.output, archive)
                kept["output"] = str(archive)
            self.earlier.append(kept)
        for key, value in asdict(NotebookResult(self.name, "not run")).items():
            if key not in ("name", "earlier"):
                setattr(self, key, value)


@dataclass
class RunResult:
    """The run's record (``run.json``): every notebook the run has attempted, across invocations.

    ``invoked`` names the notebooks of the latest invocation (a full run, ``--only`` or ``--from``);
    ``ok`` and the exit code are about those. ``interrupted`` names the signal that stopped it.
    """

    run_id: str
    folder: str
    target: str
    notebooks: list[NotebookResult] = field(default_factory=list)
    report: str | None = None
    invoked: list[str] = field(default_factory=list)
    interrupted: str | None = None

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(nb.status == "ok" for nb in self.notebooks if nb.name in self.invoked)

    @property
    def failure(self) -> NotebookResult | None:
        return next((nb for nb in self.notebooks if nb.name in self.invoked and nb.status == "failed"), None)

    @property
    def state(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "ok" if self.ok else "failed"

    def entry(self, name: str) -> NotebookResult:
        """The notebook's entry, added in name order when the run has not attempted it yet."""
        for notebook in self.notebooks:
            if notebook.name == name:
                return notebook
        added = NotebookResult(name=name, status="not run")
        self.notebooks = sorted([*self.notebooks, added], key=lambda nb: nb.name)
        return added

    def save(self) -> None:
        record = asdict(self) | {"state": self.state}
        write_atomically(Path(self.folder) / RESULT_NAME, json.dumps(record, indent=2) + "\n")

    @classmethod
    def load_or_new(cls, folder: Path, run_id: str, target: str) -> RunResult:
        """The run's record so far, or a new one; a record that cannot be read is kept aside, not lost."""
        path = Path(folder) / RESULT_NAME
        try:
            data = json.loads(path.read_text())
            notebooks = [NotebookResult(**nb) for nb in data.get("notebooks", [])]
        except FileNotFoundError:
            return cls(run_id=run_id, folder=str(folder), target=target)
        except (ValueError, TypeError):
            os.replace(path, path.with_suffix(".unreadable.json"))
            return cls(run_id=run_id, folder=str(folder), target=target)
        return cls(run_id=run_id, folder=str(folder), target=target, notebooks=notebooks)


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
    stop_request: StopRequest | None = None,
    after_notebook: Callable[[NotebookResult], None] | None = None,
) -> RunResult:
    """Execute ``notebooks`` in order into ``outputs_dir/run_id``; stops at the first failure.

    Each notebook gets the parameters its ``parameters`` cell declares (the validated ``params``,
    ``run_id`` and ``outputs_dir``). The executed copies, ``run.json`` and the report land in the
    run's folder whether the run succeeds or not. ``run.json`` accumulates: notebooks run earlier
    keep their entries, and a notebook run again keeps its earlier attempts.

    With a ``stop_request`` (installed by the caller's signal handlers), a first stop signal ends the
    run after the cell that is executing and marks it interrupted; a second one (KeyboardInterrupt)
    abandons the cell at once, marks it interrupted too, and is not re-raised. ``after_notebook``
    runs after each notebook's attempt has been recorded (the CLI saves the embedded AWS's state).
    The caller holds the run's lock.
    """
    folder = Path(outputs_dir) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    available = {**params.to_notebook_parameters(), "run_id": run_id, "outputs_dir": str(Path(outputs_dir).resolve())}
    environment = {BATCH_ENV: "1", OUTPUTS_ENV: str(Path(outputs_dir).resolve())}
    if endpoint:
        environment[ENDPOINT_ENV] = endpoint
    result = _begin_invocation(params, run_id, folder, notebooks)
    with _kernel_environment(environment), kernel_scratch():
        for notebook in notebooks:
            entry = result.entry(notebook.stem)
            if stop_request is not None and stop_request.requested:
                result.interrupted = stop_request.signal_name
                break
            _mark_running(result, entry, folder / notebook.name)
            if on_event:
                on_event("start", entry)
            started = time.monotonic()
            _attempt_notebook(notebook, available, kernel_name, stop_request, entry, result)
            entry.seconds = round(time.monotonic() - started, 2)
            result.save()
            if after_notebook:
                after_notebook(entry)
            if on_event:
                on_event("end", entry)
            if entry.status != "ok":
                break
    from globaltables.report import write_report

    result.report = str(write_report(result))
    result.save()
    return result


def _begin_invocation(params: Params, run_id: str, folder: Path, notebooks: list[Path]) -> RunResult:
    """The run's record with this invocation's notebooks named and a new attempt started for each, saved."""
    result = RunResult.load_or_new(folder, run_id, params.target)
    result.target, result.interrupted = params.target, None
    result.invoked = [nb.stem for nb in notebooks]
    for notebook in notebooks:
        result.entry(notebook.stem).start_new_attempt(folder)
    result.save()
    return result


def _mark_running(result: RunResult, entry: NotebookResult, output: Path) -> None:
    entry.output = str(output)
    entry.started_at = datetime.now(UTC).isoformat(timespec="seconds")
    entry.status = "running"  # what a killed run's record says it was doing
    result.save()


def _attempt_notebook(
    notebook: Path,
    available: dict[str, Any],
    kernel_name: str,
    stop_request: StopRequest | None,
    entry: NotebookResult,
    result: RunResult,
) -> None:
    """Execute one notebook into ``entry.output`` and record in ``entry`` (and ``result`` when it was
    stopped) how it ended: ok, failed in a cell, or interrupted."""
    try:
        papermill.execute_notebook(
            str(notebook),
            entry.output,
            parameters=notebook_parameters(notebook, available),
            cwd=str(notebook.parent),
            kernel_name=kernel_name,
            engine_name=ENGINE_NAME,
            stop_request=stop_request,
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
    except RunInterrupted as stop:
        # After a second signal nbclient has already interrupted the cell that was running.
        entry.status, entry.cell = "interrupted", stop.exec_count
        entry.error_name, entry.error_value = "RunInterrupted", str(stop)
        if stop_request is not None and stop_request.at_once:
            entry.error_value = f"{stop.signal_name} twice: stopped at once, in cell In [{stop.exec_count}]"
        result.interrupted = stop.signal_name
    except KeyboardInterrupt as stop:
        kill_kernels()
        entry.status = "interrupted"
        entry.error_name = "RunInterrupted"
        entry.error_value = f"{stop or 'SIGINT'} twice: stopped at once, during a cell"
        result.interrupted = str(stop) or "SIGINT"
    except Exception as error:  # kernel died, notebook unreadable: still a failed step
        _record_other_failure(error, stop_request, entry, result)


def _record_other_failure(
    error: Exception, stop_request: StopRequest | None, entry: NotebookResult, result: RunResult
) -> None:
    if stop_request is not None and stop_request.requested:
        # A Ctrl-C sent to the process group while a kernel was being started reaches the kernel too
        # (between fork and its new session) and kills it: the stop asked for is what happened, so the
        # notebook is interrupted (and resumable), not failed.
        entry.status, entry.cell = "interrupted", None
        entry.error_name = "RunInterrupted"
        entry.error_value = f"{stop_request.signal_name}: stopped before the first cell ({error})"
        result.interrupted = stop_request.signal_name
    else:
        entry.status = "failed"
        entry.error_name = type(error).__name__
        entry.error_value = str(error)


def summary_lines(result: RunResult, command_options: str = "") -> list[str]:
    """The one-screen summary the CLI prints: every notebook of the run, this invocation's marked.

    ``command_options`` are extra options the printed resume and cleanup commands need (an outputs
    folder, an endpoint), so that they can be pasted as they are.
    """
    width = max((len(nb.name) for nb in result.notebooks), default=10)
    lines = [f"Run {result.run_id} (target: {result.target})"]
    for nb in result.notebooks:
        seconds = f"{nb.seconds:7.1f}s" if nb.status != "not run" else "        "
        notes = []
        if nb.earlier:
            notes.append(f"attempt {len(nb.earlier) + 1}")
        if nb.name not in result.invoked and nb.status != "not run":
            notes.append("earlier")
        note = f"  ({', '.join(notes)})" if notes else ""
        lines.append(f"  {nb.name:<{width}}  {nb.status:<11} {seconds}{note}".rstrip())
    resume = f"python -m globaltables run --run-id {result.run_id}{command_options}"
    cleanup = f"python -m globaltables cleanup --run-id {result.run_id}{command_options}"
    stopped = next((nb for nb in result.notebooks if nb.name in result.invoked and nb.status == "interrupted"), None)
    first_not_run = next((nb for nb in result.notebooks if nb.name in result.invoked and nb.status == "not run"), None)
    failure = result.failure
    if result.interrupted:
        where = stopped or first_not_run
        cell = f" after cell In [{stopped.cell}]" if stopped and stopped.cell is not None else ""
        during = f" in {stopped.name}{cell}" if stopped else f" before {first_not_run.name}" if first_not_run else ""
        lines.append(f"INTERRUPTED by {result.interrupted}{during}.")
        if where:
            lines.append(f"  resume: {resume} --from {where.name}")
        lines.append(f"  or remove what it made: {cleanup}")
    elif failure:
        cell = f", cell In [{failure.cell}]" if failure.cell is not None else ""
        source = f" ({failure.cell_source})" if failure.cell_source else ""
        lines.append(f"FAILED in {failure.name}{cell}{source}: {failure.error_name}: {failure.error_value}")
        lines.append(f"  executed notebook: {failure.output}")
        lines.append(f"  resume: {resume} --from {failure.name}")
        lines.append(f"  or remove what it made: {cleanup}")
    else:
        ran = [nb for nb in result.notebooks if nb.name in result.invoked]
        total = sum(nb.seconds for nb in ran)
        lines.append(f"All {len(ran)} notebooks ran in {total:.1f}s.")
    lines.append(f"Outputs: {result.folder}")
    lines.append(f"Report:  {result.report}")
    return lines
