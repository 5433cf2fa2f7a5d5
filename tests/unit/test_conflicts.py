"""Conflicts across regions: convergence checking, outcomes, and the safe patterns."""

import pydantic
import pytest
from globaltables import conflicts
from globaltables.cleanup import Result
from globaltables.conflicts import ConflictWrite, Convergence, check_converged

from tests.unit.local.helpers import add_replica, create_table, provisioned_global_table

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]


@pytest.fixture
def global_table(clients):
    ddb = clients.client("dynamodb", "us-east-1")
    name = create_table(ddb)
    add_replica(ddb, name, "eu-west-1")
    add_replica(ddb, name, "ap-southeast-1")
    return name


def item(value, writer):
    return {"PK": {"S": "k"}, "SK": {"S": "CONFLICT"}, "value": {"S": value}, "writer": {"S": writer}}


def writes(*values):
    return [ConflictWrite(key="k", region=v.split("#")[0], value=v, client_clock=0, acknowledged=0) for v in values]


def test_checker_accepts_identical_replicas_holding_a_written_value():
    same = {"k": item("a#0", "a")}
    replicas = check_converged(writes("a#0", "b#0"), Convergence(seconds=0, samples=[], items={"r1": same, "r2": same}))
    assert replicas.items == 1 and replicas.regions == 2


def test_checker_refuses_differing_replicas():
    convergence = Convergence(
        seconds=0, samples=[], items={"r1": {"k": item("a#0", "a")}, "r2": {"k": item("b#0", "b")}}
    )
    with pytest.raises(AssertionError, match="replicas differ"):
        check_converged(writes("a#0", "b#0"), convergence)


def test_checker_refuses_a_value_nobody_wrote():
    same = {"k": item("z#9", "z")}
    with pytest.raises(AssertionError, match="values nobody wrote"):
        check_converged(writes("a#0"), Convergence(seconds=0, samples=[], items={"r1": same, "r2": same}))


@pytest.mark.parametrize("delay", ["0", "fixed:150"])
def test_storm_from_every_region_converges(clients, admin, global_table, delay):
    with conflicts.replication_delay(clients, delay) as scenario:
        assert delay in scenario
        written = conflicts.conflicting_updates(
            clients, REGIONS, global_table, keys=30, rounds=2, clock_skew_s={"ap-southeast-1": 5}
        )
        convergence = conflicts.wait_for_convergence(clients, REGIONS, global_table, written.keys, timeout_s=30)
    assert len(written.writes) == 3 * 30 * 2
    assert check_converged(written.writes, convergence).items == 30
    rows = conflicts.outcomes(written.writes, convergence.items["us-east-1"])
    assert sum(conflicts.winner_counts(rows).values()) == 30
    # The skewed clock always "predicts" its own region; the replicas do not follow it every time.
    assert {r.latest_client_clock_region for r in rows} == {"ap-southeast-1"}
    assert admin.status()["delay"]["kind"] == "fixed" and admin.status()["delay"]["value_ms"] == 0  # restored


def test_a_storm_reads_as_its_scenario_convergence_and_winners(clients, admin, global_table):
    skew = {"ap-southeast-1": 5.0}
    storm = conflicts.storm(clients, REGIONS, global_table, 6, 1, skew, timeout_s=30, delay="fixed:50")
    assert storm.scenario == "replication delay fixed:50 ms"
    assert len(storm.writes) == 3 * 6 and storm.replicas.items == 6 and storm.replicas.regions == 3
    assert storm.convergence.seconds == storm.convergence.samples[-1].seconds
    assert storm.throttled_calls == 0 and storm.conflicts_retried == 0  # on demand, eventual
    assert len(storm.outcomes()) == 6 and {row.key for row in storm.outcomes()} == set(storm.convergence.agreed_items)
    row = storm.row()
    assert list(row) == [
        "scenario",
        "writes",
        "conflicts retried",
        "converged after s",
        "identical items",
        "throttled calls",
        "checksum",
    ]
    assert row["checksum"] == storm.replicas.sha256[:16]
    assert admin.status()["delay"]["value_ms"] == 0  # restored
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        storm.scenario = "changed"


def test_version_check_prevents_lost_updates_in_one_region(clients, global_table):
    result = conflicts.optimistic_increments(
        clients.client("dynamodb", "eu-west-1"),
        global_table,
        {"PK": {"S": "acct"}, "SK": {"S": "1"}},
        writers=4,
        increments=5,
    )
    assert result.balance == result.expected == 20


def test_version_check_does_not_protect_across_regions(clients, global_table):
    with conflicts.replication_delay(clients, "fixed:300"):
        race = conflicts.cross_region_version_race(clients, REGIONS, global_table, timeout_s=30)
    assert race.accepted == {"us-east-1": True, "eu-west-1": True}
    assert race.lost_update is True


def test_idempotent_add_applies_a_request_once(clients, global_table):
    client = clients.client("dynamodb", "us-east-1")
    assert conflicts.idempotent_add(client, global_table, "c", "us-east-1", "req-1", 5) is True
    assert conflicts.idempotent_add(client, global_table, "c", "us-east-1", "req-1", 5) is False
    assert conflicts.idempotent_add(client, global_table, "c", "us-east-1", "req-2", 2) is True
    assert conflicts.counter_total(client, global_table, "c") == 7


def test_sharded_idempotent_counter_is_exact_where_a_shared_one_loses_increments(clients, global_table):
    with conflicts.replication_delay(clients, "fixed:200"):
        result = conflicts.counter_demo(clients, REGIONS, global_table, increments=10, timeout_s=30)
    assert result.sharded_idempotent_total == result.expected == 30
    assert result.naive_total < 30


def test_delay_scenarios_on_aws_run_once(embedded_aws):
    from globaltables.clients import AwsClients

    assert conflicts.delay_scenarios(AwsClients("aws"), [0, 400]) == [None]
    assert conflicts.delay_scenarios(AwsClients("local", embedded_aws.endpoint), [0, 400]) == ["fixed:0", "fixed:400"]


def test_storm_and_strongly_consistent_polling_on_a_tiny_provisioned_table_back_off_and_count_throttles(
    capacity_clients,
):
    from globaltables.throttling import ThrottleCount

    regions = REGIONS[:2]
    name = provisioned_global_table(capacity_clients, regions, units=2)
    write_throttles = ThrottleCount()
    written = conflicts.conflicting_updates(capacity_clients, regions, name, 4, 3, throttles=write_throttles)
    keys = written.keys
    convergence = conflicts.wait_for_convergence(capacity_clients, regions, name, keys, timeout_s=60)
    assert check_converged(written.writes, convergence).items == 4  # nothing failed
    # 08 polls every 50 ms, strongly consistent: far beyond 2 read units a second.
    poll_throttles = ThrottleCount()
    for _ in range(200):
        found = conflicts.read_items(capacity_clients, regions[0], name, keys, poll_throttles, timeout_s=60)
        assert set(found) == set(keys)
        if poll_throttles.total:
            break
    assert write_throttles.total + convergence.throttles > 0
    assert poll_throttles.total > 0


# ----- the two modes side by side -----------------------------------------------------------------

US = ["us-east-1", "us-east-2", "us-west-2"]


def params(**values):
    from globaltables.params import validate_params

    return validate_params(values)


def test_the_default_regions_hold_no_strong_companion_and_say_why_in_one_line():
    plan = conflicts.companion_plan(params(regions=REGIONS), "t")
    assert not plan.available and plan.consistency == "strong"
    line = str(plan)
    assert "\n" not in line and line.startswith("eventual (MREC) only")
    assert "us-east-1 (US set), eu-west-1 (EU set), ap-southeast-1 (no set)" in line
    assert "params/strong.yaml" in line


@pytest.mark.parametrize(
    ("regions", "witness"),
    [(US, None), (["us-east-2", "us-west-2"], "us-east-1"), (["eu-west-1", "eu-west-2"], "eu-west-3")],
)
def test_a_strong_companion_takes_the_run_regions_and_a_witness_of_their_set_when_two(regions, witness):
    plan = conflicts.companion_plan(params(regions=regions), "t")
    assert plan.available and plan.consistency == "strong" and plan.table_name == "t-strong"
    assert plan.regions == regions and plan.witness == witness


def test_four_regions_of_one_set_are_too_many_for_a_strong_companion():
    plan = conflicts.companion_plan(params(regions=["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"]), "t")
    assert not plan.available and "exactly 3 regions" in plan.unavailable


def test_a_strong_run_gets_an_eventual_companion_in_its_replica_regions():
    strong = params(consistency="strong", regions=US[:2], witness_region="us-west-2")
    plan = conflicts.companion_plan(strong, "t")
    assert plan.available and plan.consistency == "eventual" and plan.run_consistency == "strong"
    assert plan.regions == US[:2] and plan.witness is None and plan.table_name == "t-eventual"


def test_on_an_eventual_table_writes_are_lost_and_reads_elsewhere_are_stale(clients, global_table):
    with conflicts.replication_delay(clients, "fixed:150") as scenario:
        outcome = conflicts.contended_workload(
            clients, REGIONS, global_table, "eventual", scenario, keys=3, writes_per_region=8, timeout_s=30
        )
    assert outcome.total("writes") == 24 and outcome.total("reads") == 24
    assert outcome.total("conflicts_retried") == 0  # an eventual table never refuses: it overwrites
    assert outcome.total("lost_updates") > 0 and outcome.total("stale_reads") > 0
    conflicts.check_side(outcome)  # converged, to values that were written
    assert outcome.row()["table"] == "eventual (MREC)"


def test_a_strong_outcome_with_a_stale_read_or_a_lost_update_fails_the_check():
    from globaltables.conflicts import ContendedOutcome, RegionTally

    def outcome(**tally):
        return ContendedOutcome(
            consistency="strong",
            table_name="t",
            scenario="s",
            keys=1,
            per_region=[RegionTally(region="us-east-1", writes=3, reads=3, **tally)],
            converged_after_s=0,
            identical_everywhere=True,
            values_nobody_wrote=0,
        )

    conflicts.check_side(outcome(conflicts_retried=5))
    with pytest.raises(AssertionError, match="1 strongly consistent reads were stale"):
        conflicts.check_side(outcome(stale_reads=1))
    with pytest.raises(AssertionError, match="2 acknowledged updates lost"):
        conflicts.check_side(outcome(lost_updates=2))


def test_an_eventual_companion_is_recorded_first_and_removed_with_its_replicas(clients, new_run):
    run = new_run(consistency="strong", regions=US[:2], witness_region="us-west-2")
    plan = conflicts.companion_plan(run.params, run.names.table_name)
    table = conflicts.ensure_companion(clients, run, plan)
    assert [r["RegionName"] for r in table["Replicas"]] == ["us-east-2"] and "MultiRegionConsistency" not in table
    recorded = {(r.kind, r.region) for r in run.resources() if r.name == plan.table_name}
    assert recorded == {("dynamodb:table", "us-east-1"), ("dynamodb:replica", "us-east-2")}
    steps = conflicts.remove_companion(clients, run, plan)
    assert [s.outcome.result for s in steps] == [Result.DELETED, Result.DELETED]
    assert not run.resources()
    assert all(conflicts.describe(clients, region, plan.table_name) is None for region in US[:2])


def test_strong_side_conflicts_are_retried_and_nothing_is_stale_or_lost(clients, admin):
    from tests.unit.local.helpers import create_table

    ddb = clients.client("dynamodb", "us-east-1")
    name = create_table(ddb)
    ddb.update_table(
        TableName=name,
        ReplicaUpdates=[{"Create": {"RegionName": "us-east-2"}}],
        GlobalTableWitnessUpdates=[{"Create": {"RegionName": "us-west-2"}}],
        MultiRegionConsistency="STRONG",
    )
    plan = conflicts.CompanionPlan(
        run_consistency="eventual", consistency="strong", table_name=name, regions=US[:2], witness="us-west-2"
    )
    conflicts.wait_until(
        lambda: (conflicts._strong_table_settled(conflicts.describe(clients, "us-east-1", name), plan), None),
        "strong table ACTIVE",
        30,
        0.05,
    )
    with conflicts.replication_delay(clients, "fixed:60") as scenario:
        outcome = conflicts.contended_workload(
            clients, US[:2], name, "strong", scenario, keys=1, writes_per_region=6, timeout_s=60
        )
    conflicts.check_side(outcome)
    assert outcome.total("writes") == 12 and outcome.total("stale_reads") == 0 and outcome.total("lost_updates") == 0
    assert outcome.total("conflicts_retried") > 0  # two regions, one item, each write in flight for 60 ms


def test_a_strong_companion_is_made_in_one_call_and_dissolved_by_cleanup(clients, new_run):
    run = new_run(regions=US[:2])
    plan = conflicts.companion_plan(run.params, run.names.table_name)
    assert plan.witness == "us-west-2"
    table = conflicts.ensure_companion(clients, run, plan)
    assert table["MultiRegionConsistency"] == "STRONG"
    assert table["GlobalTableWitnesses"] == [{"RegionName": "us-west-2", "WitnessStatus": "ACTIVE"}]
    recorded = {(r.kind, r.region) for r in run.resources() if r.name == plan.table_name}
    assert recorded == {
        ("dynamodb:table", "us-east-1"),
        ("dynamodb:replica", "us-east-2"),
        ("dynamodb:witness", "us-west-2"),
    }
    conflicts.remove_companion(clients, run, plan)
    assert not run.resources()
    assert all(conflicts.describe(clients, region, plan.table_name) is None for region in US[:2])


def test_a_version_conflict_is_one_of_the_runbook_errors():
    from globaltables.errors import GlobalTablesError

    error = conflicts.VersionConflict("changed")
    assert isinstance(error, GlobalTablesError) and isinstance(error, RuntimeError)
