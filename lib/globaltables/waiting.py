"""The one bounded polling helper, for what AWS has no waiter for (replica status, replication)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """A resource did not reach the awaited state in time; carries what was last seen."""

    def __init__(self, what: str, timeout_s: float, last_seen: Any):
        self.what = what
        self.timeout_s = timeout_s
        self.last_seen = last_seen
        super().__init__(
            f"{what}: not reached within {timeout_s:g} s; last seen: {last_seen}. "
            "Check the resource in the console or describe it, then rerun this step (it resumes where it stopped)."
        )


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
