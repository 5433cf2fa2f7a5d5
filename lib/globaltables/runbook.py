"""What every notebook after 00_setup starts with: the run's manifest and clients for its target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from globaltables.clients import AwsClients
from globaltables.state import RunState


def open_run(
    run_id: str | None = None, outputs_dir: str | Path | None = None, **step_parameters: Any
) -> tuple[RunState, AwsClients]:
    """The run (the latest in ``outputs_dir`` when ``run_id`` is None) and clients for its target.

    ``step_parameters`` are the notebook's own parameters (None: the run's value); the values used are
    validated and recorded in the manifest, so ``run.params`` is what this step runs with.
    Raises RunNotFound when 00_setup has not run yet, ParameterError for a bad value.
    """
    run = RunState.open(run_id, outputs_dir)
    run.use_step_parameters(**step_parameters)
    return run, AwsClients.for_params(run.params)
