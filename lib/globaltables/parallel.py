"""Run functions in threads together and surface their failures (a thread's exception is otherwise lost)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_together(targets: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
    """Run each (function, arguments) in its own thread; re-raise the first failure after all end."""
    errors: list[BaseException] = []

    def guarded(function: Callable[..., Any], arguments: tuple[Any, ...]) -> None:
        try:
            function(*arguments)
        except BaseException as error:  # handed to the caller below
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(f, a)) for f, a in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
