"""`python -m globaltables run --params params/strong.yaml`: every notebook on a strong (MRSC) table with
a witness, at small sizes, ending with nothing left."""

import json

import nbformat
from globaltables.batch import PROJECT_DIR

from tests.e2e.test_batch_run import last_printed_line, run_cli
from tests.e2e.test_interrupted_runs import SMALL


def test_a_strong_run_passes_every_notebook_and_leaves_nothing(tmp_path, isolated_home):
    outputs = tmp_path / "runs"
    small = [*SMALL[:-2], "-p", "confirm_cleanup=true"]
    completed = run_cli(
        "run",
        "--params",
        str(PROJECT_DIR / "params" / "strong.yaml"),
        "--outputs",
        str(outputs),
        "--run-id",
        "strong-run",
        "-p",
        "table_name_prefix=e2e-strong",
        *small,
    )
    folder = outputs / "strong-run"
    result = json.loads((folder / "run.json").read_text())
    statuses = [nb["status"] for nb in result["notebooks"]]
    assert completed.returncode == 0, f"{statuses}\n{completed.stdout[-4000:]}{completed.stderr[-2000:]}"
    notebooks = sorted(p.name for p in (PROJECT_DIR / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [nb["status"] for nb in result["notebooks"]] == ["ok"] * len(notebooks)
    for name in notebooks:
        assert nbformat.read(folder / name, as_version=4).metadata["papermill"]["exception"] is None, name

    manifest = json.loads((folder / "state.json").read_text())
    assert (manifest["params"]["consistency"], manifest["params"]["witness_region"]) == ("strong", "us-west-2")
    assert last_printed_line(folder / "02_table_replicas.ipynb") == (
        "2 regions ACTIVE: 1 replica, PITR and deletion protection on everywhere; "
        "strong consistency (MRSC), witness in us-west-2 ACTIVE"
    )
    # No ReplicationLatency alarm on a strong table (it publishes none): the throttle alarms only.
    assert last_printed_line(folder / "04_monitoring.ipynb") == (
        "4 alarms with actions in 2 regions; replication lag measured on 2 region pairs"
    )
    assert "of the strong (MRSC) table with 0 errors" in last_printed_line(folder / "07_performance.ipynb")
    assert last_printed_line(folder / "08_conflicts.ipynb").endswith(
        "; strong side: no stale strongly consistent read, nothing lost"
    )
    # 09's evacuation fails the second region over to the first; a strong write is in two regions before it
    # is acknowledged, so nothing existed only in the failed region at the cut (the check cell asserts it).
    assert last_printed_line(folder / "09_resilience.ipynb") == (
        "evacuation of us-east-2: its traffic moved to us-east-1; after recovery every acknowledged write is in all "
        "2 regions; replication pause of us-east-2: writes continued in every region; afterwards all 2 replicas "
        "hold every acknowledged write"
    )
    # 10 removed everything: the manifest is empty and nothing of the run is found in any region.
    assert manifest["resources"] == []
    assert last_printed_line(folder / "10_cleanup.ipynb") == "nothing of run strong-run is left in 2 regions"
