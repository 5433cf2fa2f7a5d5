"""The run manifest, ``outputs/<run-id>/state.json``: what a run made, where, written atomically.

Every notebook records a resource here before it moves on; later notebooks read it and cleanup
trusts it. Writes go to a temporary file in the same folder and are renamed over the manifest, so
a run killed at any moment leaves either the old manifest or the new one, never half of one.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from globaltables.errors import RunInUse, RunNotFound
from globaltables.kinds import ResourceKind
from globaltables.names import ResourceNames
from globaltables.params import (
    FIXED_ONCE_CREATED,
    RECORDED,
    SETUP_NOTEBOOK,
    ParameterError,
    ParameterProblem,
    Params,
    parameter_notebook,
)

# The project folder (beside lib/) and its notebooks.
PROJECT_DIR = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJECT_DIR / "notebooks"
OUTPUTS_ENV = "GLOBALTABLES_OUTPUTS"
MANIFEST_NAME = "state.json"
LATEST_NAME = "LATEST"


LOCK_NAME = ".lock"
# The embedded AWS a batch run starts saves its state here, so that the run can resume or be cleaned up.
EMBEDDED_STATE_NAME = "embedded-aws.state"
# Files the runbook itself keeps in the outputs folder: never a run's name.
RESERVED_NAMES = (LATEST_NAME, "lab-params.yaml", "README.md", "browser-test")


class RunLock:
    """An exclusive lock on a run's folder, held by one process at a time (``with RunLock(folder):``).

    The lock is ``flock`` on ``<folder>/.lock``, which also holds the holder's pid for the message: the
    kernel releases it when the holder ends, even killed, so a stale lock never blocks a later run.
    """

    def __init__(self, folder: Path, purpose: str = "a batch run"):
        self.folder = Path(folder)
        self.purpose = purpose
        self._handle: Any = None

    def acquire(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.folder / LOCK_NAME, "a+")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunInUse(
                f"run {self.folder.name!r} is in use by {holder}; wait for it to finish, stop it, "
                "or choose another --run-id"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} ({self.purpose}, since {_now()})\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def default_outputs_dir() -> Path:
    """$GLOBALTABLES_OUTPUTS, else the project's ``outputs/`` (beside ``lib/``), else ./outputs."""
    if os.environ.get(OUTPUTS_ENV):
        return Path(os.environ[OUTPUTS_ENV])
    if (PROJECT_DIR / "pyproject.toml").exists():
        return PROJECT_DIR / "outputs"
    return Path.cwd() / "outputs"


def check_run_folder(outputs: Path, run_id: str) -> None:
    """Refuse a run id that would collide with a file of the outputs folder (ParameterError)."""
    taken = outputs / run_id
    if run_id in RESERVED_NAMES or (taken.exists() and not taken.is_dir()):
        raise ParameterError(
            [
                ParameterProblem(
                    key="run_id",
                    value=run_id,
                    allowed=f"{taken} is a file the runbook keeps, not a run; choose another run id "
                    "(or leave it empty to generate one)",
                )
            ]
        )


def _fixed_changes(recorded: Params, wanted: Params) -> list[str]:
    return [key for key in FIXED_ONCE_CREATED if getattr(recorded, key) != getattr(wanted, key)]


def _fixed_problems(run_id: str, recorded: Params, wanted: Params, made: int) -> list[ParameterProblem]:
    return [
        ParameterProblem(
            key=key,
            value=getattr(wanted, key),
            allowed=f"run {run_id!r} already made {made} resources with {key} = {getattr(recorded, key)!r}; it "
            "cannot change within a run: start a new run (another run id), or clean this one up first",
        )
        for key in _fixed_changes(recorded, wanted)
    ]


def check_resumable_changes(run: RunState, wanted: Params, reaching: set[str]) -> None:
    """Refuse parameter changes a continued run could not apply (ParameterError, before anything starts).

    ``reaching`` names the parameters the notebooks about to run declare. A changed value must reach
    one of them, or be run-wide and recorded in the manifest for the notebooks to read; a parameter
    that shapes resources cannot change once the run has made any.
    """
    made = len(run.resources())
    problems = _fixed_problems(run.run_id, run.params, wanted, made) if made else []
    for key in Params.model_fields:
        if getattr(run.params, key) == getattr(wanted, key) or key in reaching or key == "run_id":
            continue
        home = parameter_notebook(key)
        if home != SETUP_NOTEBOOK:
            problems.append(
                ParameterProblem(
                    key=key,
                    value=getattr(wanted, key),
                    allowed=f"used by {home}, which this invocation does not run: include it (--from {home} "
                    "or --only ...) or leave the parameter out",
                )
            )
    if problems:
        raise ParameterError(problems, source=f"run {run.run_id}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Resource(BaseModel):
    # Written as its string ("dynamodb:table"), so older manifests load unchanged; a kind this version
    # does not know stays a string (cleanup removes it last, or says it cannot).
    kind: Annotated[ResourceKind | str, Field(union_mode="left_to_right")]
    name: str
    region: str  # GLOBAL_REGION for IAM
    arn: str | None = None
    notebook: str | None = None
    created_at: str = Field(default_factory=_now)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.region)


class Removal(BaseModel):
    """One cleanup step, as the manifest keeps it after the resource is gone from ``resources``: the
    resource as recorded, the step's outcome (cleanup's ``Outcome`` as a mapping), when, and who ran it."""

    resource: Resource
    outcome: dict[str, Any] | str
    at: str = Field(default_factory=_now)
    by: str | None = None


class Manifest(BaseModel):
    run_id: str
    created_at: str = Field(default_factory=_now)
    params: Params
    names: ResourceNames
    account: str | None = None
    resources: list[Resource] = Field(default_factory=list)
    # The log of cleanup steps: what became of each resource once it left ``resources``.
    removals: list[Removal] = Field(default_factory=list)


def write_atomically(path: Path, content: str | bytes, private: bool = False) -> None:
    """Write ``content`` to a temporary file beside ``path`` and rename it over ``path``: a reader sees
    the old file or the new one, never half of one. ``private`` keeps it readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if not private:
            os.chmod(temporary, 0o644)  # mkstemp makes it private; outputs are for reading
        with os.fdopen(handle, "wb" if isinstance(content, bytes) else "w") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RunState:
    """A run's manifest on disk, with the operations notebooks need; safe to share between threads."""

    def __init__(self, folder: Path, manifest: Manifest):
        self.folder = folder
        self.manifest = manifest
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST_NAME

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def params(self) -> Params:
        return self.manifest.params

    @property
    def names(self) -> ResourceNames:
        return self.manifest.names

    @classmethod
    def create(
        cls,
        params: Params,
        names: ResourceNames,
        run_id: str,
        outputs_dir: Path | str | None = None,
        account: str | None = None,
    ) -> RunState:
        """Start a run's manifest, or adopt the existing one for this run id (so 00_setup can rerun)."""
        outputs = Path(outputs_dir) if outputs_dir else default_outputs_dir()
        folder = outputs / run_id
        if (folder / MANIFEST_NAME).exists():
            state = cls.open(run_id, outputs)
            # A rerun keeps the names already in use: resources may exist under them, so what shapes
            # them (regions, prefix, billing) cannot change either.
            made = len(state.resources())
            problems = _fixed_problems(run_id, state.params, params, made) if made else []
            if problems:
                raise ParameterError(problems, source=f"run {run_id}")
            state.manifest.params = params.model_copy(update={"run_id": run_id})
            state.manifest.account = account or state.manifest.account
        else:
            manifest = Manifest(
                run_id=run_id, params=params.model_copy(update={"run_id": run_id}), names=names, account=account
            )
            state = cls(folder, manifest)
        state.save()
        write_atomically(outputs / LATEST_NAME, run_id + "\n")
        return state

    @classmethod
    def open(cls, run_id: str | None = None, outputs_dir: Path | str | None = None) -> RunState:
        """The manifest of ``run_id``, or of the latest run started in ``outputs_dir`` when None."""
        outputs = Path(outputs_dir) if outputs_dir else default_outputs_dir()
        if run_id is None:
            try:
                run_id = (outputs / LATEST_NAME).read_text().strip()
            except FileNotFoundError:
                raise RunNotFound(
                    f"No run has been started in {outputs}: run 00_setup first (or pass run_id)."
                ) from None
        folder = outputs / run_id
        try:
            manifest = Manifest.model_validate_json((folder / MANIFEST_NAME).read_text(), context={RECORDED: True})
        except FileNotFoundError:
            raise RunNotFound(f"No manifest for run {run_id!r} at {folder / MANIFEST_NAME}.") from None
        return cls(folder, manifest)

    def save(self) -> None:
        write_atomically(self.path, self.manifest.model_dump_json(indent=2) + "\n")

    def update_params(self, params: Params) -> None:
        """Record the parameters the run now uses (a resume with changed run-wide values)."""
        with self._lock:
            self.manifest.params = params.model_copy(update={"run_id": self.run_id})
            self.save()

    def use_step_parameters(self, **values: Any) -> Params:
        """The run's parameters with a notebook's own step parameters applied, recorded in the manifest.

        ``None`` keeps the run's value (set in 00_setup). A run-wide parameter cannot be changed here
        (ParameterError naming 00_setup): later notebooks take those from the manifest.
        """
        run_wide = [key for key in values if parameter_notebook(key) == SETUP_NOTEBOOK]
        if run_wide:
            raise ParameterError(
                [
                    ParameterProblem(
                        key=key,
                        value=values[key],
                        allowed=f"set for the whole run in {SETUP_NOTEBOOK}, not per notebook",
                    )
                    for key in run_wide
                ]
            )
        chosen = {key: value for key, value in values.items() if value is not None}
        params = self.params.with_overrides(**chosen) if chosen else self.params
        if params != self.params:
            self.update_params(params)
        return params

    def record(
        self,
        kind: str,
        name: str,
        region: str,
        arn: str | None = None,
        notebook: str | None = None,
        **details: Any,
    ) -> Resource:
        """Record a resource (idempotent: the same kind, name and region are recorded once) and save."""
        with self._lock:
            for existing in self.manifest.resources:
                if existing.identity == (kind, name, region):
                    existing.arn = arn or existing.arn
                    existing.details.update(details)
                    self.save()
                    return existing
            resource = Resource(kind=kind, name=name, region=region, arn=arn, notebook=notebook, details=details)
            self.manifest.resources.append(resource)
            self.save()
            return resource

    def forget(self, kind: str, name: str, region: str) -> bool:
        """Drop a resource that no longer exists; returns whether it was recorded."""
        with self._lock:
            before = len(self.manifest.resources)
            self.manifest.resources = [r for r in self.manifest.resources if r.identity != (kind, name, region)]
            removed = len(self.manifest.resources) != before
            if removed:
                self.save()
            return removed

    def record_removal(self, resource: Resource, outcome: dict[str, Any] | str, removed: bool, by: str | None) -> None:
        """Log a cleanup step in the manifest; when ``removed``, drop the resource as ``forget`` does (one save)."""
        with self._lock:
            self.manifest.removals.append(Removal(resource=resource, outcome=outcome, by=by))
            if removed:
                self.manifest.resources = [r for r in self.manifest.resources if r.identity != resource.identity]
            self.save()

    def resources(self, kind: str | None = None, region: str | None = None) -> list[Resource]:
        return [
            r
            for r in self.manifest.resources
            if (kind is None or r.kind == kind) and (region is None or r.region == region)
        ]
