"""The run manifest, ``outputs/<run-id>/state.json``: what a run made, where, written atomically.

Every notebook records a resource here before it moves on; later notebooks read it and cleanup
trusts it. Writes go to a temporary file in the same folder and are renamed over the manifest, so
a run killed at any moment leaves either the old manifest or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from globaltables.names import ResourceNames
from globaltables.params import Params

OUTPUTS_ENV = "GLOBALTABLES_OUTPUTS"
MANIFEST_NAME = "state.json"
LATEST_NAME = "LATEST"


class RunNotFound(FileNotFoundError):
    """No manifest for the requested run (or no run at all yet)."""


def default_outputs_dir() -> Path:
    """$GLOBALTABLES_OUTPUTS, else the project's ``outputs/`` (beside ``lib/``), else ./outputs."""
    if os.environ.get(OUTPUTS_ENV):
        return Path(os.environ[OUTPUTS_ENV])
    project = Path(__file__).resolve().parents[2]
    if (project / "pyproject.toml").exists():
        return project / "outputs"
    return Path.cwd() / "outputs"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Resource(BaseModel):
    kind: str  # service:type, e.g. "dynamodb:table", "kms:key", "iam:role"
    name: str
    region: str  # "global" for IAM
    arn: str | None = None
    notebook: str | None = None
    created_at: str = Field(default_factory=_now)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.region)


class Manifest(BaseModel):
    run_id: str
    created_at: str = Field(default_factory=_now)
    params: Params
    names: ResourceNames
    account: str | None = None
    resources: list[Resource] = Field(default_factory=list)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes it private; outputs are for reading
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
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
            # A rerun keeps the names already in use: resources may exist under them.
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
            manifest = Manifest.model_validate_json((folder / MANIFEST_NAME).read_text())
        except FileNotFoundError:
            raise RunNotFound(f"No manifest for run {run_id!r} at {folder / MANIFEST_NAME}.") from None
        return cls(folder, manifest)

    def save(self) -> None:
        write_atomically(self.path, self.manifest.model_dump_json(indent=2) + "\n")

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

    def resources(self, kind: str | None = None, region: str | None = None) -> list[Resource]:
        return [
            r
            for r in self.manifest.resources
            if (kind is None or r.kind == kind) and (region is None or r.region == region)
        ]
