"""The resilience drills against the embedded AWS, at sub-second sizes: a region evacuated (RPO listed by
key, RTO, catch-up), replication paused (convergence, nothing lost), and the FIS path's requests."""

import boto3
import botocore.validate
import pytest
from globaltables import drills
from globaltables.drills import EVACUATION, PAUSE, DrillSpec, EmbeddedFault, Router
from globaltables.params import ParameterError, validate_params

from tests.unit.local.helpers import add_replica, create_table
from tests.unit.test_linearizability import REGIONS as STRONG_REGIONS
from tests.unit.test_linearizability import strong_table

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]
FAILED = REGIONS[-1]
SPEC = DrillSpec(duration_s=0.8, rate_per_s=40, cut_after_s=0.3, fault_s=0.3, timeout_s=30)


@pytest.fixture
def global_table(clients):
    ddb = clients.client("dynamodb", REGIONS[0])
    name = create_table(ddb)
    for region in REGIONS[1:]:
        add_replica(ddb, name, region)
    return name


def run(clients, admin, table, regions, kind, consistency="eventual", failed=FAILED):
    return drills.run_drill(
        clients, table, regions, failed, SPEC, EmbeddedFault(admin, failed, kind), kind, consistency
    )


def test_evacuation_moves_traffic_lists_the_rpo_by_key_and_loses_nothing(clients, admin, global_table):
    # 150 ms of replication delay: the writes acknowledged in the last 150 ms before the cut exist only
    # in the failed region when it is cut off.
    admin.configure(delay="fixed:150")
    result = run(clients, admin, global_table, REGIONS, EVACUATION)

    assert result.moved_to == REGIONS[0], "the last region's traffic moves to the first"
    assert result.at_risk, "writes acknowledged just before the cut had not replicated yet"
    assert {w.region for w in result.at_risk} == {FAILED}
    assert all(w.acknowledged_s <= result.fault_started_s + 0.2 for w in result.at_risk)
    assert [row["key"] for row in drills.at_risk_rows(result)] == [w.key for w in result.at_risk]
    assert 0 < result.rpo_window_s < 1
    assert result.rto_s is not None and result.rto_s < 1
    moved = [w for w in result.writes if w.home == FAILED and w.sent_s > result.fault_started_s + 0.05]
    assert moved and {w.region for w in moved} == {REGIONS[0]}, "after the cut its traffic is acknowledged elsewhere"
    assert result.behind[REGIONS[0]] >= len(result.at_risk), "isolated: the others lacked its writes until recovery"
    assert result.catch_up.seconds is not None and result.catch_up.lost == []
    assert drills.check(result).startswith(f"evacuation of {FAILED}: its traffic moved to {REGIONS[0]}")


def test_a_strong_table_evacuated_has_no_rpo_and_its_writers_fail_over_by_themselves(clients, admin):
    ddb = {region: clients.client("dynamodb", region) for region in STRONG_REGIONS}
    table = strong_table(ddb, witness=False)
    admin.configure(delay="fixed:5")
    result = run(clients, admin, table, STRONG_REGIONS, EVACUATION, "strong", failed=STRONG_REGIONS[-1])
    assert result.at_risk == [], "a strong write is acknowledged once a second region has it"
    assert result.rto_s is not None
    assert result.catch_up.lost == []
    drills.check(result)


def test_replication_pause_holds_writes_and_every_replica_converges_with_nothing_lost(clients, admin, global_table):
    result = run(clients, admin, global_table, REGIONS, PAUSE)
    assert result.moved_to is None and result.at_risk == []
    assert {w.region for w in result.writes} == set(REGIONS), "every region kept writing during the pause"
    assert result.failures == []
    # The paused region lacked the others' writes of the pause, and they lacked its own.
    assert all(count > 0 for count in result.behind.values()), result.behind
    assert result.catch_up.seconds is not None and result.catch_up.lost == []
    assert drills.check(result).startswith(f"replication pause of {FAILED}: writes continued in every region")


def test_a_write_missing_after_the_drill_is_named_with_its_reason(clients, admin, global_table):
    result = run(clients, admin, global_table, REGIONS, PAUSE)
    lost = drills.DrillWrite(key="DRILL#never#written", home=FAILED, region=FAILED, sent_s=0.1, acknowledged_s=0.2)
    result.catch_up.lost = drills.lost_writes(clients, REGIONS, global_table, [lost])
    assert {w.region for w in result.catch_up.lost} == set(REGIONS)
    with pytest.raises(AssertionError, match="DRILL#never#written .* absent: acknowledged in ap-southeast-1"):
        drills.check(result)


def test_the_router_moves_a_region_to_the_next_and_a_failing_region_moves_itself():
    router = Router(REGIONS, failover=True)
    assert router.evacuate(REGIONS[1]) == REGIONS[2]
    assert router.route(REGIONS[1]) == REGIONS[2]
    router.done(REGIONS[2], failed=True)  # the next one fails too: its traffic and the moved traffic go on
    assert router.route(REGIONS[1]) == REGIONS[0] and router.route(REGIONS[2]) == REGIONS[0]
    paused = Router(REGIONS, failover=False)
    paused.done(REGIONS[0], failed=True)
    assert paused.route(REGIONS[0]) == REGIONS[0], "in the pause drill nobody moves"


def test_drill_parameters_are_checked_and_name_the_fix():
    assert validate_params({}).drill_region == "ap-southeast-1"
    assert validate_params({"drill_failed_region": "eu-west-1"}).drill_region == "eu-west-1"
    with pytest.raises(ParameterError, match="parameter 'drill_failed_region' = 'eu-west-2': .*one of regions"):
        validate_params({"drill_failed_region": "eu-west-2"})
    with pytest.raises(ParameterError, match="parameter 'drill_cut_after_s' = 4.0: .*less than drill_duration_s"):
        validate_params({"drill_cut_after_s": 4.0, "drill_duration_s": 4.0})
    with pytest.raises(ParameterError, match="parameter 'drill_write_rate_per_s'"):
        validate_params({"drill_write_rate_per_s": 0})


def test_the_fis_experiment_template_is_what_fis_accepts_and_its_role_may_pause_one_replica_only():
    replica = "arn:aws:dynamodb:ap-southeast-1:123456789012:table/t-abc"
    request = drills.fis_template_request("t-pause", "arn:aws:iam::123456789012:role/r", replica, 1.5, "run-1", "tok")
    fis = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y").client("fis", "ap-southeast-1")
    shape = fis.meta.service_model.operation_model("CreateExperimentTemplate").input_shape
    botocore.validate.validate_parameters(request, shape)  # raises on a wrong name or type
    action = request["actions"]["PauseReplication"]
    assert action["actionId"] == "aws:dynamodb:global-table-pause-replication"
    assert action["parameters"] == {"duration": "PT2S"}
    assert request["targets"]["Table"] == {
        "resourceType": "aws:dynamodb:global-table",
        "resourceArns": [replica],
        "selectionMode": "ALL",
    }
    eventual = drills.fis_role_policy(replica, strong=False)["Statement"]
    assert [s["Resource"] for s in eventual] == [replica]
    assert "dynamodb:PutResourcePolicy" in eventual[0]["Action"]
    assert [s["Action"] for s in drills.fis_role_policy(replica, strong=True)["Statement"]][1] == "dynamodb:InjectError"
    trust = drills.fis_trust_policy("123456789012")["Statement"][0]
    assert trust["Principal"] == {"Service": "fis.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def _latency_alarms(clients, table, regions, failed, evaluation_periods=1, threshold=200.0):
    """04's ReplicationLatency alarms of the pairs to and from ``failed`` (names as 04 makes them)."""
    from globaltables.names import LATENCY_METRIC, alarm_name

    for source in regions:
        for receiving in regions:
            if source == receiving or failed not in (source, receiving):
                continue
            clients.client("cloudwatch", source).put_metric_alarm(
                AlarmName=alarm_name(table, LATENCY_METRIC, source, receiving),
                Namespace="AWS/DynamoDB",
                MetricName=LATENCY_METRIC,
                Dimensions=[{"Name": "TableName", "Value": table}, {"Name": "ReceivingRegion", "Value": receiving}],
                Statistic="Average",
                Period=300,
                EvaluationPeriods=evaluation_periods,
                Threshold=threshold,
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching",
            )


def test_the_pause_drill_sees_the_latency_alarm_go_to_alarm_and_back_to_ok(clients, admin, global_table):
    # The embedded AWS's alarm clock: a 300 s period lasts 0.5 s. The held writes arrive at the resume
    # with latencies up to the pause (2 s), averaging about 1 s, well above 600 ms; the writes of the 2.5 s
    # after it do not (600 ms leaves room for a busy machine's replication).
    _latency_alarms(clients, global_table, REGIONS, FAILED, threshold=600.0)
    spec = DrillSpec(duration_s=5.0, rate_per_s=40, cut_after_s=0.5, fault_s=2.0, timeout_s=30)
    plan = drills.latency_alarm_plan(clients, global_table, REGIONS, FAILED, "eventual", spec.fault_s)
    assert plan.asserted and len(plan.alarms) == 4
    result = drills.run_drill(
        clients, global_table, REGIONS, FAILED, spec, EmbeddedFault(admin, FAILED, PAUSE), PAUSE, alarms=plan
    )
    raised = [t for t in result.alarm_transitions if t.state == "ALARM"]
    assert raised and all(t.at_s >= result.fault_ended_s - 0.1 for t in raised), "at the resume, not during the pause"
    assert raised[0].reason.startswith("Threshold Crossed: 1 datapoint [")
    assert [row["state"] for row in result.alarm_rows()][-1] == "OK"
    assert result.facts()["alarm check"] == "asserted: ALARM at the resume, then OK"
    assert drills.check(result).endswith("its ReplicationLatency alarm went to ALARM and back to OK")


def test_the_alarm_is_not_asserted_where_it_cannot_fire(clients, global_table):
    strong = drills.latency_alarm_plan(clients, global_table, REGIONS, FAILED, "strong", 1.5)
    assert not strong.asserted and not strong.alarms and "publishes no ReplicationLatency" in strong.note
    missing = drills.latency_alarm_plan(clients, global_table, REGIONS, FAILED, "eventual", 1.5)
    assert not missing.asserted and "run 04_monitoring first" in missing.note
    _latency_alarms(clients, global_table, REGIONS, FAILED, evaluation_periods=2)
    two = drills.latency_alarm_plan(clients, global_table, REGIONS, FAILED, "eventual", 1.5)
    assert not two.asserted and "needs 2 breaching periods" in two.note
    _latency_alarms(clients, global_table, REGIONS, FAILED, threshold=1000.0)
    short = drills.latency_alarm_plan(clients, global_table, REGIONS, FAILED, "eventual", 1.5)
    assert not short.asserted and "under 1000 ms" in short.note


def test_an_alarm_that_never_fires_fails_the_check_when_asserted():
    plan = drills.AlarmPlan(alarms=[("eu-west-1", "a")], asserted=True, note="asserted")
    assert drills.alarm_verdict(plan, [], 1.0) == "no ReplicationLatency alarm of the paused region went to ALARM"
    seen = [drills.AlarmTransition(at_s=2.0, region="eu-west-1", alarm="a", state="ALARM")]
    assert drills.alarm_verdict(plan, seen, 1.0) == "still not OK after the drill: a"
