"""The one check every extension makes of what it patches in moto: each pinned attribute still there."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def absent(hooks: Iterable[tuple[Any, str]]) -> list[str]:
    """``Owner.name`` of each pinned (owner, name) that is no longer a callable of its owner."""
    return [f"{owner.__name__}.{name}" for owner, name in hooks if not callable(getattr(owner, name, None))]
