"""One schema for every parameter of the runbook: loading, validation, defaults.

Every key is documented once, here, in its ``Field(description=...)``; the README's parameter
table is rendered from this schema (``parameter_table_markdown``) and a test keeps them in step.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import boto3
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# DynamoDB table names: 3-255 characters of [a-zA-Z0-9_.-]. The runbook appends "-" and a
# six-character suffix to the prefix, so the prefix may use at most 255 - 7 characters.
TABLE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
SUFFIX_LENGTH = 6
PREFIX_MAX_LENGTH = 255 - 1 - SUFFIX_LENGTH
PREFIX_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]+$")
RUN_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")
MIN_REGIONS, MAX_REGIONS = 2, 6
DEFAULT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]


@cache
def known_regions() -> tuple[str, ...]:
    """Regions where DynamoDB is offered in the commercial partition, as botocore knows them."""
    return tuple(boto3.session.Session().get_available_regions("dynamodb"))


class ParameterProblem(BaseModel):
    key: str
    value: Any = None
    allowed: str

    def __str__(self) -> str:
        return f"parameter '{self.key}' = {self.value!r}: {self.allowed}"


class ParameterError(ValueError):
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

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

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
        description="Start of the table name; the run appends `-` and a random 6-character suffix. "
        f"Letters, digits, `_`, `.`, `-`; at most {PREFIX_MAX_LENGTH} characters.",
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
        10, ge=1, le=40000, description="`PROVISIONED` only: read capacity units of table and GSI."
    )
    write_capacity: int = Field(
        10, ge=1, le=40000, description="`PROVISIONED` only: write capacity units, the auto scaling minimum."
    )
    max_write_capacity: int = Field(
        100, ge=1, le=40000, description="`PROVISIONED` only: the auto scaling maximum of write capacity."
    )
    wait_timeout_s: float = Field(
        1800,
        gt=0,
        description="How long a step waits for a table or replica to become ACTIVE before it fails with the state it saw.",
    )
    item_count: int = Field(300, ge=1, le=10_000_000, description="How many sample items 03_seed_data writes.")
    data_seed: int = Field(42, description="Seed of the sample data: the same seed writes the same items.")
    writer_threads: int = Field(8, ge=1, le=64, description="Parallel BatchWriteItem writers in 03_seed_data.")
    replication_alarm_ms: float = Field(
        1000, gt=0, description="ReplicationLatency (ms, average over 5 minutes) above which an alarm fires."
    )
    throttle_alarm_events: int = Field(
        5, ge=0, description="Read or write throttle events (sum over 5 minutes) above which an alarm fires."
    )
    canary_rounds: int = Field(
        5, ge=1, le=1000, description="Canary writes per region in the replication-lag probe of 04."
    )

    load_mode: Literal["closed", "open"] = Field(
        "closed",
        description="07: `closed` (workers send back to back) or `open` (a constant rate, latency from the intended send time).",
    )
    load_workers: int = Field(
        8, ge=1, le=256, description="07: worker threads per region (in open mode, the most operations in flight)."
    )
    load_rate_per_s: float = Field(100, gt=0, description="07, open mode: operations per second per region.")
    load_read_ratio: float = Field(
        0.8, ge=0, le=1, description="07: share of reads (GetItem); the rest are writes (PutItem)."
    )
    load_key_distribution: Literal["uniform", "zipfian"] = Field("uniform", description="07: how keys are picked.")
    load_key_space: int = Field(
        500, ge=1, le=10_000_000, description="07: distinct keys the load touches (prefilled first)."
    )
    load_duration_s: float = Field(5, gt=0, le=86_400, description="07: measured seconds per region, after warm-up.")
    load_warmup_s: float = Field(1, ge=0, le=3600, description="07: seconds of load excluded from the figures.")
    confirm_cleanup: bool = Field(
        False,
        description="09: remove the run's resources without asking. Interactively, 09 asks with a button when false; "
        "a batch run with false stops before deleting anything.",
    )
    conflict_items: int = Field(100, ge=1, le=100_000, description="08: items every region updates at the same time.")
    conflict_rounds: int = Field(2, ge=1, le=100, description="08: how many times each region updates each item.")
    conflict_delays_ms: list[float] = Field(
        default_factory=lambda: [0.0, 400.0],
        description="08, embedded AWS: replication delays (ms) to run the conflict storm under; on AWS it runs once, "
        "as AWS replicates.",
    )

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, regions: list[str]) -> list[str]:
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

    @field_validator("table_name_prefix")
    @classmethod
    def _check_prefix(cls, prefix: str) -> str:
        if not prefix or len(prefix) > PREFIX_MAX_LENGTH or not PREFIX_PATTERN.match(prefix):
            raise ValueError(
                "DynamoDB table names are 3-255 characters of letters, digits, '_', '.' and '-'; "
                f"the prefix must be 1-{PREFIX_MAX_LENGTH} such characters (the run appends '-' and a "
                f"{SUFFIX_LENGTH}-character suffix)"
            )
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

    def with_overrides(self, **values: Any) -> Params:
        """A copy with some values replaced, validated like the rest (a notebook's own parameters)."""
        return validate_params({**self.model_dump(), **values})

    @property
    def primary_region(self) -> str:
        return self.regions[0]

    @property
    def replica_regions(self) -> list[str]:
        return self.regions[1:]

    def to_notebook_parameters(self) -> dict[str, Any]:
        """Plain values, as papermill injects them."""
        return self.model_dump(mode="json")


class _TargetProblem(ValueError):
    def __init__(self, key: str, value: Any, allowed: str):
        self.problem = ParameterProblem(key=key, value=value, allowed=allowed)
        super().__init__(allowed)


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
        message = str(ctx_error) if ctx_error is not None else detail["msg"]
        value = given.get(key, detail.get("input"))
        problems.append(ParameterProblem(key=key, value=value, allowed=message))
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
    return key.strip(), yaml.safe_load(raw) if raw.strip() else None


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Read a YAML parameter file (optional), apply overrides, validate."""
    values: dict[str, Any] = {}
    source = None
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ParameterError(
                [ParameterProblem(key="--params", value=str(path), allowed="file not found; ship one from params/")]
            ) from None
        except yaml.YAMLError as error:
            raise ParameterError(
                [ParameterProblem(key="--params", value=str(path), allowed=f"not valid YAML: {error}")]
            ) from None
        if not isinstance(loaded, dict):
            raise ParameterError(
                [ParameterProblem(key="--params", value=str(path), allowed="must hold a mapping of key: value")]
            )
        values.update(loaded)
    values.update(overrides or {})
    return validate_params(values, source=source)


def parameter_table_markdown() -> str:
    """The README's parameter table, rendered from the schema."""
    rows = ["| parameter | default | meaning |", "|---|---|---|"]
    defaults = Params().model_dump(mode="json")
    for name, field in Params.model_fields.items():
        default = defaults[name]
        shown = "empty" if default is None else f"`{yaml.safe_dump(default, default_flow_style=True).strip()}`"
        shown = shown.replace("\n...", "")
        rows.append(f"| `{name}` | {shown} | {field.description} |")
    return "\n".join(rows)
