"""One schema for every parameter of the runbook: loading, validation, defaults.

Every key is documented once, here, in its ``Field(description=...)``; the README's parameter
table is rendered from this schema (``parameter_table_markdown``) and a test keeps them in step.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import typing
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import boto3
import yaml
from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from globaltables.errors import GlobalTablesError
from globaltables.names import SUFFIX_LENGTH, prefix_max_length, prefix_problem
from globaltables.regions import MRSC_REGION_SETS, mrsc_region_set

# DynamoDB table names: 3-255 characters of [a-zA-Z0-9_.-] (names.DYNAMODB_TABLE). The prefix starts
# every name of the run that is not fixed (table, restored table, SNS topic, alarms, dashboards,
# scaling policies), so it is checked against each of those services' rules (names.prefix_problem).
TABLE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
RUN_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")
MIN_REGIONS, MAX_REGIONS = 2, 6
# Validation context of parameters read back from a manifest: the resources exist already.
RECORDED = "recorded"
DEFAULT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]
# A strong (MRSC) table spans exactly three regions: three replicas, or two replicas and a witness.
MRSC_MEMBERS = 3
MRSC_SETS_TEXT = "; ".join(f"{name}: {', '.join(members)}" for name, members in MRSC_REGION_SETS.items())

# Upper bounds of the numeric parameters (each is stated in its parameter's description).
MAX_WAIT_S = 86_400  # one day
MAX_ALARM_MS = 3_600_000  # one hour
MAX_THROTTLE_EVENTS = 1_000_000
MAX_SEED = 2**32 - 1
MAX_RATE_PER_S = 100_000  # per region; far above what one machine sends (perf.LoadSpec uses it too)
MAX_DURATION_S = 86_400
MAX_WARMUP_S = 3_600
MAX_INVOCATIONS_PER_REGION = 100  # concurrent load harnesses per region (07, lambda engine)
MAX_CONFLICT_DELAYS, MAX_CONFLICT_DELAY_MS = 10, 60_000
MAX_DRILL_S = 3_600  # an hour: a drill is a rehearsal, not a soak test
MAX_DRILL_RATE_PER_S = 1_000  # per region; the drill's writers are threads of one machine


@cache
def known_regions() -> tuple[str, ...]:
    """Regions where DynamoDB is offered in the commercial partition, as botocore knows them."""
    return tuple(boto3.session.Session().get_available_regions("dynamodb"))


# The longest prefix every derived name has room for whatever regions a run picks: the latency alarm
# <prefix>-<suffix>-ReplicationLatency-<region>-to-<region> (255 characters at most) with the two
# longest region names decides it.
PREFIX_MAX_LENGTH = prefix_max_length(known_regions())


class ParameterProblem(BaseModel):
    key: str
    value: Any = None
    allowed: str

    def __str__(self) -> str:
        return f"parameter '{self.key}' = {self.value!r}: {self.allowed}"


class ParameterError(GlobalTablesError, ValueError):
    """Raised before any AWS call when a parameter is wrong; names each key, its value and the fix."""

    def __init__(self, problems: list[ParameterProblem], source: str | None = None):
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{len(problems)} invalid parameter{'s' if len(problems) != 1 else ''}{where}:"]
        lines += [f"  - {problem}" for problem in problems]
        super().__init__("\n".join(lines))


def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Params(BaseModel):
    """Every parameter the runbook takes, with its default (the defaults run on the embedded AWS)."""

    # strict: YAML `true` is not the count 1 and "5" is not the number 5 (an int is still a float);
    # allow_inf_nan=False: .inf and .nan are refused wherever a number is (list items included).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)

    target: Literal["local", "aws"] = Field(
        "local",
        description="Where resources are made: `local` (the embedded AWS on loopback) or `aws` (real AWS, costs money).",
    )
    regions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REGIONS),
        description=f"Regions of the global table, primary first: {MIN_REGIONS} to {MAX_REGIONS} distinct region names.",
    )
    table_name_prefix: str = Field(
        "global-app-data",
        description=f"Start of the table name; the run appends `-` and a random {SUFFIX_LENGTH}-character suffix. "
        f"Letters, digits, `_`, `-`; at most {PREFIX_MAX_LENGTH} characters (it also starts the SNS topic, "
        "dashboard, alarm and scaling policy names, whose rules refuse `.` or allow fewer characters).",
    )
    run_id: str | None = Field(
        None,
        description="Name of the run and of its folder in `outputs/`; generated (time and suffix) when empty.",
    )
    endpoint_url: str | None = Field(
        None,
        description="`local` only: URL of an embedded AWS already running on loopback. "
        "Empty: `GLOBALTABLES_ENDPOINT`, then the one `python -m globaltables local` started.",
    )
    confirm_costs: bool = Field(
        False,
        description="Must be `true` with `target: aws`: you accept that the run creates billable resources.",
    )

    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = Field(
        "PAY_PER_REQUEST",
        description="`PAY_PER_REQUEST` (on demand), or `PROVISIONED` with Application Auto Scaling on table and GSI "
        "write capacity (global tables refuse provisioned writes without it).",
    )
    read_capacity: int = Field(
        10, ge=1, le=40000, description="`PROVISIONED` only: read capacity units of table and GSI, 1 to 40000."
    )
    write_capacity: int = Field(
        10,
        ge=1,
        le=40000,
        description="`PROVISIONED` only: write capacity units, the auto scaling minimum, 1 to 40000.",
    )
    max_write_capacity: int = Field(
        100,
        ge=1,
        le=40000,
        description="`PROVISIONED` only: the auto scaling maximum of write capacity, 1 to 40000.",
    )
    wait_timeout_s: float = Field(
        1800,
        gt=0,
        le=MAX_WAIT_S,
        description="How long a step waits for a table or replica to become ACTIVE before it fails with the state it saw "
        f"(seconds, above 0, at most {MAX_WAIT_S}).",
    )
    consistency: Literal["eventual", "strong"] = Field(
        "eventual",
        description="The global table's consistency mode, chosen when 02 creates it and fixed for its life: "
        "`eventual` (MREC: a write returns once the local region has it, replicas converge, last writer wins) or "
        "`strong` (MRSC: a write returns once a second region has it; strongly consistent reads see it everywhere). "
        f"`strong` needs exactly three regions of one MRSC region set ({MRSC_SETS_TEXT}): three `regions`, "
        "or two plus `witness_region`.",
    )
    witness_region: str | None = Field(
        None,
        description="`strong` only: the region of the witness, a third member that takes part in every write's "
        "quorum but holds no table to read (no storage or write cost). Not one of `regions`, in their MRSC region "
        "set; empty: no witness (then three `regions`).",
    )
    item_count: int = Field(
        300, ge=1, le=10_000_000, description="How many sample items 03_seed_data writes, 1 to 10000000."
    )
    data_seed: int = Field(
        42,
        ge=0,
        le=MAX_SEED,
        description=f"Seed of the sample data, 0 to {MAX_SEED}: the same seed writes the same items.",
    )
    writer_threads: int = Field(8, ge=1, le=64, description="Parallel BatchWriteItem writers in 03_seed_data, 1 to 64.")
    replication_alarm_ms: float = Field(
        1000,
        gt=0,
        le=MAX_ALARM_MS,
        description="ReplicationLatency (ms, average over 5 minutes) above which an alarm fires; above 0, "
        f"at most {MAX_ALARM_MS} (an hour). Eventual tables only: a strong table publishes no ReplicationLatency, "
        "and a value other than the default is refused with `consistency: strong`.",
    )
    throttle_alarm_events: int = Field(
        5,
        ge=0,
        le=MAX_THROTTLE_EVENTS,
        description="Read or write throttle events (sum over 5 minutes) above which an alarm fires, "
        f"0 to {MAX_THROTTLE_EVENTS}.",
    )
    canary_rounds: int = Field(
        5, ge=1, le=1000, description="Canary writes per region in the replication-lag probe of 04, 1 to 1000."
    )

    load_mode: Literal["closed", "open"] = Field(
        "closed",
        description="07: `closed` (workers send back to back) or `open` (a constant rate, latency from the intended send time).",
    )
    load_workers: int = Field(
        8,
        ge=1,
        le=256,
        description="07: worker threads per region (per invocation with the `lambda` engine), 1 to 256 (in open mode, "
        "the most operations in flight).",
    )
    load_rate_per_s: float = Field(
        100,
        gt=0,
        le=MAX_RATE_PER_S,
        description=f"07, open mode: operations per second per region (per invocation with the `lambda` engine), above 0, "
        f"at most {MAX_RATE_PER_S}; "
        "operations the machine cannot send in time are reported as not sent.",
    )
    load_read_ratio: float = Field(
        0.8, ge=0, le=1, description="07: share of reads (GetItem), 0 to 1; the rest are writes (PutItem)."
    )
    load_key_distribution: Literal["uniform", "zipfian"] = Field("uniform", description="07: how keys are picked.")
    load_key_space: int = Field(
        500, ge=1, le=10_000_000, description="07: distinct keys the load touches (prefilled first), 1 to 10000000."
    )
    load_duration_s: float = Field(
        5,
        gt=0,
        le=MAX_DURATION_S,
        description=f"07: measured seconds per region, after warm-up; above 0, at most {MAX_DURATION_S}. "
        "The load stops at warm-up plus this wall-clock time.",
    )
    load_warmup_s: float = Field(
        1,
        ge=0,
        le=MAX_WARMUP_S,
        description=f"07: seconds of load excluded from the figures, 0 to {MAX_WARMUP_S}.",
    )
    load_engine: Literal["local", "lambda"] | None = Field(
        None,
        description="07: where the load runs. `local`: threads of this machine, one harness per region. `lambda`: "
        "a function deployed in every region runs the harness against its own region's replica, "
        "`load_invocations_per_region` invocations at once, and returns HDR histograms, merged per region and "
        "overall. Empty: by target (`lambda` on `aws`, `local` on the embedded AWS, so that `make run` stays quick).",
    )
    load_invocations_per_region: int = Field(
        2,
        ge=1,
        le=MAX_INVOCATIONS_PER_REGION,
        description=f"07, `lambda` engine: concurrent invocations per region, 1 to {MAX_INVOCATIONS_PER_REGION}. Each "
        "applies the other `load_*` settings by itself (its workers, its rate, the same mix, key space and duration), "
        "so a region receives this many times the load of one harness.",
    )
    confirm_cleanup: bool = Field(
        False,
        description="10: remove the run's resources without asking. Interactively, 10 asks with a button when false; "
        "a batch run with false stops before deleting anything.",
    )
    conflict_items: int = Field(
        100, ge=1, le=100_000, description="08: items every region updates at the same time, 1 to 100000."
    )
    conflict_rounds: int = Field(
        2, ge=1, le=100, description="08: how many times each region updates each item, 1 to 100."
    )
    conflict_delays_ms: list[Annotated[float, Interval(ge=0, le=MAX_CONFLICT_DELAY_MS)]] = Field(
        default_factory=lambda: [0.0, 400.0],
        min_length=1,
        max_length=MAX_CONFLICT_DELAYS,
        description=f"08, embedded AWS: replication delays (ms) to run the conflict storm under, 1 to "
        f"{MAX_CONFLICT_DELAYS} of them, each 0 to {MAX_CONFLICT_DELAY_MS}; on AWS it runs once, as AWS replicates.",
    )
    drill_duration_s: float = Field(
        5,
        gt=0,
        le=MAX_DRILL_S,
        description=f"09: seconds the writers write in each drill (region evacuation, replication pause), above 0, "
        f"at most {MAX_DRILL_S}.",
    )
    drill_write_rate_per_s: float = Field(
        20,
        gt=0,
        le=MAX_DRILL_RATE_PER_S,
        description=f"09: writes per second in each region during a drill, above 0, at most {MAX_DRILL_RATE_PER_S}.",
    )
    drill_failed_region: str | None = Field(
        None,
        description="09: the region cut off in the evacuation drill and paused in the replication pause drill; "
        "one of `regions` (a replica, never the witness). Empty: the last of `regions`.",
    )
    drill_cut_after_s: float = Field(
        1,
        ge=0,
        le=MAX_DRILL_S,
        description="09: seconds after the writers start when the fault begins (the cut, the pause); "
        f"0 or more, less than `drill_duration_s` (so at most {MAX_DRILL_S}).",
    )
    drill_pause_s: float = Field(
        2.5,
        gt=0,
        le=MAX_DRILL_S,
        description=f"09: seconds replication stays paused in the pause drill (and the evacuated region stays cut "
        f"off), above 0, at most {MAX_DRILL_S}. On AWS, FIS runs the pause for this long (rounded up to whole seconds).",
    )

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, regions: list[str]) -> list[str]:
        _check_known(regions)
        duplicates = sorted({r for r in regions if regions.count(r) > 1})
        if duplicates:
            raise ValueError(
                f"region {', '.join(map(repr, duplicates))} listed twice; each region holds one replica, list it once"
            )
        if not MIN_REGIONS <= len(regions) <= MAX_REGIONS:
            raise ValueError(
                f"a global table here spans {MIN_REGIONS} to {MAX_REGIONS} regions (primary first), "
                f"got {len(regions)}; e.g. [{', '.join(DEFAULT_REGIONS[:2])}]"
            )
        return regions

    @field_validator("witness_region", "drill_failed_region")
    @classmethod
    def _check_witness_region(cls, region: str | None) -> str | None:
        if region is None or region == "":
            return None
        _check_known([region])
        return region

    @field_validator("table_name_prefix")
    @classmethod
    def _check_prefix(cls, prefix: str, info: ValidationInfo) -> str:
        # Against the longest region names, not the run's: a prefix stays valid whatever regions it
        # is used with (and the regions may be invalid themselves). A manifest written under older,
        # looser rules still opens (RECORDED), so that its resources can be cleaned up.
        if (info.context or {}).get(RECORDED):
            return prefix
        problem = prefix_problem(prefix, known_regions())
        if problem:
            raise ValueError(problem)
        return prefix

    @field_validator("run_id")
    @classmethod
    def _check_run_id(cls, run_id: str | None) -> str | None:
        if run_id is not None and not RUN_ID_PATTERN.match(run_id):
            raise ValueError(
                "a run id is 1-64 characters of letters, digits, '.', '_' and '-', starting with a letter "
                "or digit (it names a folder and a tag value); leave it empty to generate one"
            )
        return run_id

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not _is_loopback_host(parsed.hostname):
            raise ValueError(
                "the embedded AWS listens on loopback only: use http://127.0.0.1:PORT "
                "(or localhost / [::1]), or leave it empty"
            )
        return url

    @model_validator(mode="after")
    def _check_target(self) -> Params:
        if self.target == "aws" and not self.confirm_costs:
            raise _TargetProblem(
                "confirm_costs",
                self.confirm_costs,
                "target 'aws' creates billable resources in your account; set confirm_costs: true "
                "to accept, or use target: local",
            )
        if self.target == "aws" and self.endpoint_url:
            raise _TargetProblem(
                "endpoint_url",
                self.endpoint_url,
                "endpoint_url points at the embedded AWS and applies to target 'local' only; remove it",
            )
        return self

    @model_validator(mode="after")
    def _check_capacity(self) -> Params:
        if self.max_write_capacity < self.write_capacity:
            raise _TargetProblem(
                "max_write_capacity",
                self.max_write_capacity,
                f"must be at least write_capacity ({self.write_capacity}): it is the auto scaling maximum",
            )
        return self

    @model_validator(mode="after")
    def _check_consistency(self, info: ValidationInfo) -> Params:
        # A manifest recorded under other region sets (AWS may add regions) still opens, so that its
        # resources can be cleaned up: only the shape of the table is checked then.
        problem = mrsc_problem(self, check_sets=not (info.context or {}).get(RECORDED))
        if problem is not None:
            raise _TargetProblem(*problem)
        default_alarm_ms = type(self).model_fields["replication_alarm_ms"].default
        if self.consistency == "strong" and self.replication_alarm_ms != default_alarm_ms:
            # Accepted, it would be silently ignored: 04 puts no ReplicationLatency alarm on a strong table.
            raise _TargetProblem(
                "replication_alarm_ms",
                self.replication_alarm_ms,
                "a strong (MRSC) table publishes no ReplicationLatency, so no alarm uses this threshold; "
                f"leave it at its default ({default_alarm_ms:g}) or use consistency: eventual",
            )
        return self

    @model_validator(mode="after")
    def _check_drills(self) -> Params:
        if self.drill_failed_region is not None and self.drill_failed_region not in self.regions:
            raise _TargetProblem(
                "drill_failed_region",
                self.drill_failed_region,
                f"the drills cut off or pause a replica region: one of regions {self.regions} "
                f"(the witness holds no table), or empty for the last ({self.regions[-1]})",
            )
        if self.drill_cut_after_s >= self.drill_duration_s:
            raise _TargetProblem(
                "drill_cut_after_s",
                self.drill_cut_after_s,
                f"the fault must begin while the writers write: less than drill_duration_s ({self.drill_duration_s:g})",
            )
        return self

    def with_overrides(self, **values: Any) -> Params:
        """A copy with some values replaced, validated like the rest (a notebook's own parameters)."""
        return validate_params({**self.model_dump(), **values})

    @property
    def primary_region(self) -> str:
        return self.regions[0]

    @property
    def drill_region(self) -> str:
        """The region the drills fail: ``drill_failed_region``, else the last region."""
        return self.drill_failed_region or self.regions[-1]

    @property
    def replica_regions(self) -> list[str]:
        return self.regions[1:]

    @property
    def member_regions(self) -> list[str]:
        """The regions taking part in the global table: its replicas, then the witness if there is one."""
        return [*self.regions, *([self.witness_region] if self.witness_region else [])]

    def to_notebook_parameters(self) -> dict[str, Any]:
        """Plain values, as papermill injects them."""
        return self.model_dump(mode="json")


class _TargetProblem(ValueError):
    def __init__(self, key: str, value: Any, allowed: str):
        self.problem = ParameterProblem(key=key, value=value, allowed=allowed)
        super().__init__(allowed)


def _check_known(regions: list[str]) -> None:
    """Raises ValueError naming each region DynamoDB does not run in, with the closest real name."""
    unknown = [r for r in regions if r not in known_regions()]
    if unknown:
        hints = []
        for region in unknown:
            close = difflib.get_close_matches(region, known_regions(), n=1)
            hints.append(f"{region!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"unknown region {', '.join(hints)}; use region names where DynamoDB runs, "
            f"such as {', '.join(DEFAULT_REGIONS)}"
        )


# ----- strong consistency (MRSC): three regions of one region set -------------------------------------


def _set_of(region: str) -> str:
    found = mrsc_region_set(region)
    return f"{region} in the {found} set" if found else f"{region} in no MRSC region set"


def mrsc_suggestion(regions: list[str], witness_region: str | None, with_witness: bool | None = None) -> str:
    """A valid strong choice close to the given one: the primary's region set (else the set most of the
    regions are in, else US), keeping the given replicas and witness of that set where they are."""
    sets = [mrsc_region_set(r) for r in [*regions, *([witness_region] if witness_region else [])]]
    chosen_set = sets[0] or max(MRSC_REGION_SETS, key=lambda name: (sets.count(name), name == "US"))
    pool = MRSC_REGION_SETS[chosen_set]
    replicas = list(dict.fromkeys(r for r in regions if r in pool))
    witness = bool(witness_region) if with_witness is None else with_witness
    if not witness:
        replicas += [r for r in pool if r not in replicas]
        return f"regions: [{', '.join(replicas[:3])}]"
    replicas = replicas[:2]
    kept = witness_region if witness_region in pool and witness_region not in replicas else None
    replicas += [r for r in pool if r not in replicas and r != kept][: 2 - len(replicas)]
    chosen_witness = kept or next(r for r in pool if r not in replicas)
    return f"regions: [{', '.join(replicas)}], witness_region: {chosen_witness}"


def mrsc_problem(params: Params, check_sets: bool = True) -> tuple[str, Any, str] | None:
    """What is wrong with the run's consistency, witness and regions together, as (key, value, allowed),
    or None: a witness only with ``strong`` and outside ``regions``; ``strong`` with exactly three
    regions, all in one MRSC region set (``check_sets``)."""
    regions, witness = params.regions, params.witness_region
    if witness and params.consistency != "strong":
        return (
            "witness_region",
            witness,
            "a witness belongs to a strong (MRSC) table only: set consistency: strong (with two regions), "
            "or leave witness_region empty",
        )
    if params.consistency != "strong":
        return None
    if witness in regions:
        return (
            "witness_region",
            witness,
            f"the witness is a third region, not one of the replicas' (regions: [{', '.join(regions)}]); "
            f"e.g. {mrsc_suggestion(regions, witness)}",
        )
    members = params.member_regions
    if len(members) != MRSC_MEMBERS:
        got = f"{len(regions)} regions and {'a witness' if witness else 'no witness'}"
        return (
            "regions",
            regions,
            "consistency: strong (MRSC) spans exactly three regions: three in regions, or two in regions plus "
            f"witness_region; got {got}; e.g. {mrsc_suggestion(regions, witness, with_witness=True)} "
            f"(or {mrsc_suggestion(regions, witness, with_witness=False)})",
        )
    sets = {mrsc_region_set(r) for r in members}
    if not check_sets or (len(sets) == 1 and None not in sets):
        return None
    # The regions agree on a set and only the witness is elsewhere: the witness is what to change.
    regions_agree = len({mrsc_region_set(r) for r in regions}) == 1 and mrsc_region_set(regions[0]) is not None
    key, value = ("witness_region", witness) if witness and regions_agree else ("regions", regions)
    return (
        key,
        value,
        f"a strong (MRSC) table's regions must all be in one of AWS's MRSC region sets ({MRSC_SETS_TEXT}); "
        f"here {', '.join(_set_of(r) for r in members)}; e.g. {mrsc_suggestion(regions, witness)}",
    )


# ----- pydantic's type, range and length errors, in the runbook's words ----------------------------

# List parameters whose items pydantic cannot describe well enough by itself.
_LIST_ALLOWED = {
    "regions": f"a list of {MIN_REGIONS} to {MAX_REGIONS} region names, primary first, "
    f"e.g. [{', '.join(DEFAULT_REGIONS[:2])}]",
}
# Errors that already carry the runbook's own wording (validators above) or read well as they are.
_OWN_MESSAGES = {"value_error", "assertion_error", "literal_error", "extra_forbidden"}


def _number(value: float) -> str:
    """A bound as a person writes it in YAML: 86400, not 86400.0."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bounds_text(kind: Any, metadata: list[Any] | tuple[Any, ...]) -> str:
    """``a whole number from 1 to 64``, ``a number above 0 and at most 86400``, from ge/gt/le."""
    lower = upper = None
    above = False
    for item in metadata:
        if getattr(item, "ge", None) is not None:
            lower, above = item.ge, False
        if getattr(item, "gt", None) is not None:
            lower, above = item.gt, True
        if getattr(item, "le", None) is not None:
            upper = item.le
    noun = "a whole number" if kind is int else "a number"
    if lower is not None and upper is not None:
        if above:
            return f"{noun} above {_number(lower)} and at most {_number(upper)}"
        return f"{noun} from {_number(lower)} to {_number(upper)}"
    if lower is not None:
        return f"{noun} {'above' if above else 'of at least'} {_number(lower)}"
    if upper is not None:
        return f"{noun} of at most {_number(upper)}"
    return noun


def _item_type(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """``(float, (Interval(...),))`` for ``list[Annotated[float, Interval(...)]]``."""
    (item,) = typing.get_args(annotation) or (Any,)
    if typing.get_origin(item) is Annotated:
        kind, *metadata = typing.get_args(item)
        return kind, tuple(metadata)
    return item, ()


def _scalar_kind(annotation: Any) -> Any:
    """int, float, bool or str for plain (or optional) fields of those types; None otherwise."""
    kinds = [a for a in (typing.get_args(annotation) or (annotation,)) if a is not type(None)]
    return kinds[0] if len(kinds) == 1 and kinds[0] in (int, float, bool, str) else None


def _allowed_values(key: str) -> str | None:
    """What ``key`` takes, in words, from its type and bounds; None when pydantic's words must do."""
    field = Params.model_fields.get(key)
    if field is None:
        return None
    if key in _LIST_ALLOWED:
        return _LIST_ALLOWED[key]
    kind = _scalar_kind(field.annotation)
    if kind is bool:
        return "true or false"
    if kind in (int, float):
        return _bounds_text(kind, field.metadata)
    if kind is str:
        return "text"
    if typing.get_origin(field.annotation) is list:
        item_kind, item_metadata = _item_type(field.annotation)
        lengths = {
            name: getattr(m, name) for m in field.metadata for name in ("min_length", "max_length") if hasattr(m, name)
        }
        count = f"{lengths.get('min_length', 0)} to {lengths['max_length']} " if "max_length" in lengths else ""
        each = _bounds_text(item_kind, item_metadata) if item_kind in (int, float) else "text"
        return f"a list of {count}values, each {each}"
    return None


def _why_not(value: Any, kind: Any) -> str:
    """Why ``value`` is not of ``kind`` (int, float, bool, str, list), when the type is the problem."""
    if value is None:
        return "it cannot be empty"
    if kind in (int, float):
        if isinstance(value, bool):
            return "true/false is not a number"
        if isinstance(value, str):
            return "text is not a number; write the number without quotes"
        if isinstance(value, float) and not math.isfinite(value):
            return "it must be finite; .inf, -.inf and .nan are not numbers a run can use"
        if kind is int and isinstance(value, float):
            return "a whole number is written without a decimal point"
        if isinstance(value, (list, dict)):
            return "give one number, not a list or mapping"
    if kind is bool:
        if isinstance(value, str):
            return "write true or false, without quotes"
        if isinstance(value, (int, float)):
            return "a number is not true/false"
    if kind is str:
        if isinstance(value, bool):
            return "YAML reads that as true/false; quote it"
        if isinstance(value, (int, float)):
            return "YAML reads that as a number; quote it"
    if kind is list and not isinstance(value, list):
        return "write a list in brackets, e.g. [a, b]"
    return ""


def _readable_problem(key: str, location: tuple[Any, ...], detail: Any, value: Any) -> str | None:
    """Our one-line wording of a type, range or length error of ``key``; None to keep pydantic's."""
    allowed = _allowed_values(key)
    if allowed is None or detail["type"] in _OWN_MESSAGES:
        return None
    annotation = Params.model_fields[key].annotation
    if typing.get_origin(annotation) is not list:
        why = _why_not(value, _scalar_kind(annotation))
        return f"{allowed}; {why}" if why else allowed
    if len(location) > 1 and isinstance(location[1], int):  # one item of the list
        item = detail.get("input")
        why = _why_not(item, _item_type(annotation)[0])
        return f"{allowed}; item {location[1] + 1} ({item!r}) " + (f"is refused: {why}" if why else "is out of range")
    why = _why_not(value, list)
    if not why and isinstance(value, list):
        why = f"got {len(value)}"
    return f"{allowed}; {why}" if why else allowed


def _problems_from(error: ValidationError, given: dict[str, Any]) -> list[ParameterProblem]:
    problems = []
    known = list(Params.model_fields)
    for detail in error.errors():
        location = detail.get("loc", ())
        key = str(location[0]) if location else ""
        if detail["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(
                ParameterProblem(
                    key=key,
                    value=given.get(key),
                    allowed=f"unknown parameter; {hint}known parameters: {', '.join(known)}",
                )
            )
            continue
        ctx_error = (detail.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _TargetProblem):
            problems.append(ctx_error.problem)
            continue
        value = given.get(key, detail.get("input"))
        message = _readable_problem(key, tuple(location), detail, value)
        if message is None:
            message = str(ctx_error) if ctx_error is not None else detail["msg"]
        problem = ParameterProblem(key=key, value=value, allowed=message)
        if problem not in problems:
            problems.append(problem)
    return problems


def validate_params(values: dict[str, Any] | None = None, *, source: str | None = None, **more: Any) -> Params:
    """Validate parameter values; raises ParameterError naming every bad key, its value and the fix."""
    given = {**(values or {}), **more}
    try:
        return Params.model_validate(given)
    except ValidationError as error:
        raise ParameterError(_problems_from(error, given), source=source) from None


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a ``key=value`` override; the value is read as YAML, as papermill's ``-y``/``-p`` do."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ParameterError(
            [
                ParameterProblem(
                    key=key or text,
                    value=text,
                    allowed="overrides are written key=value, e.g. -p regions=[us-east-1,eu-west-1]",
                )
            ]
        )
    key = key.strip()
    try:
        return key, yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ParameterError(
            [
                ParameterProblem(
                    key=f"-p {key}",
                    value=raw,
                    allowed=f"the value is not valid YAML ({_yaml_problem(error)}); close every bracket and quote "
                    "text that YAML would misread, e.g. -p regions=[us-east-1,eu-west-1]",
                )
            ]
        ) from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where (PyYAML's own text spans several lines)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{context + ': ' if context else ''}{problem}{where}"


def _read_params_file(path: str | Path) -> Any:
    """The YAML in ``path``; every way it cannot be read becomes one line naming ``--params`` and the fix."""

    def refuse(allowed: str) -> ParameterError:
        return ParameterError([ParameterProblem(key="--params", value=str(path), allowed=allowed)])

    example = "e.g. --params params/local.yaml"
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise refuse(f"file not found; give a YAML file of parameters, {example} (ship one from params/)") from None
    except IsADirectoryError:
        raise refuse(f"is a directory; give a YAML file of parameters, not a folder, {example}") from None
    except PermissionError:
        raise refuse("permission denied; make the file readable by you (chmod u+r) or copy it") from None
    except UnicodeDecodeError as error:
        raise refuse(f"not UTF-8 text (byte {error.start}); save the parameter file as UTF-8 YAML, {example}") from None
    except OSError as error:
        raise refuse(f"cannot be read ({error.strerror or error}); {example}") from None
    except yaml.YAMLError as error:
        raise refuse(f"not valid YAML ({_yaml_problem(error)}); fix the file, {example}") from None


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Read a YAML parameter file (optional), apply overrides, validate."""
    values: dict[str, Any] = {}
    source = None
    if path is not None:
        source = str(path)
        loaded = _read_params_file(path) or {}
        if not isinstance(loaded, dict):
            raise ParameterError(
                [ParameterProblem(key="--params", value=str(path), allowed="must hold a mapping of key: value")]
            )
        values.update(loaded)
    values.update(overrides or {})
    return validate_params(values, source=source)


def parameter_table_markdown() -> str:
    """The README's parameter table, rendered from the schema."""
    rows = ["| parameter | default | set in | meaning |", "|---|---|---|---|"]
    defaults = Params().model_dump(mode="json")
    for name, field in Params.model_fields.items():
        default = defaults[name]
        shown = "empty" if default is None else f"`{yaml.safe_dump(default, default_flow_style=True).strip()}`"
        shown = shown.replace("\n...", "")
        home = parameter_notebook(name)
        where = SETUP_NOTEBOOK if home == SETUP_NOTEBOOK else f"{SETUP_NOTEBOOK}, {home}"
        rows.append(f"| `{name}` | {shown} | {where} | {field.description} |")
    return "\n".join(rows)


# Where each parameter takes effect. Every parameter is set for the whole run in 00_setup (its
# parameters cell and its form) and recorded in the manifest. A step parameter is also declared by the
# notebook whose step uses it: there it may be overridden (None keeps the run's value), and the value
# the step used is what the manifest records. The other parameters are run-wide: later notebooks read
# them from the manifest.
SETUP_NOTEBOOK = "00_setup"
STEP_PARAMETERS: dict[str, tuple[str, ...]] = {
    "02_table_replicas": ("consistency", "witness_region"),
    "03_seed_data": ("item_count", "data_seed", "writer_threads"),
    "04_monitoring": ("replication_alarm_ms", "throttle_alarm_events", "canary_rounds"),
    "07_performance": (
        "load_mode",
        "load_workers",
        "load_rate_per_s",
        "load_read_ratio",
        "load_key_distribution",
        "load_key_space",
        "load_duration_s",
        "load_warmup_s",
        "load_engine",
        "load_invocations_per_region",
    ),
    "08_conflicts": ("conflict_items", "conflict_rounds", "conflict_delays_ms"),
    "09_resilience": (
        "drill_duration_s",
        "drill_write_rate_per_s",
        "drill_failed_region",
        "drill_cut_after_s",
        "drill_pause_s",
    ),
    "10_cleanup": ("confirm_cleanup",),
}
# Run-wide parameters that shape what a run makes (where, under which names, how it is billed): once
# the run has made resources they cannot change, only a new run (or cleanup first) can.
FIXED_ONCE_CREATED = (
    "target",
    "regions",
    "table_name_prefix",
    "billing_mode",
    "read_capacity",
    "write_capacity",
    "max_write_capacity",
    "consistency",
    "witness_region",
)


def parameter_notebook(name: str) -> str:
    """The notebook whose parameters cell sets ``name`` for its step (00_setup for run-wide ones)."""
    return next((notebook for notebook, names in STEP_PARAMETERS.items() if name in names), SETUP_NOTEBOOK)


def schema_values(namespace: dict[str, Any]) -> dict[str, Any]:
    """The parameters of the schema found in ``namespace`` (a notebook's ``globals()`` after its
    parameters cell), so that 00_setup validates every value it was given, by name."""
    return {name: namespace[name] for name in Params.model_fields if name in namespace}
