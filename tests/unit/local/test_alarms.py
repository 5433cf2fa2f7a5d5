"""CloudWatch metric alarms evaluated by the embedded AWS, through real boto3 calls (``local/alarms.py``).

The embedded AWS's alarm clock runs 600 times faster than AWS's: a 60 s period lasts 0.1 s, so each
test feeds its metric until the alarm reaches a state (bounded polls, never a sleep to wait for one).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from globaltables.local.alarms import ALARM, INSUFFICIENT, OK, decide
from globaltables.waiting import wait_until

REGION = "us-east-1"


def _alarm(cloudwatch, namespace="Test/Alarms", **overrides):
    name = f"alarm-{uuid.uuid4().hex[:8]}"
    metric = f"Metric{uuid.uuid4().hex[:6]}"
    arguments = {
        "AlarmName": name,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": "Thing", "Value": "a"}],
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 100.0,
        "ComparisonOperator": "GreaterThanThreshold",
        **overrides,
    }
    cloudwatch.put_metric_alarm(**arguments)
    return arguments


def _state(cloudwatch, name):
    return cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def _feed_until(cloudwatch, alarm, value, state, timeout=10.0):
    """Put ``value`` every 20 ms (None: put nothing) until the alarm is in ``state``; its description."""

    def probe():
        if value is not None:
            cloudwatch.put_metric_data(
                Namespace=alarm["Namespace"],
                MetricData=[{"MetricName": alarm["MetricName"], "Dimensions": alarm["Dimensions"], "Value": value}],
            )
        described = _state(cloudwatch, alarm["AlarmName"])
        return described["StateValue"] == state, described

    return wait_until(probe, f"alarm {alarm['AlarmName']} {state}", timeout, 0.02)


@pytest.fixture
def cloudwatch(clients):
    return clients.client("cloudwatch", REGION)


def test_a_new_alarm_starts_with_insufficient_data(cloudwatch):
    alarm = _alarm(cloudwatch, TreatMissingData="missing")
    described = _state(cloudwatch, alarm["AlarmName"])
    assert described["StateValue"] == INSUFFICIENT
    assert described["StateReason"] == "Unchecked: Initial alarm creation"


def test_breaching_datapoints_raise_the_alarm_and_good_ones_clear_it(cloudwatch):
    alarm = _alarm(cloudwatch)
    raised = _feed_until(cloudwatch, alarm, 250.0, ALARM)
    assert raised["StateReason"].startswith("Threshold Crossed: 1 datapoint [250.0 (")
    assert raised["StateReason"].endswith("] was greater than the threshold (100.0).")
    data = json.loads(raised["StateReasonData"])
    assert data["version"] == "1.0" and data["statistic"] == "Average" and data["period"] == 60
    assert data["threshold"] == 100.0 and data["recentDatapoints"] == [250.0]
    assert data["evaluatedDatapoints"][0]["value"] == 250.0
    cleared = _feed_until(cloudwatch, alarm, 5.0, OK)
    assert "was not greater than the threshold (100.0)" in cleared["StateReason"]
    assert cleared["StateUpdatedTimestamp"] > raised["StateUpdatedTimestamp"]


def test_each_transition_is_in_the_alarm_history(cloudwatch):
    alarm = _alarm(cloudwatch)
    _feed_until(cloudwatch, alarm, 250.0, ALARM)
    _feed_until(cloudwatch, alarm, 5.0, OK)
    items = cloudwatch.describe_alarm_history(AlarmName=alarm["AlarmName"], HistoryItemType="StateUpdate")
    summaries = [item["HistorySummary"] for item in items["AlarmHistoryItems"]]
    assert summaries == ["Alarm updated from ALARM to OK", "Alarm updated from INSUFFICIENT_DATA to ALARM"]
    newest = items["AlarmHistoryItems"][0]
    assert newest["AlarmType"] == "MetricAlarm"
    data = json.loads(newest["HistoryData"])
    assert data["oldState"]["stateValue"] == ALARM and data["newState"]["stateValue"] == OK
    paged = cloudwatch.describe_alarm_history(AlarmName=alarm["AlarmName"], HistoryItemType="StateUpdate", MaxRecords=1)
    assert len(paged["AlarmHistoryItems"]) == 1 and paged["NextToken"]


def test_m_of_n_needs_m_breaching_datapoints(cloudwatch):
    alarm = _alarm(cloudwatch, EvaluationPeriods=3, DatapointsToAlarm=2, TreatMissingData="notBreaching")
    _feed_until(cloudwatch, alarm, 5.0, OK)
    raised = _feed_until(cloudwatch, alarm, 250.0, ALARM)
    assert "out of the last 3 datapoints" in raised["StateReason"]
    assert "(minimum 2 datapoints for OK -> ALARM transition)" in raised["StateReason"]


@pytest.mark.parametrize(
    ("treatment", "expected"), [("breaching", ALARM), ("notBreaching", OK), ("missing", INSUFFICIENT)]
)
def test_missing_data_is_treated_as_the_alarm_says(cloudwatch, treatment, expected):
    alarm = _alarm(cloudwatch, TreatMissingData=treatment)
    start = OK if expected != OK else ALARM
    _feed_until(cloudwatch, alarm, 5.0 if start == OK else 250.0, start)
    described = _feed_until(cloudwatch, alarm, None, expected)
    if treatment == "notBreaching":
        assert described["StateReason"] == (
            "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
            "[NonBreaching]."
        )


def test_ignore_keeps_the_state_and_so_does_every_dynamodb_alarm(cloudwatch):
    ignoring = _alarm(cloudwatch, TreatMissingData="ignore")
    dynamodb = _alarm(cloudwatch, namespace="AWS/DynamoDB", TreatMissingData="breaching")
    for alarm in (ignoring, dynamodb):
        _feed_until(cloudwatch, alarm, 250.0, ALARM)
    time.sleep(1.0)  # ten evaluation periods without data: the state must not move (not a wait for one)
    assert _state(cloudwatch, ignoring["AlarmName"])["StateValue"] == ALARM
    assert _state(cloudwatch, dynamodb["AlarmName"])["StateValue"] == ALARM


def test_a_replaced_alarm_keeps_its_state(cloudwatch):
    alarm = _alarm(cloudwatch)
    _feed_until(cloudwatch, alarm, 250.0, ALARM)
    cloudwatch.put_metric_alarm(**{**alarm, "Threshold": 10_000.0, "TreatMissingData": "ignore"})
    assert _state(cloudwatch, alarm["AlarmName"])["StateValue"] == ALARM


def test_a_state_change_publishes_to_the_alarm_actions(clients, cloudwatch):
    sns, sqs = clients.client("sns", REGION), clients.client("sqs", REGION)
    topic = sns.create_topic(Name=f"alarms-{uuid.uuid4().hex[:6]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"alarms-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    alarm = _alarm(cloudwatch, AlarmActions=[topic], OKActions=[topic])
    _feed_until(cloudwatch, alarm, 250.0, ALARM)

    def received():
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return bool(messages), messages

    message = json.loads(wait_until(received, "the alarm's notification", 10, 0.05)[0]["Body"])
    assert message["AlarmName"] == alarm["AlarmName"] and message["NewStateValue"] == ALARM
    assert message["OldStateValue"] == INSUFFICIENT and message["Region"] == "US East (N. Virginia)"
    assert message["Trigger"]["MetricName"] == alarm["MetricName"] and message["Trigger"]["Threshold"] == 100.0
    actions = cloudwatch.describe_alarm_history(AlarmName=alarm["AlarmName"], HistoryItemType="Action")
    assert [i["HistorySummary"] for i in actions["AlarmHistoryItems"]] == [f"Successfully executed action {topic}"]


def test_set_alarm_state_records_the_change_as_aws_does(cloudwatch):
    alarm = _alarm(cloudwatch, TreatMissingData="ignore")
    cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=ALARM, StateReason="testing")
    described = _state(cloudwatch, alarm["AlarmName"])
    assert described["StateValue"] == ALARM and described["StateReason"] == "testing"
    items = cloudwatch.describe_alarm_history(AlarmName=alarm["AlarmName"])["AlarmHistoryItems"]
    assert items[0]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"


# The guide's two tables ("How alarm state is evaluated when data is missing"), 5 points retrieved,
# oldest first: 0 not breaching, X breaching, - missing. Columns: missing, ignore, breaching, notBreaching.
THREE_OF_THREE = [
    ("0-X-X", OK, OK, OK, OK),
    ("0----", OK, OK, OK, OK),
    ("-----", INSUFFICIENT, "retain", ALARM, OK),
    ("0XX-X", ALARM, ALARM, ALARM, ALARM),
    ("----X", INSUFFICIENT, "retain", ALARM, OK),
    ("X----", ALARM, "retain", ALARM, OK),
]
TWO_OF_THREE = [
    ("0-X-X", ALARM, ALARM, ALARM, ALARM),
    ("00X0X", ALARM, ALARM, ALARM, ALARM),
    ("0-X--", OK, OK, ALARM, OK),
    ("----0", OK, OK, ALARM, OK),
    ("----X", INSUFFICIENT, "retain", ALARM, OK),
]


@pytest.mark.parametrize(("m", "rows"), [(3, THREE_OF_THREE), (2, TWO_OF_THREE)])
def test_the_decision_follows_the_guides_tables(m, rows):
    symbols = {"0": False, "X": True, "-": None}
    for row, *expected in rows:
        points = [symbols[s] for s in row]
        for treatment, state in zip(("missing", "ignore", "breaching", "notBreaching"), expected, strict=True):
            current = "CURRENT"
            assert decide(points, 3, m, treatment, current) == (current if state == "retain" else state), (
                row,
                treatment,
            )


def test_alarm_states_survive_a_snapshot(clients, cloudwatch, embedded_aws, tmp_path):
    from globaltables.local import EmbeddedAWS

    alarm = _alarm(cloudwatch, TreatMissingData="ignore")
    _feed_until(cloudwatch, alarm, 250.0, ALARM)
    path = tmp_path / "state.snapshot"
    embedded_aws.admin.save_state(str(path))
    with EmbeddedAWS(replication_delay="0", replica_transition_s=0.1, restore_from=str(path)) as restored:
        from globaltables.clients import AwsClients

        other = AwsClients("local", restored.endpoint).client("cloudwatch", REGION)
        assert _state(other, alarm["AlarmName"])["StateValue"] == ALARM
        items = other.describe_alarm_history(AlarmName=alarm["AlarmName"])["AlarmHistoryItems"]
        assert items[0]["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"


def test_the_moto_functions_the_evaluation_hooks_are_there():
    from globaltables.local import alarms

    assert alarms.missing_hooks() == []


def test_alarms_the_embedded_aws_would_never_act_on_are_refused_not_ignored(clients):
    cloudwatch = clients.client("cloudwatch", "us-east-1")
    math = {
        "Metrics": [
            {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "Test/Alarms", "MetricName": "M"}, "Period": 60,
                                        "Stat": "Average"}},
            {"Id": "e1", "Expression": "m1 * 2", "ReturnData": True},
        ]
    }  # fmt: skip
    refusals = {
        "Metrics": {"AlarmName": f"math-{uuid.uuid4().hex[:6]}", "EvaluationPeriods": 1, "Threshold": 1.0,
                    "ComparisonOperator": "GreaterThanThreshold", **math},
        "AlarmActions": {"AlarmName": f"ec2-{uuid.uuid4().hex[:6]}", "Namespace": "Test/Alarms", "MetricName": "M",
                         "Statistic": "Average", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
                         "ComparisonOperator": "GreaterThanThreshold",
                         "AlarmActions": ["arn:aws:automate:us-east-1:ec2:stop"]},
    }  # fmt: skip
    for parameter, arguments in refusals.items():
        with pytest.raises(cloudwatch.exceptions.ClientError) as caught:
            cloudwatch.put_metric_alarm(**arguments)
        error = caught.value.response["Error"]
        assert error["Code"] == "ValidationError" and "The embedded AWS" in error["Message"], error
        assert parameter in error["Message"], error
        assert not cloudwatch.describe_alarms(AlarmNames=[arguments["AlarmName"]])["MetricAlarms"]
    topic = clients.client("sns", "us-east-1").create_topic(Name=f"alarms-{uuid.uuid4().hex[:6]}")["TopicArn"]
    accepted = _alarm(cloudwatch, AlarmActions=[topic], OKActions=[topic])
    assert _state(cloudwatch, accepted["AlarmName"])["AlarmActions"] == [topic]
