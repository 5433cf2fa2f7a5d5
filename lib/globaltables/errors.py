"""Every error the runbook raises, under one base class, and how to read AWS's error code.

``except GlobalTablesError`` catches anything the library raises on purpose; each class also keeps the
built-in base it always had (``RuntimeError``, ``TimeoutError``, ...), so older ``except`` clauses still
work. Each error carries the facts a user needs (the resource, where, what to do) and formats its own
message. The modules that raise them re-export them, so ``from globaltables.cleanup import
CleanupIncomplete`` keeps working. Errors whose message is built from their module's own rules (the
region opt-in advice in ``regions.py``, Lambda's time limit in ``fanout.py``, the parameter schema in
``params.py``) stay beside those rules, derived from the same base.

This module imports nothing from the library but the kinds of resource, so any module can use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from globaltables.kinds import ResourceKind

if TYPE_CHECKING:  # only for annotations: importing them would make this module depend on theirs
    from globaltables.cleanup import Step
    from globaltables.seeding import WriteReport


def aws_error_code(error: BaseException) -> str | None:
    """AWS's error code of a botocore ``ClientError`` (``"ResourceNotFoundException"``, ...); None for
    any other exception, so that ``aws_error_code(error) in CODES`` is safe on whatever was caught."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def aws_error_message(error: BaseException) -> str:
    """AWS's error message of a botocore ``ClientError``; ``""`` for any other exception."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Message", "") or ""
    return ""


class GlobalTablesError(Exception):
    """The base of every error the runbook raises on purpose."""


class ForeignResource(GlobalTablesError, RuntimeError):
    """A resource with the run's name exists but is not this run's (not in its manifest, or tagged by
    another run): never adopted, changed or deleted. ``kind`` is the manifest's kind (``iam:role``),
    ``region`` None for a global service (IAM)."""

    def __init__(self, kind: str, name: str, region: str | None = None, detail: str = ""):
        self.kind, self.name, self.region, self.detail = str(kind), name, region, detail
        where = f" in {region}" if region else ""
        why = f" ({detail})" if detail else ""
        super().__init__(f"{self.kind} {name}{where} exists but is not this run's{why}; pick another run id")


class KeyConflict(ForeignResource):
    """The run's KMS alias already names another key: someone else's, never to be reused or deleted."""

    def __init__(self, alias: str, region: str, other_key_id: str, run_key_id: str):
        self.other_key_id, self.run_key_id = other_key_id, run_key_id
        super().__init__(
            ResourceKind.KMS_ALIAS, alias, region, f"it names key {other_key_id}, not this run's {run_key_id}"
        )


# ----- the run and its folder (state.py, stopping.py) -------------------------------------------


class RunNotFound(GlobalTablesError, FileNotFoundError):
    """No manifest for the requested run (or no run at all yet)."""


class RunInUse(GlobalTablesError, RuntimeError):
    """Another process holds the run's folder (a batch run or a cleanup of the same run id)."""


class RunInterrupted(GlobalTablesError):
    """A stop was requested: the run stopped after the cell that was executing."""

    def __init__(self, signal_name: str, exec_count: int | None = None):
        self.signal_name = signal_name
        self.exec_count = exec_count  # of the last cell that ran, as the executed notebook shows it: In [n]
        after = f" after cell In [{exec_count}]" if exec_count is not None else " before the first cell"
        super().__init__(f"{signal_name}: stopped{after}")


# ----- waiting on AWS (waiting.py) --------------------------------------------------------------


class WaitTimeout(GlobalTablesError, TimeoutError):
    """A resource did not reach the awaited state in time; carries what was last seen."""

    def __init__(self, what: str, timeout_s: float, last_seen: Any):
        self.what = what
        self.timeout_s = timeout_s
        self.last_seen = last_seen
        super().__init__(
            f"{what}: not reached within {timeout_s:g} s; last seen: {last_seen}. "
            "Check the resource in the console or describe it, then rerun this step (it resumes where it stopped)."
        )


# ----- the steps' resources (tables.py, seeding.py, backup.py, fanout.py, regions.py) ------------


class TableModeMismatch(GlobalTablesError, RuntimeError):
    """The run's table exists already in another consistency mode, or with other members, than the run
    asks for: a global table's mode and an MRSC table's regions cannot change."""

    def __init__(self, table_name: str, region: str, found: str, wanted: str):
        self.table_name, self.region, self.found, self.wanted = table_name, region, found, wanted
        super().__init__(
            f"table {table_name} in {region} is {found}, but the run asks for {wanted}. A global table's "
            "consistency mode is fixed when it is made (and a strong table's regions too): set consistency, "
            "regions and witness_region back to what the table is, or clean the run up (10_cleanup) and "
            "start a new run with the mode you want"
        )


class SeedingFailed(GlobalTablesError, RuntimeError):
    """Some items could not be written; the report says how many and why."""

    def __init__(self, report: WriteReport):
        self.report = report
        detail = "; ".join(report.errors[:3])
        super().__init__(f"{report.failed} of {report.items} items were not written ({detail})")


class BackupJobFailed(GlobalTablesError, RuntimeError):
    """Every backup job this step started ended without a recovery point; carries the last job's facts."""

    def __init__(self, job_id: str, state: str, message: str, attempts: int):
        self.job_id, self.state, self.status_message, self.attempts = job_id, state, message, attempts
        super().__init__(
            f"backup job {job_id} ended {state} ({message or 'no status message'}) after {attempts} "
            "attempt(s); check the backup role and the table, then rerun this step (it starts a new job)"
        )


class FanOutError(GlobalTablesError):
    """An invocation of the load harness failed: where, which one, Lambda's error and the log's tail."""

    def __init__(self, region: str, invocation: int, error: str, message: str, log_tail: str = ""):
        self.region, self.invocation, self.error, self.message, self.log_tail = (
            region,
            invocation,
            error,
            message,
            log_tail,
        )
        super().__init__(
            f"load harness invocation {invocation} in {region} failed ({error}): {message}"
            + (f"\n--- log tail ---\n{log_tail}" if log_tail else "")
        )


class RegionCheckDenied(GlobalTablesError, RuntimeError):
    """The caller may not read the regions' opt-in status (AccessDeniedException)."""

    def __init__(self, regions: list[str], detail: str):
        self.regions = regions
        super().__init__(
            f"cannot check whether {', '.join(regions)} are enabled for the account: {detail}. Allow the "
            "read-only action account:GetRegionOptStatus to this identity (the runbook checks before "
            "creating anything, so that an opt-in region that is not enabled cannot leave half a global "
            "table behind)"
        )


# ----- cleanup (cleanup.py, widgets.py) ---------------------------------------------------------


class CleanupIncomplete(GlobalTablesError, RuntimeError):
    """Some resources could not be removed (failed) or had to wait for one that could not (held back);
    they stay in the manifest for the next attempt."""

    def __init__(self, failed: list[Step]):
        self.failed = failed
        super().__init__(
            f"{len(failed)} resources could not be removed: "
            + "; ".join(f"{s.kind} {s.name} in {s.region}: {s.outcome}" for s in failed[:5])
            + ". Fix the cause and run cleanup again: it resumes with what remains."
        )


class CleanupNotConfirmed(GlobalTablesError, RuntimeError):
    """Cleanup was not confirmed, so nothing was deleted."""


# ----- the embedded AWS, seen from the client side (endpoint.py, embedded_admin.py, cli.py) -------


class EndpointNotFound(GlobalTablesError, RuntimeError):
    """No embedded AWS is running where the runbook looks for one."""


class EmbeddedAWSUnavailable(GlobalTablesError, RuntimeError):
    """The run's resources live in an embedded AWS that cannot be reached or restored."""


class ReplicationTimeout(GlobalTablesError, TimeoutError):
    """Replicated writes were still in flight when the wait ended."""


class StateSaveError(GlobalTablesError, RuntimeError):
    """The embedded AWS did not save its state; the message is the server's reason."""
