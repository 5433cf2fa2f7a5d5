"""05_lambda's and 06_backup's library on the embedded AWS: deploy, invoke, back up, restore, rerun."""

import json

from globaltables.backup import (
    backup_now,
    ensure_backup_role,
    ensure_plan,
    ensure_selection,
    ensure_vault,
    pitr_rows,
    restore_to_point_in_time,
)
from globaltables.functions import RUNTIME, ensure_function, function_environment, invocation_rows, invoke, package
from globaltables.iam import ensure_application_role
from globaltables.kms import ensure_region_key
from globaltables.seeding import SAMPLE_ENTITIES, sample_items, table_digest, write_items
from globaltables.tables import ensure_protection, ensure_replica, ensure_table

from tests.unit.local.helpers import listed


def global_table(clients, run):
    keys = {region: ensure_region_key(clients, run, region).arn for region in run.params.regions}
    table = ensure_table(clients, run, keys[run.params.primary_region])
    for region in run.params.replica_regions:
        ensure_replica(clients, run, region, keys[region])
    for region in run.params.regions:
        ensure_protection(clients, run, region)
    return table


def test_function_is_deployed_everywhere_invoked_and_redeployed_without_change(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    global_table(clients, run)
    role = ensure_application_role(clients, run, "123456789012")
    assert json.loads(function_environment(run)["REGIONS"]) == ["us-east-1", "eu-west-1"]  # structured (defect 9)
    for region in run.params.regions:
        configuration = ensure_function(clients, run, region, role.role_arn, package())
        assert configuration["Runtime"] == RUNTIME == "python3.13"  # current runtime (defect 10)
    calls = [invoke(clients, region, run.names.function_name, f"test-{region}") for region in run.params.regions]
    assert all(call.ok for call in calls), [c.result for c in calls]
    rows = invocation_rows(calls)
    assert {(r["function in"], r["table in"]) for r in rows} == {
        (a, b) for a in run.params.regions for b in run.params.regions
    }
    assert "REPORT RequestId" in calls[0].log_tail
    before = len(run.resources())
    ensure_function(clients, run, "us-east-1", role.role_arn, package())
    assert len(run.resources()) == before


def test_backup_chain_and_restore_drill(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    table = global_table(clients, run)
    write_items(clients, "us-east-1", run.names.table_name, sample_items(60), show_progress=False).raise_for_failures()
    assert all(row["pitr"] == "ENABLED" for row in pitr_rows(clients, run.params.regions, run.names.table_name))
    role = ensure_backup_role(clients, run)
    attached = clients.client("iam", "us-east-1").list_attached_role_policies(RoleName=role.split("/")[-1])
    assert {p["PolicyName"] for p in attached["AttachedPolicies"]} == {
        "AWSBackupServiceRolePolicyForBackup",
        "AWSBackupServiceRolePolicyForRestores",
    }
    ensure_vault(clients, run, "us-east-1")
    plan = ensure_plan(clients, run, "us-east-1")
    ensure_selection(clients, run, "us-east-1", plan, role, table["TableArn"])
    job = backup_now(clients, run, "us-east-1", table["TableArn"], role)
    assert job.state == "COMPLETED"
    restored = restore_to_point_in_time(clients, run, "us-east-1")
    source = table_digest(clients, "us-east-1", run.names.table_name, SAMPLE_ENTITIES)
    copy = table_digest(clients, "us-east-1", restored["TableName"], SAMPLE_ENTITIES)
    assert (copy.items, copy.sha256) == (source.items, source.sha256) == (60, source.sha256)
    kinds = {r.kind for r in run.resources()}
    assert {
        "backup:vault",
        "backup:plan",
        "backup:selection",
        "backup:recovery-point",
        "dynamodb:restored-table",
    } <= kinds
    # A rerun adopts everything: no second plan, selection, recovery point or restored table.
    before = [r.model_dump(exclude={"created_at"}) for r in run.resources()]
    ensure_backup_role(clients, run)
    ensure_vault(clients, run, "us-east-1")
    plan_again = ensure_plan(clients, run, "us-east-1")
    ensure_selection(clients, run, "us-east-1", plan_again, role, table["TableArn"])
    assert backup_now(clients, run, "us-east-1", table["TableArn"], role).recovery_point_arn == job.recovery_point_arn
    restore_to_point_in_time(clients, run, "us-east-1")
    assert [r.model_dump(exclude={"created_at"}) for r in run.resources()] == before
    points = listed(
        clients.client("backup", "us-east-1"),
        "list_recovery_points_by_backup_vault",
        "RecoveryPoints",
        BackupVaultName=run.names.backup_vault_name,
    )
    assert len(points) == 1
