"""CloudWatch metric alarms evaluated on the metric data moto holds, as AWS evaluates them.

moto stores alarms and metric data but never evaluates an alarm: every alarm stays in the state
``PutMetricAlarm`` gave it (moto: ``OK``, "Unchecked: Initial alarm creation"). This module adds the
evaluation, following AWS's user guide ("Using Amazon CloudWatch alarms": evaluating an alarm, M out
of N, and the two tables of "How alarm state is evaluated when data is missing"):

- each period's statistic (``Statistic``: Average, Sum, Minimum, Maximum, SampleCount; or a ``pNN``
  ``ExtendedStatistic`` over single values) of the metric with exactly the alarm's dimensions (and
  unit, if the alarm names one), for the most recent complete periods of the *evaluation range*
  (``EvaluationPeriods`` + 2 periods, as the guide's examples retrieve 5 for 3);
- enough real data points: the most recent ``EvaluationPeriods`` of them decide, ``DatapointsToAlarm``
  (default: all) breaching → ``ALARM``, else ``OK``; too few: ``TreatMissingData`` fills them
  (``breaching``, ``notBreaching``) or decides as the guide's tables do (``missing``, ``ignore``);
  an alarm on an ``AWS/DynamoDB`` metric always ignores missing data (``PutMetricAlarm`` reference);
- a new alarm starts ``INSUFFICIENT_DATA``; an alarm replaced by ``PutMetricAlarm`` keeps its state;
- a change of state updates ``StateValue``, ``StateReason`` and ``StateReasonData`` (AWS's wording),
  the timestamps, adds a ``StateUpdate`` history item ("Alarm updated from OK to ALARM"), and, when
  actions are enabled, publishes AWS's notification to the SNS topics of the new state's actions
  (an ``Action`` history item each); ``SetAlarmState`` does the same;
- ``DescribeAlarmHistory`` (moto lacks it) answers those items, newest first, paged.

Time runs ``scale`` times faster than on AWS (``GLOBALTABLES_ALARM_TIME_SCALE``, default 600): a
period of ``Period`` seconds lasts ``Period / scale`` seconds of the clock, and alarms are evaluated
every ``60 / scale`` seconds (AWS: every minute), so a drill of seconds sees a 5-minute alarm act.
Metric alarms on math expressions (``Metrics``), anomaly detection (``ThresholdMetricId``) and
composite alarms are not evaluated: they keep their state.

Hooks (``HOOKS``): ``CloudWatchBackend.put_metric_alarm`` (the one place an alarm is made or
replaced, by the API and by other services' models: the new alarm's start state, and the evaluator
woken), ``Alarm.update_state`` (the one place moto changes a state, ``SetAlarmState``'s too: history
and actions), and ``CloudWatchResponse`` gains ``describe_alarm_history``. The evaluator is one daemon
thread that sleeps while no metric alarm exists (it dies with the server process); alarms and their
history live in moto's backends, so snapshots save and restore them.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.models import Alarm, CloudWatchBackend, MetricAggregatedDatum, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

from globaltables.local import pinning

SCALE_ENV = "GLOBALTABLES_ALARM_TIME_SCALE"
DEFAULT_SCALE = 600.0
AWS_EVALUATION_INTERVAL_S = 60.0
EXTRA_RANGE_PERIODS = 2  # the guide's examples retrieve 5 data points for 3 evaluation periods
DYNAMODB_NAMESPACE = "AWS/DynamoDB"
OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
INITIAL_REASON = "Unchecked: Initial alarm creation"
HISTORY_LIMIT = 1000  # per region: AWS keeps two weeks
HISTORY_ATTRIBUTE = "globaltables_alarm_history"
OPERATORS = {
    "GreaterThanThreshold": ("greater than", lambda value, threshold: value > threshold),
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda value, threshold: value >= threshold),
    "LessThanThreshold": ("less than", lambda value, threshold: value < threshold),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda value, threshold: value <= threshold),
}
HOOKS = [
    (CloudWatchBackend, "put_metric_alarm"),
    (CloudWatchResponse, "put_metric_alarm"),
    (Alarm, "update_state"),
    (CloudWatchResponse, "dispatch"),
]


def time_scale() -> float:
    scale = float(os.environ.get(SCALE_ENV, DEFAULT_SCALE))
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"{SCALE_ENV}={scale}: a number above 0")
    return scale


def missing_hooks() -> list[str]:
    missing = pinning.absent(HOOKS)
    probe = Alarm.__init__.__code__.co_varnames
    for attribute in ("treat_missing_data", "datapoints_to_alarm", "metric_data_queries", "threshold_metric_id"):
        if attribute not in probe:
            missing.append(f"Alarm.__init__({attribute})")
    return missing


# ----- deciding a state ------------------------------------------------------------------------------


def decide(points: list[bool | None], n: int, m: int, treatment: str, current: str) -> str:
    """The state for the evaluation range ``points`` (oldest first; True breaching, False not, None
    missing), per the guide's rules and tables."""
    real = [p for p in points if p is not None]
    if len(real) >= n:
        return ALARM if sum(real[-n:]) >= m else OK
    if treatment in ("breaching", "notBreaching"):
        evaluated = real + [treatment == "breaching"] * (n - len(real))
        return ALARM if sum(evaluated) >= m else OK
    if sum(real) >= m:
        return ALARM
    if not all(real):
        return OK
    if treatment == "missing" and real and points[0] is True:
        return ALARM  # the guide: the oldest point breaches and none does not
    return current if treatment == "ignore" else INSUFFICIENT


def statistic(alarm: Alarm, data: list[Any]) -> tuple[float, float] | None:
    """(value, sample count) of one period's data, or None when it has none."""
    singles = [d.value for d in data if not isinstance(d, MetricAggregatedDatum)]
    sets = [d for d in data if isinstance(d, MetricAggregatedDatum)]
    count = len(singles) + sum(s.sample_count for s in sets)
    if not count:
        return None
    if alarm.extended_statistic:
        if not singles:
            return None  # a percentile needs the values; statistic sets do not carry them
        ordered = sorted(singles)
        rank = max(1, math.ceil(float(alarm.extended_statistic[1:]) / 100 * len(ordered)))
        return ordered[rank - 1], count
    total = sum(singles) + sum(s.sum for s in sets)
    values = {
        "Sum": total,
        "Average": total / count,
        "SampleCount": count,
        "Minimum": min(singles + [s.min for s in sets]),
        "Maximum": max(singles + [s.max for s in sets]),
    }
    return values[alarm.statistic], count


def evaluable(alarm: Alarm) -> bool:
    return (
        alarm.rule is None
        and not alarm.metric_data_queries
        and not alarm.threshold_metric_id
        and alarm.comparison_operator in OPERATORS
        and bool(alarm.metric_name)
        and bool(alarm.period)
    )


def matches(alarm: Alarm, datum: Any) -> bool:
    if datum.name != alarm.metric_name or datum.namespace != alarm.namespace:
        return False
    if alarm.unit and datum.unit != alarm.unit:
        return False
    mine = {(d.name, d.value) for d in alarm.dimensions}
    return mine == {(d.name, d.value) for d in datum.dimensions}


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch; moto's own timestamps are naive UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _short(value: float, moment: datetime) -> str:
    return f"{value} ({moment.strftime('%d/%m/%y %H:%M:%S')})"


class Evaluation:
    """One evaluation of one alarm at ``now`` (epoch seconds) over the data of its region."""

    def __init__(self, alarm: Alarm, data: list[Any], now: float, scale: float):
        self.alarm, self.now = alarm, now
        self.n = int(alarm.evaluation_periods)
        self.m = int(alarm.datapoints_to_alarm or self.n)
        self.wall_period = float(alarm.period) / scale
        last = math.floor(now / self.wall_period) - 1  # the latest complete period
        self.starts = [(last - i) * self.wall_period for i in range(self.n + EXTRA_RANGE_PERIODS - 1, -1, -1)]
        buckets: dict[int, list[Any]] = {}
        for datum in data:
            index = math.floor(_epoch(datum.timestamp) / self.wall_period)
            if last - len(self.starts) < index <= last and matches(alarm, datum):
                buckets.setdefault(index, []).append(datum)
        self.values = [statistic(alarm, buckets.get(round(start / self.wall_period), [])) for start in self.starts]
        self.treatment = alarm.treat_missing_data or "missing"
        if alarm.namespace == DYNAMODB_NAMESPACE:
            self.treatment = "ignore"  # AWS: alarms on AWS/DynamoDB metrics always ignore missing data

    def breaching(self, value: float) -> bool:
        return OPERATORS[self.alarm.comparison_operator][1](value, float(self.alarm.threshold))

    def state(self) -> str:
        points = [None if v is None else self.breaching(v[0]) for v in self.values]
        return decide(points, self.n, self.m, self.treatment, self.alarm.state_value)

    def real(self) -> list[tuple[datetime, float, float]]:
        """(period start, value, sample count) of the real data points, newest first."""
        return [
            (datetime.fromtimestamp(start, UTC), v[0], v[1])
            for start, v in zip(reversed(self.starts), reversed(self.values), strict=True)
            if v is not None
        ]

    def reason(self, old: str, new: str) -> str:
        words = OPERATORS[self.alarm.comparison_operator][0]
        threshold = float(self.alarm.threshold)
        recent = self.real()[: self.n]
        if new == INSUFFICIENT:
            unknown = self.n - len(recent)
            return f"Insufficient Data: {unknown} datapoint{'s were' if unknown != 1 else ' was'} unknown."
        if not recent:
            kind = "Breaching" if self.treatment == "breaching" else "NonBreaching"
            return (
                f"Threshold Crossed: no datapoints were received for {self.n} period{'s' * (self.n != 1)} and "
                f"{self.n} missing datapoint{'s were' if self.n != 1 else ' was'} treated as [{kind}]."
            )
        shown = ", ".join(_short(value, start) for start, value, _ in recent)
        negation = "" if new == ALARM else "not "
        if self.n == 1:
            return f"Threshold Crossed: 1 datapoint [{shown}] was {negation}{words} the threshold ({threshold})."
        crossing = sum(self.breaching(value) == (new == ALARM) for _, value, _ in recent)
        minimum = self.m if new == ALARM else 1
        return (
            f"Threshold Crossed: {crossing} out of the last {len(recent)} datapoints [{shown}] were {negation}"
            f"{words} the threshold ({threshold}) (minimum {minimum} datapoint{'s' * (minimum != 1)} for "
            f"{old} -> {new} transition)."
        )

    def reason_data(self) -> str:
        recent = self.real()[: self.n]
        data: dict[str, Any] = {
            "version": "1.0",
            "queryDate": _stamp(datetime.fromtimestamp(self.now, UTC)),
            "startDate": _stamp(datetime.fromtimestamp(self.starts[-self.n], UTC)),
            "period": int(self.alarm.period),
            "recentDatapoints": [value for _, value, _ in reversed(recent)],
            "threshold": float(self.alarm.threshold),
            "evaluatedDatapoints": [
                {"timestamp": _stamp(start), "sampleCount": count, "value": value} for start, value, count in recent
            ],
        }
        key = "extendedStatistic" if self.alarm.extended_statistic else "statistic"
        data[key] = self.alarm.extended_statistic or self.alarm.statistic
        return json.dumps(data, separators=(",", ":"))


# ----- a change of state: history and actions --------------------------------------------------------


def _backend_of(alarm: Alarm) -> CloudWatchBackend | None:
    account = alarm.alarm_arn.split(":")[4]
    regions = dict.get(cloudwatch_backends, account)
    return dict.get(regions, alarm.region_name) if regions is not None else None


def _record(alarm: Alarm, kind: str, summary: str, data: dict[str, Any], when: datetime) -> None:
    backend = _backend_of(alarm)
    if backend is None:
        return
    history = backend.__dict__.setdefault(HISTORY_ATTRIBUTE, [])
    history.append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "MetricAlarm",
            "Timestamp": when,
            "HistoryItemType": kind,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data, separators=(",", ":")),
        }
    )
    del history[:-HISTORY_LIMIT]


def _region_name(region: str) -> str:
    """AWS's name of a region in alarm notifications ("US East (N. Virginia)")."""
    from botocore.loaders import create_loader

    for partition in create_loader().load_data("endpoints")["partitions"]:
        described = partition.get("regions", {}).get(region)
        if described:
            return described.get("description", region)
    return region


def notification(alarm: Alarm, old: str, old_reason: str) -> dict[str, Any]:
    """The JSON AWS publishes to an alarm's SNS topics when its state changes."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": alarm.alarm_arn.split(":")[4],
        "AlarmConfigurationUpdatedTimestamp": _stamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _stamp(alarm.state_updated_timestamp),
        "Region": _region_name(alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old,
        "OKActions": alarm.ok_actions,
        "AlarmActions": alarm.alarm_actions,
        "InsufficientDataActions": alarm.insufficient_data_actions,
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": "ExtendedStatistic" if alarm.extended_statistic else "Statistic",
            "Statistic": (alarm.extended_statistic or alarm.statistic or "").upper(),
            "Unit": alarm.unit,
            "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm or alarm.evaluation_periods,
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data or "missing",
            "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
        },
    }


def _act(alarm: Alarm, old: str, old_reason: str) -> None:
    from moto.sns.models import sns_backends

    actions = {ALARM: alarm.alarm_actions, OK: alarm.ok_actions, INSUFFICIENT: alarm.insufficient_data_actions}
    for arn in actions[alarm.state_value] or []:
        parts = arn.split(":")
        if parts[2] != "sns" or len(parts) < 6:
            continue  # only SNS actions are carried out here
        subject = f'{alarm.state_value}: "{alarm.name}" in {_region_name(alarm.region_name)}'[:100]
        try:
            sns_backends[parts[4]][parts[3]].publish(
                json.dumps(notification(alarm, old, old_reason)), arn=arn, subject=subject
            )
            summary, data = f"Successfully executed action {arn}", {"actionState": "Succeeded"}
        except Exception as error:  # a missing topic fails the action, as on AWS, not the alarm
            summary, data = f"Failed to execute action {arn}", {"actionState": "Failed", "error": str(error)}
        data |= {"stateUpdateTimestamp": int(_epoch(alarm.state_updated_timestamp) * 1000)}
        _record(alarm, "Action", summary, data, utcnow())


def _wrap_update_state(original: Any) -> Any:
    def update_state(self: Alarm, reason: str, reason_data: str, state_value: str) -> None:
        old, old_reason, old_data = self.state_value, self.state_reason, self.state_reason_data
        original(self, reason, reason_data, state_value)
        if old == state_value:
            return
        self.state_transitioned_timestamp = self.state_updated_timestamp
        history = {
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": old_reason},
            "newState": {"stateValue": state_value, "stateReason": reason},
        }
        for state, data in ((history["oldState"], old_data), (history["newState"], reason_data)):
            try:
                parsed = json.loads(data) if data and data != "{}" else None
            except ValueError:
                parsed = None
            if parsed is not None:
                state["stateReasonData"] = parsed
        _record(
            self, "StateUpdate", f"Alarm updated from {old} to {state_value}", history, self.state_updated_timestamp
        )
        if self.actions_enabled:
            _act(self, old, old_reason)

    update_state.__globaltables_alarms__ = True  # type: ignore[attr-defined]
    return update_state


def _wrap_put_metric_alarm(original: Any) -> Any:
    def put_metric_alarm(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Alarm:
        name = kwargs["name"] if "name" in kwargs else args[0]
        previous = self.alarms.get(name)
        alarm = original(self, *args, **kwargs)
        if previous is not None:  # AWS: "When you update an existing alarm, its state is left unchanged"
            for attribute in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp"):
                setattr(alarm, attribute, getattr(previous, attribute))
            alarm.state_transitioned_timestamp = getattr(previous, "state_transitioned_timestamp", None)
        else:  # AWS: "When this operation creates an alarm, the alarm state is immediately set to INSUFFICIENT_DATA"
            alarm.state_value, alarm.state_reason, alarm.state_reason_data = INSUFFICIENT, INITIAL_REASON, None
            alarm.state_transitioned_timestamp = alarm.state_updated_timestamp
        EVALUATOR.wake()
        return alarm

    put_metric_alarm.__globaltables_alarms__ = True  # type: ignore[attr-defined]
    return put_metric_alarm


# ----- the evaluator ----------------------------------------------------------------------------------


def backends() -> Iterator[CloudWatchBackend]:
    """Every CloudWatch backend moto holds (all accounts, all regions), none made by looking."""
    for regions in list(dict.values(cloudwatch_backends)):
        yield from list(dict.values(regions))


def recent_data(backend: CloudWatchBackend, since: float) -> list[Any]:
    """The data put at or after ``since`` (epoch s), scanning from the newest: data arrive in time order
    (a datum put later with an older timestamp than ``since`` ends the scan)."""
    data = backend.metric_data
    found = []
    for index in range(len(data) - 1, -1, -1):
        datum = data[index]
        if _epoch(datum.timestamp) < since:
            break
        found.append(datum)
    return found


class Evaluator:
    """Evaluates every metric alarm every ``60 / scale`` s while one exists; sleeps otherwise."""

    def __init__(self) -> None:
        self.scale = DEFAULT_SCALE
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, scale: float) -> None:
        self.scale = scale
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cloudwatch-alarms", daemon=True)
            self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                if self.evaluate_all(time.time()):
                    self._wake.set()
            except Exception:  # an alarm moto stored oddly must not stop the others' evaluation
                self._wake.set()
            time.sleep(AWS_EVALUATION_INTERVAL_S / self.scale)

    def evaluate_all(self, now: float) -> bool:
        """Evaluate every alarm once at ``now``; whether any metric alarm exists."""
        any_alarm = False
        for backend in backends():
            alarms = [a for a in list(backend.alarms.values()) if evaluable(a)]
            if not alarms:
                continue
            any_alarm = True
            longest = max(float(a.period) * (int(a.evaluation_periods) + EXTRA_RANGE_PERIODS + 1) for a in alarms)
            data = recent_data(backend, now - longest / self.scale)
            for alarm in alarms:
                evaluation = Evaluation(alarm, data, now, self.scale)
                new = evaluation.state()
                if new != alarm.state_value:
                    old = alarm.state_value
                    alarm.update_state(evaluation.reason(old, new), evaluation.reason_data(), new)
        return any_alarm


EVALUATOR = Evaluator()


# ----- DescribeAlarmHistory ----------------------------------------------------------------------------


def _date(text: Any) -> datetime | None:
    if text in (None, ""):
        return None
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    from moto.cloudwatch.exceptions import InvalidParameterValue

    history = list(self.cloudwatch_backend.__dict__.get(HISTORY_ATTRIBUTE, []))
    name, kind = self._get_param("AlarmName"), self._get_param("HistoryItemType")
    types = self._get_param("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
    start, end = _date(self._get_param("StartDate")), _date(self._get_param("EndDate"))
    items = [
        item
        for item in history
        if (not name or item["AlarmName"] == name)
        and (not kind or item["HistoryItemType"] == kind)
        and item["AlarmType"] in types
        and (start is None or _aware(item["Timestamp"]) >= start)
        and (end is None or _aware(item["Timestamp"]) <= end)
    ]
    if self._get_param("ScanBy", "TimestampDescending") == "TimestampDescending":
        items.reverse()
    token, limit = self._get_param("NextToken"), int(self._get_param("MaxRecords") or 100)
    offset = 0
    if token:
        if not str(token).isdigit() or int(token) > len(items):
            raise InvalidParameterValue("The service returned an invalid NextToken.")
        offset = int(token)
    page = items[offset : offset + limit]
    result: dict[str, Any] = {"AlarmHistoryItems": page}
    if offset + limit < len(items):
        result["NextToken"] = str(offset + limit)
    return ActionResult(result)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


NOT_EVALUATED = {
    "Metrics": "metric-math alarms (PutMetricAlarm parameter Metrics)",
    "ThresholdMetricId": "anomaly-detection alarms (PutMetricAlarm parameter ThresholdMetricId)",
}
ACTION_LISTS = ("AlarmActions", "OKActions", "InsufficientDataActions")


def refuse_what_is_not_evaluated(request: dict[str, Any]) -> None:
    """A PutMetricAlarm request the embedded AWS would accept and then never act on is refused instead:
    a metric-math or anomaly-detection alarm (never evaluated) or an action other than an SNS topic
    (never carried out). Application Auto Scaling's own alarms are made inside the embedded AWS, not
    through this request, and are not affected."""
    for parameter, what in NOT_EVALUATED.items():
        if request.get(parameter):
            raise ValidationError(f"The embedded AWS does not evaluate {what}; use a metric alarm or real AWS")
    for parameter in ACTION_LISTS:
        for action in request.get(parameter) or []:
            if not str(action).startswith("arn:aws:sns:"):
                raise ValidationError(
                    f"The embedded AWS carries out only SNS topic actions; {parameter} has {action}: "
                    "use an SNS topic or real AWS"
                )


def _wrap_put_metric_alarm_request(original: Any) -> Any:
    def put_metric_alarm(self: CloudWatchResponse) -> Any:
        refuse_what_is_not_evaluated({name: self._get_param(name) for name in [*NOT_EVALUATED, *ACTION_LISTS]})
        return original(self)

    return put_metric_alarm


def install() -> None:
    """Wrap the hooks (idempotent), add DescribeAlarmHistory and start the evaluator."""
    if not getattr(CloudWatchBackend.put_metric_alarm, "__globaltables_alarms__", False):
        CloudWatchBackend.put_metric_alarm = _wrap_put_metric_alarm(CloudWatchBackend.put_metric_alarm)
        CloudWatchResponse.put_metric_alarm = _wrap_put_metric_alarm_request(CloudWatchResponse.put_metric_alarm)
        Alarm.update_state = _wrap_update_state(Alarm.update_state)
        CloudWatchResponse.describe_alarm_history = describe_alarm_history
    EVALUATOR.start(time_scale())


def wake() -> None:
    """Look at every alarm again (after a snapshot is restored, its alarms are evaluated at once)."""
    EVALUATOR.wake()
