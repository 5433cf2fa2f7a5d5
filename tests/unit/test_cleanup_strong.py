"""Cleanup of a strong (MRSC) table: dissolved in ONE UpdateTable (the replica and the witness, or two
replicas) after deletion protection is off in every region, then the remaining table deleted; a run
stopped midway is cleaned up from its manifest; the orphan finder finds strong leftovers."""

from globaltables import cleanup
from globaltables.cleanup import Result
from globaltables.kinds import ResourceKind
from globaltables.state import Resource, RunState
from globaltables.tables import describe, ensure_table

from tests.unit.test_cleanup import nothing_left
from tests.unit.test_strong_table import (
    THREE_REPLICAS,
    WITH_WITNESS,
    build_strong,
    keys_of,
)

REMOVALS = ("ReplicaUpdates", "GlobalTableWitnessUpdates")


def dissolutions(calls):
    return [r for r in calls.requests if any(key in r for key in REMOVALS)]


def tables_of(clients, run, regions):
    return {region: describe(clients, region, run.names.table_name) is not None for region in regions}


# ----- without the embedded AWS -------------------------------------------------------------------------


def test_the_witness_goes_after_the_replicas_and_holds_the_table_back(new_run):
    run = new_run(**WITH_WITNESS)
    name = run.names.table_name
    run.record(ResourceKind.TABLE, name, "us-east-1")
    run.record(ResourceKind.WITNESS, name, "us-west-2")
    run.record(ResourceKind.REPLICA, name, "us-east-2")
    kinds = [r.kind for r in cleanup.plan(run)]
    assert kinds == [ResourceKind.REPLICA, ResourceKind.WITNESS, ResourceKind.TABLE]
    run.forget(ResourceKind.REPLICA, name, "us-east-2")
    table = run.resources(ResourceKind.TABLE)[0]
    assert cleanup.waiting_for(run, table).identity == (ResourceKind.WITNESS, name, "us-west-2")


# ----- through the embedded AWS -------------------------------------------------------------------------


def test_a_strong_table_with_a_witness_is_dissolved_in_one_update_table(strong_tables, new_run, update_calls):
    clients = strong_tables
    run = new_run(**WITH_WITNESS)
    build_strong(clients, run)
    calls = update_calls("us-east-1")
    steps = cleanup.run_cleanup(clients, run)
    (request,) = dissolutions(calls)
    assert request["ReplicaUpdates"] == [{"Delete": {"RegionName": "us-east-2"}}]
    assert request["GlobalTableWitnessUpdates"] == [{"Delete": {"RegionName": "us-west-2"}}]
    # Deletion protection went off (in each region, each replica's own) before the dissolution.
    protection = [r for r in calls.requests if "DeletionProtectionEnabled" in r]
    assert protection and calls.requests.index(protection[0]) < calls.requests.index(request)
    outcomes = {(s.kind, s.region): s.outcome.result for s in steps}
    assert outcomes[(ResourceKind.REPLICA, "us-east-2")] == Result.DELETED
    assert outcomes[(ResourceKind.WITNESS, "us-west-2")] == Result.ALREADY_GONE  # it went with the replica
    assert outcomes[(ResourceKind.TABLE, "us-east-1")] == Result.DELETED
    assert tables_of(clients, run, ["us-east-1", "us-east-2"]) == {"us-east-1": False, "us-east-2": False}
    assert nothing_left(clients, run) and not RunState.open(run.run_id, run.folder.parent).resources()
    assert cleanup.run_cleanup(clients, RunState.open(run.run_id, run.folder.parent)) == []


def test_three_strong_replicas_are_dissolved_in_one_update_table(strong_tables, new_run, update_calls):
    clients = strong_tables
    run = new_run(**THREE_REPLICAS)
    build_strong(clients, run)
    calls = update_calls("us-east-1")
    cleanup.run_cleanup(clients, run)
    (request,) = dissolutions(calls)
    assert sorted(u["Delete"]["RegionName"] for u in request["ReplicaUpdates"]) == ["us-east-2", "us-west-2"]
    assert "GlobalTableWitnessUpdates" not in request
    assert not any(tables_of(clients, run, THREE_REPLICAS["regions"]).values())
    assert nothing_left(clients, run)


def test_a_run_stopped_before_the_strong_update_is_cleaned_up_from_its_manifest(strong_tables, new_run):
    clients = strong_tables
    run = new_run(**WITH_WITNESS)
    keys = keys_of(clients, run)
    ensure_table(clients, run, keys["us-east-1"])
    # What 02 records before its UpdateTable, as if the run had been stopped right then.
    name = run.names.table_name
    run.record(ResourceKind.REPLICA, name, "us-east-2", kms_key=keys["us-east-2"])
    run.record(ResourceKind.WITNESS, name, "us-west-2")
    steps = cleanup.run_cleanup(clients, run)
    outcomes = {(s.kind, s.region): s.outcome.result for s in steps}
    assert outcomes[(ResourceKind.REPLICA, "us-east-2")] == Result.ALREADY_GONE
    assert outcomes[(ResourceKind.WITNESS, "us-west-2")] == Result.ALREADY_GONE
    assert outcomes[(ResourceKind.TABLE, "us-east-1")] == Result.DELETED
    assert nothing_left(clients, run)


def test_a_dissolution_already_under_way_is_waited_for(strong_tables, new_run, admin):
    clients = strong_tables
    run = new_run(**WITH_WITNESS)
    build_strong(clients, run)
    name = run.names.table_name
    admin.configure(replica_transition_s=1.0)
    for region in WITH_WITNESS["regions"]:
        clients.client("dynamodb", region).update_table(TableName=name, DeletionProtectionEnabled=False)
    cleanup.wait_for_table(clients, "us-east-1", name, 30)
    # An earlier cleanup sent the dissolution and was stopped before it ended.
    clients.client("dynamodb", "us-east-1").update_table(
        TableName=name,
        ReplicaUpdates=[{"Delete": {"RegionName": "us-east-2"}}],
        GlobalTableWitnessUpdates=[{"Delete": {"RegionName": "us-west-2"}}],
    )
    steps = cleanup.run_cleanup(clients, run)
    assert not [s for s in steps if s.incomplete]
    assert nothing_left(clients, run)


def test_the_table_of_a_strong_run_that_lost_its_replica_records_is_still_dissolved(strong_tables, new_run):
    clients = strong_tables
    run = new_run(**WITH_WITNESS)
    build_strong(clients, run)
    for member in [*run.resources(ResourceKind.REPLICA), *run.resources(ResourceKind.WITNESS)]:
        run.forget(member.kind, member.name, member.region)
    steps = cleanup.run_cleanup(clients, run)
    assert {(s.kind, s.outcome.result) for s in steps if s.kind.startswith("dynamodb")} == {
        (ResourceKind.TABLE, Result.DELETED)
    }
    assert not any(tables_of(clients, run, WITH_WITNESS["regions"]).values())


def test_the_orphan_finder_finds_a_strong_table_and_removes_it_with_its_witness(strong_tables, new_run, tmp_path):
    clients = strong_tables
    run = new_run(**WITH_WITNESS)
    build_strong(clients, run)
    found = cleanup.orphans(clients, run.params.regions)[run.run_id]
    table = next(left for left in found if left.service == "dynamodb" and left.region == "us-east-1")
    assert table.note == "strong (MRSC), witness in us-west-2"
    resources = cleanup.resources_of_orphan_run(clients, run.params.regions, found)
    name = run.names.table_name
    assert {r.identity for r in resources if r.kind.startswith("dynamodb")} >= {
        (ResourceKind.TABLE, name, "us-east-1"),
        (ResourceKind.REPLICA, name, "us-east-2"),
        (ResourceKind.WITNESS, name, "us-west-2"),
    }
    assert all(isinstance(r, Resource) for r in resources)
    cleanup.remove_orphan_run(clients, run.params.regions, run.run_id, found, tmp_path / "scratch")
    assert run.run_id not in cleanup.orphans(clients, run.params.regions)
    assert not any(tables_of(clients, run, WITH_WITNESS["regions"]).values())
