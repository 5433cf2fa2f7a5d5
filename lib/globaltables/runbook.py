"""What every notebook after 00_setup starts with: the run's manifest and clients for its target."""

from __future__ import annotations

from pathlib import Path

from globaltables.clients import AwsClients
from globaltables.state import RunState


def open_run(run_id: str | None = None, outputs_dir: str | Path | None = None) -> tuple[RunState, AwsClients]:
    """The run (the latest in ``outputs_dir`` when ``run_id`` is None) and clients for its target.

    Raises RunNotFound when 00_setup has not run yet.
    """
    run = RunState.open(run_id, outputs_dir)
    return run, AwsClients.for_params(run.params)
