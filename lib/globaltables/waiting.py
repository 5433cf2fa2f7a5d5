"""The bounded polling helper, for what AWS has no waiter for (replica status, replication), and the
bounded retry for the races AWS documents."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from globaltables.errors import WaitTimeout, aws_error_code

T = TypeVar("T")


def wait_until(
    probe: Callable[[], tuple[bool, T]],
    what: str,
    timeout_s: float,
    interval_s: float,
    on_poll: Callable[[T], None] | None = None,
    show: Callable[[T], Any] = repr,
) -> T:
    """Call ``probe`` until it answers ``(True, state)``; returns that state.

    ``probe`` returns ``(done, state)``; ``state`` is shown in the timeout error and passed to
    ``on_poll`` (for progress display) at each poll. Raises WaitTimeout after ``timeout_s``, with
    ``show(state)`` as what was last seen.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        done, state = probe()
        if on_poll:
            on_poll(state)
        if done:
            return state
        if time.monotonic() >= deadline:
            raise WaitTimeout(what, timeout_s, show(state))
        time.sleep(interval_s)


def retry_on_codes(
    call: Callable[[], T],
    codes: set[str] | frozenset[str],
    timeout_s: float,
    first_delay_s: float = 0.2,
    max_delay_s: float = 10.0,
    on_retry: Callable[[str, float], None] | None = None,
) -> T:
    """``call()``, retried while it fails with one of AWS's error ``codes`` (races AWS documents: a
    table still UPDATING, PITR not yet available, a new role not yet usable), with capped exponential
    backoff and full jitter, for at most ``timeout_s``; then the last error is raised.
    ``on_retry(code, delay_s)`` is told of each retry (to show it)."""
    deadline = time.monotonic() + timeout_s
    delay = first_delay_s
    while True:
        try:
            return call()
        except Exception as error:
            code = aws_error_code(error)
            if code not in codes or time.monotonic() + delay > deadline:
                raise
            pause = random.uniform(delay / 2, delay)
            if on_retry:
                on_retry(code, pause)
            time.sleep(pause)
            delay = min(max_delay_s, delay * 2)
