"""Every parameter of the schema, set to a value other than its default, reaches the step that uses it
in a batch run, takes effect there, and is what the manifest records."""

import json
import subprocess
import sys

import nbformat
import pytest
import yaml
from globaltables.batch import PROJECT_DIR
from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS
from globaltables.params import Params
from globaltables.seeding import SAMPLE_ENTITIES, expected_digest, sample_items, table_digest

from tests.unit.local.helpers import listed, table_names

REGIONS = ["us-east-2", "eu-central-1"]
STRONG_ONLY = {"consistency", "witness_region"}


@pytest.fixture(scope="module")
def server():
    with EmbeddedAWS(replication_delay="0", replica_transition_s=0.1) as embedded:
        yield embedded


def non_default_values(endpoint: str) -> dict:
    return {
        "regions": REGIONS,
        "table_name_prefix": "every-param",
        "run_id": "every-param",
        "endpoint_url": endpoint,
        "confirm_costs": True,
        "billing_mode": "PROVISIONED",
        "read_capacity": 7,
        "write_capacity": 6,
        "max_write_capacity": 60,
        "wait_timeout_s": 120.0,
        "item_count": 37,
        "data_seed": 7,
        "writer_threads": 3,
        "replication_alarm_ms": 777.0,
        "throttle_alarm_events": 9,
        "canary_rounds": 2,
        "load_mode": "open",
        "load_workers": 3,
        "load_rate_per_s": 40.0,
        "load_read_ratio": 0.5,
        "load_key_distribution": "zipfian",
        "load_key_space": 40,
        "load_duration_s": 0.6,
        "load_warmup_s": 0.3,
        "load_engine": "lambda",
        "load_invocations_per_region": 3,
        "conflict_items": 7,
        "conflict_rounds": 1,
        "conflict_delays_ms": [50.0],
        "drill_duration_s": 0.7,
        "drill_write_rate_per_s": 15.0,
        "drill_failed_region": "us-east-2",
        "drill_cut_after_s": 0.25,
        "drill_pause_s": 0.3,
        "confirm_cleanup": True,
    }


def cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "globaltables", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout
    )


def printed(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "".join(
        output.get("text", "") + json.dumps(output.get("data", {}))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def test_every_parameter_takes_effect_in_a_batch_run(server, tmp_path, isolated_home):
    values = non_default_values(server.endpoint)
    defaults = Params().model_dump()
    # target stays local here (real AWS is refused without confirmation: tested elsewhere); consistency and
    # witness_region make a strong table, which refuses replication_alarm_ms (no ReplicationLatency there):
    # tests/e2e/test_strong_run.py runs them in a batch run. Every other parameter of the schema is in this
    # test, so a new parameter must be added to it.
    assert set(values) | {"target"} | STRONG_ONLY == set(Params.model_fields)
    assert all(values[key] != defaults[key] for key in values)
    params_file = tmp_path / "every.yaml"
    params_file.write_text(yaml.safe_dump(values))
    outputs = tmp_path / "runs"

    first = cli("run", "--params", str(params_file), "--outputs", str(outputs), "--only", ",".join(BEFORE_CLEANUP))
    assert first.returncode == 0, first.stdout + first.stderr
    folder = outputs / "every-param"
    manifest = json.loads((folder / "state.json").read_text())
    assert {key: manifest["params"][key] for key in values} == values, "the manifest records the values used"

    clients = AwsClients("local", server.endpoint)
    table_name = manifest["names"]["table_name"]
    assert table_name.startswith("every-param-")
    for region in REGIONS:
        table = clients.client("dynamodb", region).describe_table(TableName=table_name)["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED", region
        throughput = table["ProvisionedThroughput"]
        assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (7, 6), region
        targets = listed(
            clients.client("application-autoscaling", region),
            "describe_scalable_targets",
            "ScalableTargets",
            ServiceNamespace="dynamodb",
        )
        scaled = {
            t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in targets if table_name in t["ResourceId"]
        }
        assert scaled == {f"table/{table_name}": (6, 60), f"table/{table_name}/index/GSI1": (6, 60)}, region
        digest = table_digest(clients, region, table_name, SAMPLE_ENTITIES)
        expected = expected_digest(sample_items(37, 7))
        assert (digest.items, digest.sha256) == (expected.items, expected.sha256), region
        alarms = listed(clients.client("cloudwatch", region), "describe_alarms", "MetricAlarms")
        ours = {"ReplicationLatency": 777.0, "ReadThrottleEvents": 9.0, "WriteThrottleEvents": 9.0}
        # (Auto scaling's own target-tracking alarms on capacity are not the runbook's.)
        thresholds = {a["MetricName"]: a["Threshold"] for a in alarms if a["MetricName"] in ours}
        assert thresholds == ours, region
    assert table_names(clients.client("dynamodb", "us-east-1")) == []

    assert "written by 3 writers" in printed(folder / "03_seed_data.ipynb")
    assert "4 lag samples over 2 rounds" in printed(folder / "04_monitoring.ipynb")
    spec = json.loads((folder / "performance.json").read_text())[0]["spec"]
    assert {key: spec[key] for key in LOAD_SPEC} == LOAD_SPEC
    assert "by AWS Lambda" in printed(folder / "07_performance.ipynb")  # load_engine: the fan-out ran
    storms = printed(folder / "08_conflicts.ipynb")
    assert "fixed:50" in storms and "1 storm(s) converged" in storms
    # The drills fail the region named (not the last), which moves to the next; its traffic goes there.
    drilled = printed(folder / "09_resilience.ipynb")
    assert "evacuation of us-east-2: its traffic moved to eu-central-1" in drilled
    assert "us-east-2 -&gt; eu-central-1" in drilled or "us-east-2 -> eu-central-1" in drilled

    # confirm_cleanup: 10 deletes without asking (with false, a batch run stops before deleting).
    cleaned = cli("run", "--outputs", str(outputs), "--run-id", "every-param", "--from", "10_cleanup")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    for region in REGIONS:
        assert table_names(clients.client("dynamodb", region)) == []
        # Removing a replica leaves its scalable targets, policies and alarms (AWS's ReplicationGroupUpdate
        # reference): cleanup removes those of every region itself.
        scaling = clients.client("application-autoscaling", region)
        assert listed(scaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="dynamodb") == []
        assert listed(scaling, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="dynamodb") == []
        assert listed(clients.client("cloudwatch", region), "describe_alarms", "MetricAlarms") == [], region


BEFORE_CLEANUP = [
    "00_setup",
    "01_iam_kms",
    "02_table_replicas",
    "03_seed_data",
    "04_monitoring",
    "05_lambda",
    "06_backup",
    "07_performance",
    "08_conflicts",
    "09_resilience",
]
LOAD_SPEC = {
    "mode": "open",
    "workers": 3,
    "rate_per_s": 40.0,
    "read_ratio": 0.5,
    "key_distribution": "zipfian",
    "key_space": 40,
    "duration_s": 0.6,
    "warmup_s": 0.3,
}


def test_wait_timeout_bounds_every_wait(tmp_path, isolated_home):
    with EmbeddedAWS(replication_delay="0", replica_transition_s=5) as slow:
        completed = cli(
            "run",
            "--outputs",
            str(tmp_path),
            "--run-id",
            "short-wait",
            "--only",
            "00_setup,01_iam_kms,02_table_replicas",
            "-p",
            f"endpoint_url={slow.endpoint}",
            "-p",
            "wait_timeout_s=0.5",
            timeout=300,
        )
    assert completed.returncode == 1
    assert "FAILED in 02_table_replicas" in completed.stdout
    assert "not reached within 0.5 s" in completed.stdout


def test_a_step_parameter_for_a_notebook_not_run_is_refused(server, tmp_path, isolated_home):
    setup = cli(
        "run",
        "--outputs",
        str(tmp_path),
        "--run-id",
        "r",
        "--only",
        "00_setup",
        "-p",
        f"endpoint_url={server.endpoint}",
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    refused = cli("run", "--outputs", str(tmp_path), "--run-id", "r", "--only", "01_iam_kms", "-p", "item_count=5")
    assert refused.returncode == 2
    assert "parameter 'item_count' = 5: used by 03_seed_data, which this invocation does not run" in refused.stderr
    assert "Embedded AWS" not in refused.stdout
