"""Running notebooks 01-06 a second time for the same run changes nothing and fails nowhere."""

import json
import subprocess
import sys

import pytest
from globaltables.batch import PROJECT_DIR
from globaltables.clients import AwsClients
from globaltables.local import EmbeddedAWS

from tests.unit.local.helpers import listed, table_names

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]
FIRST_HALF = ["00_setup", "01_iam_kms", "02_table_replicas", "03_seed_data", "04_monitoring", "05_lambda", "06_backup"]


def inventory(clients: AwsClients) -> dict:
    """Everything the runbook could have made, listed service by service in every region (every page:
    the embedded AWS answers lists in small pages, as AWS may)."""
    found = {}
    iam = clients.client("iam", "us-east-1")
    found["iam roles"] = sorted(r["RoleName"] for r in listed(iam, "list_roles", "Roles"))
    found["iam policies"] = sorted(p["Arn"] for p in listed(iam, "list_policies", "Policies", Scope="Local"))
    for region in REGIONS:
        kms, cloudwatch, backup = (clients.client(service, region) for service in ("kms", "cloudwatch", "backup"))
        found[f"{region} tables"] = table_names(clients.client("dynamodb", region))
        found[f"{region} keys"] = len(listed(kms, "list_keys", "Keys"))
        found[f"{region} aliases"] = sorted(a["AliasName"] for a in listed(kms, "list_aliases", "Aliases"))
        found[f"{region} alarms"] = sorted(
            a["AlarmName"] for a in listed(cloudwatch, "describe_alarms", "MetricAlarms")
        )
        found[f"{region} dashboards"] = sorted(
            d["DashboardName"] for d in listed(cloudwatch, "list_dashboards", "DashboardEntries")
        )
        found[f"{region} functions"] = sorted(
            f["FunctionName"] for f in listed(clients.client("lambda", region), "list_functions", "Functions")
        )
        found[f"{region} vaults"] = sorted(
            v["BackupVaultName"] for v in listed(backup, "list_backup_vaults", "BackupVaultList")
        )
        found[f"{region} plans"] = sorted(
            p["BackupPlanName"] for p in listed(backup, "list_backup_plans", "BackupPlansList")
        )
        found[f"{region} topics"] = sorted(
            t["TopicArn"] for t in listed(clients.client("sns", region), "list_topics", "Topics")
        )
    return found


@pytest.fixture(scope="module")
def server():
    with EmbeddedAWS(replication_delay="0", replica_transition_s=0.1) as embedded:
        yield embedded


def run_cli(server, outputs, *args):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "globaltables",
            "run",
            "--outputs",
            str(outputs),
            "--run-id",
            "twice",
            "-p",
            f"endpoint_url={server.endpoint}",
            "-p",
            "item_count=120",
            *args,
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def test_second_run_of_notebooks_01_to_06_is_a_no_op(server, tmp_path, isolated_home):
    outputs = tmp_path / "runs"
    run_cli(server, outputs, "--only", ",".join(FIRST_HALF))
    clients = AwsClients("local", server.endpoint)
    manifest_before = json.loads((outputs / "twice" / "state.json").read_text())
    inventory_before = inventory(clients)
    assert inventory_before["eu-west-1 tables"] == [manifest_before["names"]["table_name"]]

    run_cli(server, outputs, "--only", ",".join(FIRST_HALF[1:]))
    manifest_after = json.loads((outputs / "twice" / "state.json").read_text())

    def resources(manifest):
        return [{k: v for k, v in r.items() if k != "created_at"} for r in manifest["resources"]]

    assert resources(manifest_after) == resources(manifest_before)
    assert manifest_after["names"] == manifest_before["names"]
    assert inventory(clients) == inventory_before
