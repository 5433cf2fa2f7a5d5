"""02's and 06's library against the races AWS has (issue 14): PITR refused right after ACTIVE, a replica
not listed at once, a busy table, a backup role too new to assume, a failed backup job, untagged restores."""

import pytest
from globaltables.backup import (
    backup_now,
    ensure_backup_role,
    ensure_plan,
    ensure_selection,
    ensure_vault,
    restore_to_point_in_time,
)
from globaltables.cleanup import orphans
from globaltables.clients import AwsClients
from globaltables.kinds import ResourceKind
from globaltables.kms import ensure_region_key
from globaltables.local import EmbeddedAWS
from globaltables.names import RUN_TAG_KEY, derive_names, new_run_id
from globaltables.params import validate_params
from globaltables.seeding import SAMPLE_ENTITIES, sample_items, table_digest, write_items
from globaltables.state import RunState
from globaltables.tables import describe, ensure_protection, ensure_replica, ensure_table, global_table_status

EAST, WEST, ASIA = "us-east-1", "eu-west-1", "ap-southeast-1"


@pytest.fixture
def timing(admin):
    """Set the embedded AWS's timing for one test; back to fast after it."""
    yield lambda text: admin.configure(timing=text)
    admin.configure(timing="fast", replica_transition_s=0.1)


def keys_of(clients, run):
    return {region: ensure_region_key(clients, run, region).arn for region in run.params.regions}


def replica_regions(table):
    return {r["RegionName"]: r["ReplicaStatus"] for r in table.get("Replicas", [])}


# ----- 02: replicas and protection ---------------------------------------------------------------------


def test_a_replica_counts_as_added_only_once_listed_and_active(clients, new_run, timing):
    run = new_run(regions=[EAST, WEST])
    keys = keys_of(clients, run)
    ensure_table(clients, run, keys[EAST])
    timing("fast,replica_listing_lag=2,create_replica=0.3")
    table = ensure_replica(clients, run, WEST, keys[WEST])
    assert replica_regions(table) == {WEST: "ACTIVE"}
    assert describe(clients, WEST, run.names.table_name)["TableStatus"] == "ACTIVE"


def test_a_replica_change_refused_while_another_is_under_way_is_retried(clients, new_run, timing, capsys):
    run = new_run(regions=[EAST, WEST, ASIA])
    keys = keys_of(clients, run)
    ensure_table(clients, run, keys[EAST])
    timing("fast,replica_listing_lag=1,create_replica=1.5")
    # Another process adds a replica: the primary still looks ACTIVE without it, but refuses the next change.
    clients.client("dynamodb", EAST).update_table(
        TableName=run.names.table_name,
        ReplicaUpdates=[{"Create": {"RegionName": WEST, "KMSMasterKeyId": keys[WEST]}}],
    )
    table = ensure_replica(clients, run, ASIA, keys[ASIA])
    assert replica_regions(table) == {WEST: "ACTIVE", ASIA: "ACTIVE"}
    assert "replica in ap-southeast-1: ResourceInUseException, retrying" in capsys.readouterr().out


def test_protection_waits_for_pitr_to_be_available_and_shows_the_retries(clients, new_run, timing, capsys):
    run = new_run(regions=[EAST, WEST])
    keys = keys_of(clients, run)
    # A window long enough to be still open on a busy machine once the replica is ACTIVE too.
    timing("fast,pitr_unavailable=4,create_replica=0.2")
    ensure_table(clients, run, keys[EAST])
    ensure_replica(clients, run, WEST, keys[WEST])
    for region in [WEST, EAST]:  # the region that turned ACTIVE last first: its window is surely open
        ensure_protection(clients, run, region)
    assert all(row.pitr == "ENABLED" for row in global_table_status(clients, run.params.regions, run.names.table_name))
    shown = capsys.readouterr().out
    assert f"point-in-time recovery in {WEST}: ContinuousBackupsUnavailableException, retrying in" in shown


def test_protection_returns_with_the_table_active_again_after_the_change(clients, new_run, timing):
    run = new_run(regions=[EAST, WEST])
    keys = keys_of(clients, run)
    ensure_table(clients, run, keys[EAST])
    ensure_replica(clients, run, WEST, keys[WEST])
    timing("fast,protection_update=1")
    ensure_protection(clients, run, WEST)
    west = describe(clients, WEST, run.names.table_name)
    assert west["TableStatus"] == "ACTIVE" and west["DeletionProtectionEnabled"]


# ----- 06: the backup role, the backup job, the restore -----------------------------------------------


@pytest.fixture
def backed_up_table(clients, new_run):
    """A run with a single-region table and a vault; the run, the table's ARN."""

    def make(**params):
        run = new_run(regions=[EAST, WEST], **params)  # the table stays single-region
        table = ensure_table(clients, run, keys_of(clients, run)[EAST])
        ensure_vault(clients, run, EAST)
        return run, table["TableArn"]

    return make


def test_a_selection_waits_for_a_new_backup_role_to_be_usable(clients, backed_up_table, timing):
    run, table_arn = backed_up_table()
    timing("fast,role_propagation=1.5")
    role = ensure_backup_role(clients, run)
    lines = []
    ensure_selection(clients, run, EAST, ensure_plan(clients, run, EAST), role, table_arn, show=lines.append)
    assert lines and "cannot be assumed by AWS Backup" in lines[0]


def test_a_failed_backup_job_is_replaced_by_a_new_one(clients, backed_up_table, timing, capsys):
    run, table_arn = backed_up_table()
    timing("fast,role_propagation=1.5")
    role = ensure_backup_role(clients, run)
    job = backup_now(clients, run, EAST, table_arn, role)
    assert job.state == "COMPLETED"
    recorded = run.resources(ResourceKind.RECOVERY_POINT, EAST)
    assert [(r.arn, r.details["job_id"]) for r in recorded] == [(job.recovery_point_arn, job.job_id)]
    assert "ended FAILED (IAM Role" in capsys.readouterr().out


def test_a_rerun_after_a_failed_backup_job_starts_a_new_job(clients, backed_up_table, timing):
    run, table_arn = backed_up_table(wait_timeout_s=1)
    timing("fast,role_propagation=60")
    role = ensure_backup_role(clients, run)
    with pytest.raises(RuntimeError, match="ended FAILED"):
        backup_now(clients, run, EAST, table_arn, role)
    failed_job = run.resources(ResourceKind.RECOVERY_POINT, EAST)[0].details["job_id"]
    timing("fast")  # the role has propagated by the time the step is rerun
    job = backup_now(clients, run, EAST, table_arn, role)
    assert job.state == "COMPLETED" and job.job_id != failed_job
    assert [r.details["job_id"] for r in run.resources(ResourceKind.RECOVERY_POINT, EAST)] == [job.job_id]


def test_a_restored_table_carries_the_run_tag_once_and_the_orphan_finder_sees_it(clients, new_run):
    run = new_run(regions=[EAST, WEST])
    ensure_table(clients, run, keys_of(clients, run)[EAST])
    ensure_protection(clients, run, EAST)
    restored = restore_to_point_in_time(clients, run, EAST)
    restore_to_point_in_time(clients, run, EAST)  # a rerun tags nothing twice
    tags = clients.client("dynamodb", EAST).list_tags_of_resource(ResourceArn=restored["TableArn"])["Tags"]
    assert tags == [{"Key": RUN_TAG_KEY, "Value": run.run_id}]
    found = {(left.service, left.name) for left in orphans(clients, [EAST]).get(run.run_id, [])}
    assert ("dynamodb", restored["TableName"]) in found


# ----- 02 and 06 together under the races ---------------------------------------------------------------


def test_table_replicas_and_backup_steps_complete_with_every_race_on(tmp_path):
    races = "fast,pitr_unavailable=1,role_propagation=1,protection_update=1,replica_listing_lag=0.5"
    with EmbeddedAWS(replication_delay="0", timing=races) as server:
        params = validate_params({"endpoint_url": server.endpoint, "wait_timeout_s": 60, "regions": [EAST, WEST]})
        names = derive_names(params.table_name_prefix)
        run = RunState.create(params, names, new_run_id(), tmp_path / "outputs", account="123456789012")
        clients = AwsClients("local", server.endpoint)
        keys = keys_of(clients, run)
        table = ensure_table(clients, run, keys[EAST])
        ensure_replica(clients, run, WEST, keys[WEST])
        for region in run.params.regions:
            ensure_protection(clients, run, region)
        status = global_table_status(clients, run.params.regions, run.names.table_name)
        assert all(row.table_status == "ACTIVE" and row.pitr == "ENABLED" and row.deletion_protection for row in status)
        write_items(clients, EAST, run.names.table_name, sample_items(20), show_progress=False).raise_for_failures()
        role = ensure_backup_role(clients, run)
        ensure_vault(clients, run, EAST)
        ensure_selection(clients, run, EAST, ensure_plan(clients, run, EAST), role, table["TableArn"])
        assert backup_now(clients, run, EAST, table["TableArn"], role).state == "COMPLETED"
        restored = restore_to_point_in_time(clients, run, EAST)
        source = table_digest(clients, EAST, run.names.table_name, SAMPLE_ENTITIES)
        copy = table_digest(clients, EAST, restored["TableName"], SAMPLE_ENTITIES)
        assert (copy.items, copy.sha256) == (source.items, source.sha256) == (20, source.sha256)
