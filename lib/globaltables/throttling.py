"""Throttles and write conflicts: a provisioned table used beyond its capacity answers
``ProvisionedThroughputExceededException`` (or leaves batch items unprocessed); a strongly consistent
(MRSC) global table answers ``ReplicatedWriteConflictException`` to a write on an item that a write from
another region is still modifying ("can be retried and will succeed if the item is no longer being
modified in another Region", AWS's *How global tables work*). The load harness (07) and the conflict
scenarios (08) count each one and back off themselves, through clients with boto3's retries off: boto3's
standard mode would retry both too (the conflict is modelled as retryable), but invisibly, so a slow
figure would not say why."""

from __future__ import annotations

import threading
from typing import Any

from globaltables.clients import AwsClients
from globaltables.errors import aws_error_code
from globaltables.loadgen import THROTTLE_CODES, WRITE_CONFLICT_CODES, Backoff

# The codes and the backoff live in ``loadgen`` (standard library only, shipped in the load function's
# zip), so the local harness, the Lambda harness and 08's scenarios share one definition.
__all__ = ["THROTTLE_CODES", "WRITE_CONFLICT_CODES", "Backoff"]


class ThrottleCount:
    """A count of throttled calls that several threads add to."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def add(self, count: int = 1) -> None:
        with self._lock:
            self.total += count


class ConflictCount(ThrottleCount):
    """A count of writes answered ``ReplicatedWriteConflictException`` and sent again, that several
    threads add to."""


def is_throttle(error: BaseException) -> bool:
    return aws_error_code(error) in THROTTLE_CODES


def is_write_conflict(error: BaseException) -> bool:
    return aws_error_code(error) in WRITE_CONFLICT_CODES


def unretried_client(clients: AwsClients, region: str) -> Any:
    """``clients``' DynamoDB client of ``region`` with boto3's retries off (one attempt a call), for the
    callers that count and back off throttles themselves: same session (profile, credentials), endpoint
    and timeouts as every other client of the run."""
    return clients.client("dynamodb", region, retries=False)
