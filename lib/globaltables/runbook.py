"""What every notebook after 00_setup starts with: the run's manifest, clients for its target, and the
line that says which run, table and regions the notebook works on."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from globaltables.clients import AwsClients
from globaltables.perf import MODE_LABELS
from globaltables.state import RunState


class OpenedRun(NamedTuple):
    """``run, clients, summary = open_run(...)``."""

    run: RunState
    clients: AwsClients
    summary: str


def run_summary(run: RunState) -> str:
    """One line: the run, the table's mode and name, its regions (and a strong table's witness), the
    target; e.g. ``run r1: eventual (MREC) table app-k3x9q2 in us-east-1, eu-west-1 (local)``."""
    params = run.params
    witness = f", witness in {params.witness_region}" if params.witness_region else ""
    return (
        f"run {run.run_id}: {MODE_LABELS[params.consistency]} table {run.names.table_name} in "
        f"{', '.join(params.regions)}{witness} ({params.target})"
    )


def open_run(run_id: str | None = None, outputs_dir: str | Path | None = None, **step_parameters: Any) -> OpenedRun:
    """The run (the latest in ``outputs_dir`` when ``run_id`` is None), clients for its target, and its
    one-line summary (``run_summary``) for the notebook to print.

    ``step_parameters`` are the notebook's own parameters (None: the run's value); the values used are
    validated and recorded in the manifest, so ``run.params`` is what this step runs with.
    Raises RunNotFound when 00_setup has not run yet, ParameterError for a bad value.
    """
    run = RunState.open(run_id, outputs_dir)
    run.use_step_parameters(**step_parameters)
    return OpenedRun(run, AwsClients.for_params(run.params), run_summary(run))
