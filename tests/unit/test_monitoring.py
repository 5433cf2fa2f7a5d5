"""04_monitoring's library: alarms on real metric names with actions (recipe defect 8, docs/recipe-defects.md), the lag probe."""

from datetime import UTC, datetime, timedelta

from globaltables.monitoring import (
    alarm_definitions,
    alarm_states,
    dashboard_body,
    ensure_alarm_topic,
    ensure_alarms,
    ensure_dashboard,
    expected_alarm_count,
    probe_replication_lag,
    replication_latency_metrics,
)

from tests.unit.local.helpers import add_replica, create_table


def test_alarms_watch_replication_latency_towards_each_other_region(new_run):
    run = new_run()
    alarms = alarm_definitions("t", "eu-west-1", run.params.regions, run, "arn:topic")
    metrics = sorted(a["MetricName"] for a in alarms)
    assert metrics == ["ReadThrottleEvents", "ReplicationLatency", "ReplicationLatency", "WriteThrottleEvents"]
    latency = [a for a in alarms if a["MetricName"] == "ReplicationLatency"]
    receiving = sorted(next(d["Value"] for d in a["Dimensions"] if d["Name"] == "ReceivingRegion") for a in latency)
    assert receiving == ["ap-southeast-1", "us-east-1"]  # never the alarm's own region
    assert all(a["AlarmActions"] == ["arn:topic"] for a in alarms)
    assert "ReplicationDelay" not in str(alarms)


def test_a_strong_table_gets_no_replication_latency_alarm_or_widget(new_run):
    """MRSC tables publish no ReplicationLatency: an alarm on it could never fire."""
    run = new_run(regions=["us-east-1", "us-east-2"], consistency="strong", witness_region="us-west-2")
    alarms = alarm_definitions("t", "us-east-2", run.params.regions, run, "arn:topic")
    assert sorted(a["MetricName"] for a in alarms) == ["ReadThrottleEvents", "WriteThrottleEvents"]
    assert expected_alarm_count(run.params) == 4
    assert expected_alarm_count(new_run().params) == 12
    titles = [w["properties"]["title"] for w in dashboard_body("t", "us-east-2", run.params.regions, False)["widgets"]]
    assert not any("Replication latency" in title for title in titles) and "Throttle events" in titles


def test_alarms_topics_and_dashboards_exist_in_every_region(clients, new_run):
    run = new_run()
    for region in run.params.regions:
        topic = ensure_alarm_topic(clients, run, region)
        ensure_alarms(clients, run, region, topic)
        ensure_dashboard(clients, run, region)
        assert clients.client("cloudwatch", region).get_dashboard(DashboardName=f"{run.names.table_name}-{region}")
    states = alarm_states(clients, run)
    assert len(states) == 3 * (2 + 2)
    assert all(s["actions"] == 1 for s in states)
    before = len(run.resources())
    for region in run.params.regions:  # a second pass changes nothing
        ensure_alarms(clients, run, region, ensure_alarm_topic(clients, run, region))
    assert len(run.resources()) == before


def test_lag_probe_measures_every_pair_and_matches_the_metric(clients, admin):
    admin.configure(delay="fixed:40")
    regions = ["us-east-1", "eu-west-1", "ap-southeast-1"]
    ddb = clients.client("dynamodb", "us-east-1")
    name = create_table(ddb)
    add_replica(ddb, name, "eu-west-1")
    add_replica(ddb, name, "ap-southeast-1")
    since = datetime.now(UTC) - timedelta(minutes=1)
    samples = probe_replication_lag(clients, regions, name, rounds=2)
    assert len(samples) == 2 * 3 * 2
    assert {(s.source, s.receiving) for s in samples} == {(a, b) for a in regions for b in regions if a != b}
    lags = sorted(s.lag_ms for s in samples)
    # The 40 ms delay counts from the server's acknowledgement, the probe's lag from the client's receipt
    # of it: on a loaded machine a reply can arrive late and a lag read below 40 ms; most are not.
    assert all(0 <= lag < 10_000 for lag in lags) and lags[len(lags) // 2] >= 40, lags
    admin.wait_until_replicated()
    assert ddb.scan(TableName=name)["Count"] == 0  # the canaries are gone again
    metrics = replication_latency_metrics(clients, regions, name, since)
    assert {(m["source"], m["receiving"]) for m in metrics} == {(s.source, s.receiving) for s in samples}
    assert all(m["average_ms"] >= 40 for m in metrics)
