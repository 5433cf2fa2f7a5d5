"""Progress bars: a widget in JupyterLab, plain text in batch runs (a widget's state would be lost in
the executed notebook and the report, which would show a bar stuck at 0 %)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

# Set by the batch runner for its notebook kernels: widgets show but never wait for a person, and
# progress bars are text.
BATCH_ENV = "GLOBALTABLES_BATCH"


def in_batch() -> bool:
    """True inside a papermill run started by ``python -m globaltables run``."""
    return os.environ.get(BATCH_ENV) == "1"


def progress(iterable: Iterable[Any] | None = None, **options: Any) -> Any:
    """``tqdm`` over ``iterable`` (or a manual bar with ``total=``), suited to where it runs."""
    if in_batch():
        from tqdm.std import tqdm

        options.setdefault("file", sys.stdout)
        options.setdefault("mininterval", 5.0)
        options.setdefault("ascii", True)
        return tqdm(iterable, **options)
    from tqdm.auto import tqdm

    return tqdm(iterable, **options)
