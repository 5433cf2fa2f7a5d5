"""Stopping a batch run on request: the first Ctrl-C (or SIGTERM) stops after the current cell, a
second one stops at once.

Without this, Python 3.11's ``asyncio.Runner`` (which nbclient runs every cell under) takes SIGINT
for itself and cancels only the cell being executed, and papermill goes on with the next notebook:
a Ctrl-C meant "stop creating billable resources" and the run went on to exit 0. Installing our own
handler first keeps asyncio's off (it installs one only over Python's default handler).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from papermill.engines import NBClientEngine, papermill_engines

from globaltables.errors import RunInterrupted

ENGINE_NAME = "globaltables"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Remembers the first stop signal; the second one raises KeyboardInterrupt where the runner is."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self.at_once = False  # a second signal came: the cell that was running is abandoned

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.event.is_set():
            self.at_once = True
            print(f"\n{name} again: stopping at once.", file=sys.stderr, flush=True)
            raise KeyboardInterrupt(name)
        self.signal_name = name
        self.event.set()
        print(
            f"\n{name}: stopping after the current cell (press Ctrl-C again to stop at once) …",
            file=sys.stderr,
            flush=True,
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Handle SIGINT and SIGTERM while the block runs (main thread only), then restore the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {number: signal.signal(number, self._handle) for number in STOP_SIGNALS}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


class StoppableEngine(NBClientEngine):
    """papermill's nbclient engine, checking for a stop request after every cell."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, stop_request: StopRequest | None = None, **kwargs):
        if stop_request is not None:
            complete = nb_man.cell_complete
            last_index = len(nb_man.nb.cells) - 1
            last_count: list[int | None] = [None]

            def cell_complete(cell, cell_index=None, **more):
                complete(cell, cell_index=cell_index, **more)
                last_count[0] = cell.get("execution_count") or last_count[0]
                # After the last cell the notebook is simply done; the runner stops before the next one.
                if stop_request.requested and cell_index is not None and cell_index < last_index:
                    raise RunInterrupted(stop_request.signal_name or "stop", last_count[0])

            nb_man.cell_complete = cell_complete
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE_NAME, StoppableEngine)
