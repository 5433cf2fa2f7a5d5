"""Throttles and write conflicts: a provisioned table used beyond its capacity answers
``ProvisionedThroughputExceededException`` (or leaves batch items unprocessed); a strongly consistent
(MRSC) global table answers ``ReplicatedWriteConflictException`` to a write on an item that a write from
another region is still modifying ("can be retried and will succeed if the item is no longer being
modified in another Region", AWS's *How global tables work*). The load harness (07) and the conflict
scenarios (08) count each one and back off themselves, through clients with boto3's retries off: boto3's
standard mode would retry both too (the conflict is modelled as retryable), but invisibly, so a slow
figure would not say why."""

from __future__ import annotations

import random
import threading
from typing import Any

from globaltables.clients import AwsClients
from globaltables.waiting import error_code

# AWS's answers to a request beyond capacity or request rate: back off and send again.
THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# An MRSC table's answer to a write racing a write from another region on the same item: retry later.
WRITE_CONFLICT_CODES = frozenset({"ReplicatedWriteConflictException"})


class Backoff:
    """Capped exponential backoff with full jitter: the n-th pause is uniform in [0, min(cap, first * 2^n)]
    (AWS's recommendation for throttles, *Error retries and exponential backoff in AWS*)."""

    def __init__(self, first_s: float = 0.05, cap_s: float = 2.0, rng: random.Random | None = None):
        self.first_s, self.cap_s = first_s, cap_s
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_pause(self) -> float:
        ceiling = min(self.cap_s, self.first_s * 2**self.attempt)
        self.attempt += 1
        return self.rng.uniform(0, ceiling)


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
    return error_code(error) in THROTTLE_CODES


def is_write_conflict(error: BaseException) -> bool:
    return error_code(error) in WRITE_CONFLICT_CODES


def unretried_client(clients: AwsClients, region: str) -> Any:
    """``clients``' DynamoDB client of ``region`` with boto3's retries off (one attempt a call), for the
    callers that count and back off throttles themselves: same session (profile, credentials), endpoint
    and timeouts as every other client of the run."""
    return clients.client("dynamodb", region, retries=False)
