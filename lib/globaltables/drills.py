"""Resilience drills: a region evacuated, and replication paused, while every region writes.

A global table exists for the day a region fails. Two rehearsals of that day, each with writers in every
region sending unique keys at a set rate and recording when each write was acknowledged, and where:

- **Region evacuation.** At a set moment one region is cut off. Its traffic moves to the next region
  (the routing decision an operator or a health check makes; a writer whose write fails moves by itself).
  Measured: the **RPO**, the acknowledged writes of the failed region that no other region held at the
  cut (listed by key; they exist only in the failed region until it recovers), and the **RTO**, from the
  cut until the first write of the moved traffic is acknowledged elsewhere. After recovery the failed
  region catches up, and every acknowledged write must exist in every region; one that does not is listed
  with the reason (absent, or replaced by a later write under last writer wins).
- **Replication pause.** Replication to and from one region is paused for a set time while every region
  keeps writing; afterwards every replica must hold every acknowledged write.

The fault is the target's (``region_fault``, the one place the target decides): on the embedded AWS its
admin switches (``isolated`` for the evacuation, ``replication_paused`` for the pause); on AWS an AWS Fault
Injection Service experiment with ``aws:dynamodb:global-table-pause-replication`` on the failed region's
replica (its template and IAM role recorded in the manifest before each is made, removed after the drill,
and by cleanup if the drill stops midway). On AWS the evacuated region's API still answers: the writers
stop using it, and the paused replication is what cuts it off.

On a strong (MRSC) table a region that reaches no other member refuses writes (HTTP 500 on the embedded
AWS), so its writers fail over by themselves, and a write acknowledged before the cut is already in a
second region: the RPO is zero by construction.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from globaltables import cleanup
from globaltables.clients import AwsClients
from globaltables.embedded_admin import EmbeddedAWSAdmin
from globaltables.errors import aws_error_code
from globaltables.kinds import GLOBAL_REGION, ResourceKind
from globaltables.names import FIS_ROLE_PREFIX, LATENCY_METRIC, RUN_TAG_KEY, alarm_name
from globaltables.state import RunState
from globaltables.throttling import unretried_client
from globaltables.waiting import WaitTimeout, retry_on_codes, wait_until

NOTEBOOK = "09_resilience"
SORT_KEY = "DRILL"
EVACUATION, PAUSE = "evacuation", "pause"
MAX_WRITERS_PER_REGION = 8  # threads per region: one machine's share; the rate is split between them
BATCH_GET_LIMIT = 100

FIS_ACTION = "aws:dynamodb:global-table-pause-replication"
FIS_TARGET_TYPE = "aws:dynamodb:global-table"
# FIS experiment states (GetExperiment): still starting, running, and the ends.
FIS_STARTING = frozenset({"pending", "initiating"})
FIS_ENDED = frozenset({"completed", "stopped", "failed", "cancelled"})
# A new IAM role is not usable by FIS for a few seconds: FIS answers ValidationException meanwhile.
ROLE_NOT_READY_CODES = frozenset({"ValidationException"})


class DrillSpec(BaseModel):
    """What a drill does: how long the writers write, how fast, when the fault begins and how long it lasts."""

    duration_s: float
    rate_per_s: float  # writes per second in each region
    cut_after_s: float
    fault_s: float
    timeout_s: float  # bound of every wait (writers moving, catching up)

    @classmethod
    def from_params(cls, params: Any) -> DrillSpec:
        return cls(
            duration_s=params.drill_duration_s,
            rate_per_s=params.drill_write_rate_per_s,
            cut_after_s=params.drill_cut_after_s,
            fault_s=params.drill_pause_s,
            timeout_s=params.wait_timeout_s,
        )


class DrillWrite(BaseModel):
    key: str
    home: str  # the region whose traffic this write is
    region: str  # the region that acknowledged it
    sent_s: float  # seconds after the drill started
    acknowledged_s: float


class DrillFailure(BaseModel):
    home: str
    region: str
    at_s: float
    error: str


class CatchUpSample(BaseModel):
    seconds: float  # after the fault ended
    missing: dict[str, int]  # region -> acknowledged writes it does not hold yet


class LostWrite(BaseModel):
    key: str
    acknowledged_in: str
    acknowledged_s: float
    region: str  # where it is missing
    why: str


class CatchUp(BaseModel):
    seconds: float | None  # after the fault ended, until every region held every write (None: not within the bound)
    samples: list[CatchUpSample]
    lost: list[LostWrite]


# ----- the fault, as the target has it -----------------------------------------------------------------


class EmbeddedFault:
    """The embedded AWS's switch: the region isolated (evacuation) or its replication paused (pause)."""

    def __init__(self, admin: EmbeddedAWSAdmin, region: str, drill: str):
        self.admin, self.region, self.drill = admin, region, drill

    @property
    def description(self) -> str:
        switch = "isolated" if self.drill == EVACUATION else "replication_paused"
        return f"embedded AWS: {self.region} {switch} (admin switch)"

    def start(self) -> None:
        if self.drill == EVACUATION:
            self.admin.set_isolated(self.region, True)
        else:
            self.admin.pause_replication(self.region)

    def end(self) -> None:
        if self.drill == EVACUATION:
            self.admin.set_isolated(self.region, False)
        else:
            self.admin.resume_replication(self.region)

    def remove(self) -> list[cleanup.Step]:
        return []


def fis_duration(seconds: float) -> str:
    """ISO 8601 duration, as FIS's ``duration`` parameter takes it (whole seconds, rounded up)."""
    return f"PT{max(1, math.ceil(seconds))}S"


def fis_trust_policy(account: str | None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": "fis.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    if account:  # the confused-deputy guard AWS recommends for service roles
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def fis_role_policy(replica_arn: str, strong: bool) -> dict[str, Any]:
    """What FIS needs to pause one replica's replication, and nothing more: the action works by putting a
    time-limited resource-based policy on the replica that denies DynamoDB's replication service, so it
    describes the table and reads, puts and deletes its resource policy. A strong (MRSC) table is paused
    by injected errors instead (``dynamodb:InjectError``, which AWS's own FIS policy grants on ``*``)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "PauseReplicationOfOneReplica",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeTable",
                "dynamodb:GetResourcePolicy",
                "dynamodb:PutResourcePolicy",
                "dynamodb:DeleteResourcePolicy",
            ],
            "Resource": replica_arn,
        }
    ]
    if strong:
        statements.append(
            {"Sid": "PauseStrongReplication", "Effect": "Allow", "Action": "dynamodb:InjectError", "Resource": "*"}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def fis_template_request(
    label: str, role_arn: str, replica_arn: str, seconds: float, run_id: str, token: str
) -> dict[str, Any]:
    """CreateExperimentTemplate's arguments: one action pausing the replica's replication for ``seconds``."""
    return {
        "clientToken": token,
        "description": f"globaltables drill: pause replication of {replica_arn} for {fis_duration(seconds)}",
        "roleArn": role_arn,
        "stopConditions": [{"source": "none"}],
        "targets": {"Table": {"resourceType": FIS_TARGET_TYPE, "resourceArns": [replica_arn], "selectionMode": "ALL"}},
        "actions": {
            "PauseReplication": {
                "actionId": FIS_ACTION,
                "parameters": {"duration": fis_duration(seconds)},
                "targets": {"Tables": "Table"},
            }
        },
        "tags": {RUN_TAG_KEY: run_id, "Name": label},
    }


class FisPause:
    """AWS: an FIS experiment pausing replication of the region's replica for ``seconds``. Its role,
    template and experiment are recorded in the manifest before (role, template) or as (experiment) they
    are made; ``remove`` deletes them after the drill."""

    def __init__(self, clients: AwsClients, run: RunState, region: str, seconds: float, drill: str):
        self.clients, self.run, self.region, self.seconds, self.drill = clients, run, region, seconds, drill
        self.label = f"{run.names.table_name}-{drill}-{region}"[:128]
        self.experiment_id: str | None = None

    @property
    def description(self) -> str:
        return f"AWS FIS {FIS_ACTION} on {self.region} for {fis_duration(self.seconds)}"

    def _role(self, replica_arn: str) -> str:
        iam = self.clients.client("iam", self.run.params.primary_region)
        name = f"{FIS_ROLE_PREFIX}{self.run.names.suffix}"
        self.run.record(ResourceKind.ROLE, name, GLOBAL_REGION, notebook=NOTEBOOK)
        try:
            role = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(fis_trust_policy(self.run.manifest.account)),
                Description="globaltables: lets AWS FIS pause replication of the run's table",
                Tags=[{"Key": RUN_TAG_KEY, "Value": self.run.run_id}],
            )["Role"]
        except iam.exceptions.EntityAlreadyExistsException:
            role = iam.get_role(RoleName=name)["Role"]
        strong = self.run.params.consistency == "strong"
        iam.put_role_policy(
            RoleName=name,
            PolicyName="pause-replication",
            PolicyDocument=json.dumps(fis_role_policy(replica_arn, strong)),
        )
        self.run.record(ResourceKind.ROLE, name, GLOBAL_REGION, arn=role["Arn"], notebook=NOTEBOOK)
        return role["Arn"]

    def start(self) -> None:
        fis = self.clients.client("fis", self.region)
        table = self.clients.client("dynamodb", self.region).describe_table(TableName=self.run.names.table_name)
        replica_arn = table["Table"]["TableArn"]
        role_arn = self._role(replica_arn)
        token = uuid.uuid4().hex
        self.run.record(ResourceKind.FIS_TEMPLATE, self.label, self.region, notebook=NOTEBOOK, client_token=token)
        request = fis_template_request(self.label, role_arn, replica_arn, self.seconds, self.run.run_id, token)
        timeout = self.run.params.wait_timeout_s
        template = retry_on_codes(lambda: fis.create_experiment_template(**request), ROLE_NOT_READY_CODES, 60)
        template_id = template["experimentTemplate"]["id"]
        self.run.record(ResourceKind.FIS_TEMPLATE, self.label, self.region, notebook=NOTEBOOK, template_id=template_id)
        started = retry_on_codes(
            lambda: fis.start_experiment(
                clientToken=uuid.uuid4().hex,
                experimentTemplateId=template_id,
                tags={RUN_TAG_KEY: self.run.run_id, "Name": self.label},
            ),
            ROLE_NOT_READY_CODES,
            60,
        )
        self.experiment_id = started["experiment"]["id"]
        self.run.record(
            ResourceKind.FIS_EXPERIMENT, self.experiment_id, self.region, notebook=NOTEBOOK, template=self.label
        )
        self._wait_for(lambda status: status not in FIS_STARTING, "running", timeout)

    def _wait_for(self, reached: Callable[[str], bool], what: str, timeout_s: float) -> None:
        fis = self.clients.client("fis", self.region)

        def probe() -> tuple[bool, dict[str, Any]]:
            state = fis.get_experiment(id=self.experiment_id)["experiment"]["state"]
            return reached(state["status"]), state

        state = wait_until(
            probe, f"FIS experiment {self.experiment_id} {what}", timeout_s, self.clients.poll_interval_s
        )
        if state["status"] in {"failed", "cancelled"} or (what == "running" and state["status"] in FIS_ENDED):
            raise RuntimeError(
                f"FIS experiment {self.experiment_id} in {self.region} is {state['status']}: {state.get('reason')}"
            )

    def end(self) -> None:
        # The action ends by itself after its duration; this waits for that (bounded).
        self._wait_for(lambda status: status in FIS_ENDED, "ended", self.seconds + self.run.params.wait_timeout_s)

    def remove(self) -> list[cleanup.Step]:
        """Remove the experiment (stopped if still running), the template and the role, as cleanup would."""
        steps = []
        mine = {ResourceKind.FIS_EXPERIMENT, ResourceKind.FIS_TEMPLATE, ResourceKind.ROLE}
        for resource in cleanup.plan(self.run):
            if resource.kind not in mine or resource.notebook != NOTEBOOK:
                continue
            outcome = cleanup.remove(self.clients, self.run, resource)
            self.run.forget(resource.kind, resource.name, resource.region)
            steps.append(cleanup.Step(kind=resource.kind, name=resource.name, region=resource.region, outcome=outcome))
        return steps


def region_fault(clients: AwsClients, run: RunState, region: str, seconds: float, drill: str) -> Any:
    """The fault of a drill on the run's target: the embedded AWS's switch, or an FIS experiment on AWS."""
    if clients.target == "local":
        return EmbeddedFault(EmbeddedAWSAdmin(clients.endpoint_url or ""), region, drill)
    return FisPause(clients, run, region, seconds, drill)


# ----- writers ------------------------------------------------------------------------------------------


class Router:
    """Where each region's traffic goes: its own region until that region is evacuated, then the next one.
    Counts the writes in flight per region, so that the drill knows when the evacuated region is idle."""

    def __init__(self, regions: list[str], failover: bool):
        self.regions, self.failover = regions, failover
        self.routes = {region: region for region in regions}
        self.evacuated: set[str] = set()
        self.in_flight = dict.fromkeys(regions, 0)
        self._lock = threading.Lock()

    def next_region(self, region: str) -> str:
        healthy = [r for r in self.regions if r not in self.evacuated and r != region]
        following = self.regions[self.regions.index(region) + 1 :] + self.regions
        return next(r for r in following if r in healthy)

    def evacuate(self, region: str) -> str:
        with self._lock:
            self.evacuated.add(region)
            target = self.next_region(region)
            for home, routed in self.routes.items():
                if routed == region:
                    self.routes[home] = target
            return target

    def route(self, home: str) -> str:
        with self._lock:
            region = self.routes[home]
            self.in_flight[region] += 1
            return region

    def done(self, region: str, failed: bool) -> None:
        with self._lock:
            self.in_flight[region] -= 1
        if failed and self.failover and region not in self.evacuated:
            self.evacuate(region)  # a writer that sees its region fail moves its traffic (strong tables)

    def idle(self, region: str) -> bool:
        with self._lock:
            return self.in_flight[region] == 0


class Writers:
    """Writers in every region, ``rate_per_s`` unique-key writes per second each, for ``duration_s``,
    through ``router``; each acknowledged write is recorded with when and where it was acknowledged."""

    def __init__(self, clients: AwsClients, table_name: str, router: Router, spec: DrillSpec, started: float):
        self.clients, self.table_name, self.router, self.spec, self.started = clients, table_name, router, spec, started
        self.marker = uuid.uuid4().hex[:8]
        self.writes: list[DrillWrite] = []
        self.failures: list[DrillFailure] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        per_region = min(MAX_WRITERS_PER_REGION, max(1, math.ceil(spec.rate_per_s / 5)))
        self.threads = [
            threading.Thread(target=self._guarded, args=(home, number, per_region), daemon=True)
            for home in router.regions
            for number in range(per_region)
        ]

    def now(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def _guarded(self, home: str, number: int, writers: int) -> None:
        try:
            self._write(home, number, writers)
        except BaseException as error:  # handed to join()
            self.errors.append(error)

    def _write(self, home: str, number: int, writers: int) -> None:
        interval = writers / self.spec.rate_per_s
        sequence = 0
        while True:
            due = (sequence + number / writers) * interval
            if due >= self.spec.duration_s:
                return
            pause = due - self.now()
            if pause > 0:
                time.sleep(pause)
            key = f"DRILL#{self.marker}#{home}#{number}#{sequence:06d}"
            sequence += 1
            region = self.router.route(home)
            sent = self.now()
            try:
                unretried_client(self.clients, region).put_item(
                    TableName=self.table_name,
                    Item={
                        "PK": {"S": key},
                        "SK": {"S": SORT_KEY},
                        "entity": {"S": "drill"},
                        "home": {"S": home},
                        "written_in": {"S": region},
                    },
                )
            except Exception as error:  # a refused or failed write is the drill's data, not its failure
                self.router.done(region, failed=True)
                with self._lock:
                    self.failures.append(
                        DrillFailure(
                            home=home, region=region, at_s=sent, error=aws_error_code(error) or type(error).__name__
                        )
                    )
                continue
            self.router.done(region, failed=False)
            with self._lock:
                self.writes.append(
                    DrillWrite(key=key, home=home, region=region, sent_s=sent, acknowledged_s=self.now())
                )


def _trickle(clients: AwsClients, table_name: str, regions: list[str], marker: str) -> Callable[[], None]:
    """One write in every region per call, after the drill (not among the drill's writes)."""
    count = itertools.count()

    def write() -> None:
        number = next(count)
        for region in regions:
            with contextlib.suppress(Exception):  # a data point, not a measured write
                unretried_client(clients, region).put_item(
                    TableName=table_name,
                    Item={"PK": {"S": f"DRILL#{marker}#settle#{region}#{number:04d}"}, "SK": {"S": SORT_KEY}},
                )

    return write


def _sleep_until(started: float, at_s: float) -> None:
    pause = started + at_s - time.monotonic()
    if pause > 0:
        time.sleep(pause)


# ----- reading back --------------------------------------------------------------------------------------


def items_in(
    clients: AwsClients, region: str, table_name: str, keys: list[str], consistent: bool = True
) -> dict[str, dict[str, Any]]:
    """The items of ``keys`` in ``region`` (BatchGetItem; ``consistent``: strongly consistent reads)."""
    client = clients.client("dynamodb", region)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        pending: dict[str, Any] = {
            table_name: {
                "Keys": [{"PK": {"S": k}, "SK": {"S": SORT_KEY}} for k in keys[start : start + BATCH_GET_LIMIT]],
                "ConsistentRead": consistent,
            }
        }

        def read() -> tuple[bool, dict[str, Any]]:
            nonlocal pending
            response = client.batch_get_item(RequestItems=pending)
            for item in response["Responses"].get(table_name, []):
                found[item["PK"]["S"]] = item
            pending = response.get("UnprocessedKeys") or {}
            return not pending, pending

        wait_until(read, f"items read in {region}", 60, clients.poll_interval_s, show=lambda p: f"{len(p)} unprocessed")
    return found


def _why_missing(write: DrillWrite, item: dict[str, Any] | None) -> str | None:
    if item is None:
        return f"absent: acknowledged in {write.region}, never replicated here"
    if item.get("written_in", {}).get("S") != write.region:
        other = item.get("written_in", {}).get("S", "?")
        return f"replaced under last writer wins by a later write acknowledged in {other}"
    return None


def lost_writes(clients: AwsClients, regions: list[str], table_name: str, writes: list[DrillWrite]) -> list[LostWrite]:
    """Every acknowledged write missing from a region (or replaced there), with the reason."""
    keys = [w.key for w in writes]
    lost = []
    for region in regions:
        items = items_in(clients, region, table_name, keys)
        for write in writes:
            why = _why_missing(write, items.get(write.key))
            if why:
                lost.append(
                    LostWrite(
                        key=write.key,
                        acknowledged_in=write.region,
                        acknowledged_s=round(write.acknowledged_s, 3),
                        region=region,
                        why=why,
                    )
                )
    return lost


def unreplicated(
    clients: AwsClients, regions: list[str], table_name: str, writes: list[DrillWrite]
) -> list[DrillWrite]:
    """The writes no region of ``regions`` holds (read now): those that live only where they were written."""
    keys = [w.key for w in writes]
    held: set[str] = set()
    for region in regions:
        held |= set(items_in(clients, region, table_name, keys))
    return [w for w in writes if w.key not in held]


def missing_per_region(
    clients: AwsClients, regions: list[str], table_name: str, writes: list[DrillWrite], consistent: bool = True
) -> dict[str, int]:
    """How many of ``writes`` each region does not hold (read now). Eventually consistent reads
    (``consistent=False``) also answer in a strong table's region that is cut off, which serves only those."""
    keys = [w.key for w in writes]
    return {r: len(set(keys) - set(items_in(clients, r, table_name, keys, consistent))) for r in regions}


def catch_up(
    clients: AwsClients, regions: list[str], table_name: str, writes: list[DrillWrite], timeout_s: float
) -> CatchUp:
    """Poll every region until each holds every acknowledged write; then the writes still missing
    (none when it caught up within ``timeout_s``), each with the reason."""
    started = time.monotonic()
    samples: list[CatchUpSample] = []

    def probe() -> tuple[bool, CatchUpSample]:
        missing = missing_per_region(clients, regions, table_name, writes)
        samples.append(CatchUpSample(seconds=round(time.monotonic() - started, 3), missing=missing))
        return not any(missing.values()), samples[-1]

    try:
        wait_until(probe, "every acknowledged write in every region", timeout_s, clients.poll_interval_s)
        seconds: float | None = samples[-1].seconds
    except WaitTimeout:
        seconds = None
    return CatchUp(seconds=seconds, samples=samples, lost=lost_writes(clients, regions, table_name, writes))


# ----- the ReplicationLatency alarms of 04 ------------------------------------------------------------


class AlarmTransition(BaseModel):
    at_s: float  # seconds after the drill started (when the drill's poll first saw it)
    region: str  # where the alarm lives (the sending region)
    alarm: str
    state: str
    reason: str = ""


class AlarmPlan(BaseModel):
    """Which of 04's alarms the pause drill watches, and what it asserts about them on this target."""

    alarms: list[tuple[str, str]] = []  # (region, alarm name)
    asserted: bool = False  # ALARM then OK is asserted (the embedded AWS, when the alarm can fire)
    note: str


def latency_alarm_plan(
    clients: AwsClients, table_name: str, regions: list[str], failed: str, consistency: str, pause_s: float
) -> AlarmPlan:
    """04's ReplicationLatency alarms of the pairs to and from ``failed``, and what the drill can assert:
    on the embedded AWS (which evaluates alarms as AWS does, on a compressed clock) ALARM then OK, when one
    breaching period suffices (``DatapointsToAlarm`` 1) and the held writes' average latency (about half
    the pause) exceeds the threshold; on AWS nothing (an alarm on the 5-minute average may not fire within a
    short pause: no data points arrive during it)."""
    if consistency == "strong":
        return AlarmPlan(note="a strong (MRSC) table publishes no ReplicationLatency: 04 made no such alarm")
    pairs = [(failed, other) for other in regions if other != failed] + [(o, failed) for o in regions if o != failed]
    names = [(source, alarm_name(table_name, LATENCY_METRIC, source, receiving)) for source, receiving in pairs]
    found = []
    for region, name in names:
        found += clients.client("cloudwatch", region).describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if not found:
        return AlarmPlan(note="04's ReplicationLatency alarms do not exist (run 04_monitoring first)")
    alarms = [(a["AlarmArn"].split(":")[3], a["AlarmName"]) for a in found]
    if clients.target != "local":
        return AlarmPlan(alarms=alarms, note="watched, not asserted: on AWS no data point arrives during the pause")
    needed = min(a.get("DatapointsToAlarm") or a["EvaluationPeriods"] for a in found)
    threshold = min(a["Threshold"] for a in found)
    if needed > 1:
        note = f"not expected to fire: it needs {needed} breaching periods, and the pause makes one"
    elif pause_s * 1000 / 2 <= threshold:
        note = (
            f"not expected to fire: a {pause_s:g} s pause averages about {pause_s * 500:.0f} ms, under {threshold:g} ms"
        )
    else:
        return AlarmPlan(alarms=alarms, asserted=True, note="asserted: ALARM at the resume, then OK")
    return AlarmPlan(alarms=alarms, note=note)


class AlarmWatch:
    """Polls the planned alarms (DescribeAlarms, every target alike) from ``start`` until ``stop``,
    recording each change of state it sees."""

    def __init__(self, clients: AwsClients, plan: AlarmPlan, started: float):
        self.clients, self.plan, self.started = clients, plan, started
        self.transitions: list[AlarmTransition] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> AlarmWatch:
        if self.plan.alarms:
            self._thread.start()
        return self

    def stop(self, trickle: Callable[[], None] | None = None, settle_s: float = 10.0) -> list[AlarmTransition]:
        """Stop watching. An asserted alarm still in ALARM is first given up to ``settle_s``, with
        ``trickle`` (a write in every region) every 0.2 s: an alarm on a DynamoDB metric ignores missing
        data, so only fresh, normal data points bring it back to OK once the drill's writers have stopped
        (on a busy machine the backlog can outlast them)."""
        deadline = time.monotonic() + settle_s
        while self.plan.asserted and self._thread.is_alive() and time.monotonic() < deadline:
            if "ALARM" not in {t.state for t in self._latest().values()}:
                break
            if trickle is not None:
                trickle()
            time.sleep(0.2)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.transitions

    def _latest(self) -> dict[tuple[str, str], AlarmTransition]:
        return {(t.region, t.alarm): t for t in list(self.transitions)}

    def poll(self) -> None:
        seen = {(t.region, t.alarm): t.state for t in self.transitions}
        for region, name in self.plan.alarms:
            for alarm in self.clients.client("cloudwatch", region).describe_alarms(AlarmNames=[name])["MetricAlarms"]:
                if seen.get((region, name)) != alarm["StateValue"]:
                    at_s = round(time.monotonic() - self.started, 3)
                    self.transitions.append(
                        AlarmTransition(
                            at_s=at_s, region=region, alarm=name, state=alarm["StateValue"], reason=alarm["StateReason"]
                        )
                    )

    def _run(self) -> None:
        interval = 0.05 if self.clients.target == "local" else max(1.0, self.clients.poll_interval_s)
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(interval)
        self.poll()


def alarm_verdict(plan: AlarmPlan, transitions: list[AlarmTransition], fault_started_s: float) -> str | None:
    """None when the plan's assertion holds (or nothing is asserted); else what went wrong."""
    if not plan.asserted:
        return None
    raised = {(t.region, t.alarm) for t in transitions if t.state == "ALARM" and t.at_s >= fault_started_s}
    if not raised:
        return "no ReplicationLatency alarm of the paused region went to ALARM"
    last = {(t.region, t.alarm): t.state for t in transitions}
    stuck = sorted(name for key, name in raised if last[(key, name)] != "OK")
    return f"still not OK after the drill: {', '.join(stuck)}" if stuck else None


# ----- the drills -----------------------------------------------------------------------------------------


class DrillResult(BaseModel):
    drill: str
    consistency: str
    regions: list[str]
    failed_region: str
    fault: str  # how the fault was made, on this target
    moved_to: str | None = None  # evacuation: where the failed region's traffic went
    duration_s: float
    fault_started_s: float
    fault_ended_s: float
    writes: list[DrillWrite]
    failures: list[DrillFailure]
    at_risk: list[DrillWrite] = []  # evacuation: acknowledged in the failed region, in no other region at the cut
    behind: dict[str, int] = {}  # region -> acknowledged writes it did not hold when the fault ended
    rto_s: float | None = None
    catch_up: CatchUp
    removed: list[str] = []  # what the drill made and removed (FIS on AWS)
    alarm_plan: AlarmPlan | None = None  # pause: 04's ReplicationLatency alarms watched, and what is asserted
    alarm_transitions: list[AlarmTransition] = []

    @property
    def rpo_window_s(self) -> float:
        """How far back from the cut the oldest write that existed only in the failed region was acknowledged."""
        if not self.at_risk:
            return 0.0
        return round(max(0.0, self.fault_started_s - min(w.acknowledged_s for w in self.at_risk)), 3)

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "table": self.consistency,
            "fault": self.fault,
            "fault from / to (s after start)": f"{self.fault_started_s:.2f} / {self.fault_ended_s:.2f}",
            "writes acknowledged": len(self.writes),
            "writes refused or failed": len(self.failures),
        }
        if self.drill == EVACUATION:
            facts |= {
                "traffic moved": f"{self.failed_region} -> {self.moved_to}",
                "RPO: acknowledged writes only in the failed region at the cut": len(self.at_risk),
                "RPO window (s before the cut)": self.rpo_window_s,
                "RTO: cut to first write acknowledged elsewhere (s)": self.rto_s,
            }
        facts["writes not yet in each region when the fault ended"] = ", ".join(
            f"{region} {count}" for region, count in self.behind.items()
        )
        caught = self.catch_up.seconds
        facts["caught up after the fault (s)"] = caught if caught is not None else "not within the bound"
        facts["acknowledged writes missing anywhere"] = len({w.key for w in self.catch_up.lost})
        if self.alarm_plan is not None:
            states = " -> ".join(dict.fromkeys(t.state for t in self.alarm_transitions)) or "none seen"
            facts["ReplicationLatency alarms (04)"] = f"{len(self.alarm_plan.alarms)} watched; {states}"
            facts["alarm check"] = self.alarm_plan.note
        return facts

    def alarm_rows(self) -> list[dict[str, Any]]:
        """Each change of state of the watched alarms, as the drill's poll saw it."""
        return [
            {"at (s)": t.at_s, "region": t.region, "alarm": t.alarm, "state": t.state, "reason": t.reason}
            for t in self.alarm_transitions
        ]


def _rto(writes: list[DrillWrite], failed: str, cut_s: float) -> float | None:
    moved = [w.acknowledged_s for w in writes if w.home == failed and w.region != failed and w.sent_s >= cut_s]
    return round(min(moved) - cut_s, 3) if moved else None


class _FaultPhase(BaseModel):
    cut_s: float
    ended_s: float
    moved_to: str | None = None
    at_risk: list[DrillWrite] = []
    behind: dict[str, int] = {}


def _fault_phase(
    clients: AwsClients, table_name: str, regions: list[str], failed_region: str, spec: DrillSpec, fault: Any,
    drill: str, writers: Writers,
) -> _FaultPhase:  # fmt: skip
    """The fault, from its start to its end: the evacuation's routing and RPO read, each region's backlog."""
    router, started = writers.router, writers.started
    _sleep_until(started, spec.cut_after_s)
    fault.start()
    moved_to, at_risk = None, []
    try:
        cut_s = writers.now()
        if drill == EVACUATION:
            moved_to = router.evacuate(failed_region)
            wait_until(
                lambda: (router.idle(failed_region), None),
                f"no write in flight to {failed_region}",
                spec.timeout_s,
                0.005,
            )
            with writers._lock:
                acknowledged_there = [w for w in writers.writes if w.region == failed_region]
            others = [r for r in regions if r != failed_region]
            at_risk = unreplicated(clients, others, table_name, acknowledged_there)
        _sleep_until(started, cut_s + spec.fault_s)
        with writers._lock:
            so_far = list(writers.writes)
        behind = missing_per_region(clients, regions, table_name, so_far, consistent=False)
    finally:
        fault.end()
    return _FaultPhase(cut_s=cut_s, ended_s=writers.now(), moved_to=moved_to, at_risk=at_risk, behind=behind)


def run_drill(
    clients: AwsClients,
    table_name: str,
    regions: list[str],
    failed_region: str,
    spec: DrillSpec,
    fault: Any,
    drill: str,
    consistency: str = "eventual",
    alarms: AlarmPlan | None = None,
) -> DrillResult:
    """Writers in every region; at ``spec.cut_after_s`` the fault begins (evacuation: the failed region's
    traffic moves to the next region, and the writes only it holds are read as the RPO), for
    ``spec.fault_s``; then the fault ends, the writers finish, and every region must catch up. ``alarms``:
    the alarms watched meanwhile (their changes of state are in the result)."""
    started = time.monotonic()
    writers = Writers(clients, table_name, Router(regions, failover=drill == EVACUATION), spec, started).start()
    plan = alarms or AlarmPlan(note="")
    watch = AlarmWatch(clients, plan, started).start()
    try:
        try:
            phase = _fault_phase(clients, table_name, regions, failed_region, spec, fault, drill, writers)
        finally:
            writers.join()
        result_writes = sorted(writers.writes, key=lambda w: w.acknowledged_s)
        caught = catch_up(clients, regions, table_name, result_writes, spec.timeout_s)
    finally:
        transitions = watch.stop(trickle=_trickle(clients, table_name, regions, writers.marker))
    removed = [f"{s.kind} {s.name}: {s.outcome}" for s in fault.remove()]
    return DrillResult(
        drill=drill,
        consistency=consistency,
        regions=regions,
        failed_region=failed_region,
        fault=fault.description,
        moved_to=phase.moved_to,
        duration_s=spec.duration_s,
        fault_started_s=round(phase.cut_s, 3),
        fault_ended_s=round(phase.ended_s, 3),
        writes=result_writes,
        failures=sorted(writers.failures, key=lambda f: f.at_s),
        at_risk=sorted(phase.at_risk, key=lambda w: w.acknowledged_s),
        behind=phase.behind,
        rto_s=_rto(result_writes, failed_region, phase.cut_s) if drill == EVACUATION else None,
        catch_up=caught,
        removed=removed,
        alarm_plan=plan,
        alarm_transitions=transitions,
    )


def drill(clients: AwsClients, run: RunState, kind: str) -> DrillResult:
    """One drill (``EVACUATION`` or ``PAUSE``) on the run's table, with the run's drill parameters."""
    params = run.params
    spec = DrillSpec.from_params(params)
    fault = region_fault(clients, run, params.drill_region, spec.fault_s, kind)
    table, regions = run.names.table_name, params.regions
    plan = None
    if kind == PAUSE:  # 04's ReplicationLatency alarms, watched during the pause
        plan = latency_alarm_plan(clients, table, regions, params.drill_region, params.consistency, spec.fault_s)
    return run_drill(clients, table, regions, params.drill_region, spec, fault, kind, params.consistency, plan)


def at_risk_rows(result: DrillResult) -> list[dict[str, Any]]:
    """The RPO by key: each write that only the failed region held at the cut."""
    return [
        {"key": w.key, "acknowledged in": w.region, "acknowledged (s)": round(w.acknowledged_s, 3),
         "before the cut (s)": round(result.fault_started_s - w.acknowledged_s, 3)}
        for w in result.at_risk
    ]  # fmt: skip


def check(result: DrillResult) -> str:
    """Raises AssertionError naming each acknowledged write that is missing somewhere, and why; returns the
    verdict a person reads."""
    if result.catch_up.lost:
        lines = [f"  {w.key} (acknowledged in {w.acknowledged_in} at {w.acknowledged_s} s) in {w.region}: {w.why}"
                 for w in result.catch_up.lost[:20]]  # fmt: skip
        raise AssertionError(
            f"{len({w.key for w in result.catch_up.lost})} acknowledged writes are not in every region after the "
            f"{result.drill} drill:\n" + "\n".join(lines)
        )
    if not result.writes:
        raise AssertionError(f"the {result.drill} drill acknowledged no write: nothing was rehearsed")
    if result.alarm_plan is not None:
        problem = alarm_verdict(result.alarm_plan, result.alarm_transitions, result.fault_started_s)
        if problem:
            raise AssertionError(f"the {result.drill} drill's ReplicationLatency alarm (04): {problem}")
    if result.drill == EVACUATION:
        if result.rto_s is None:
            raise AssertionError(f"no write of {result.failed_region}'s traffic succeeded elsewhere after the cut")
        return (
            f"evacuation of {result.failed_region}: its traffic moved to {result.moved_to}; after recovery every "
            f"acknowledged write is in all {len(result.regions)} regions"
        )
    alarm = ""
    if result.alarm_plan is not None and result.alarm_plan.asserted:
        alarm = "; its ReplicationLatency alarm went to ALARM and back to OK"
    return (
        f"replication pause of {result.failed_region}: writes continued in every region; afterwards all "
        f"{len(result.regions)} replicas hold every acknowledged write{alarm}"
    )
