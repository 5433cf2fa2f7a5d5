"""What this project adds to moto. Each extension is installed once, before the server starts.

Later extensions (global-table replicas and replication, Lambda execution, backup selections)
register here; each hooks moto at the narrowest point and checks that the hook is still there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import moto

if TYPE_CHECKING:
    from globaltables.local.admin import AdminMiddleware

# The version every hook below was written against; pyproject pins the same one.
MOTO_VERSION = "5.2.5"

_installed = False


class MotoHookMissing(RuntimeError):
    """moto changed under a hook: the pinned version was not installed, or an upgrade moved it."""


def check_moto_version() -> None:
    if moto.__version__ != MOTO_VERSION:
        raise MotoHookMissing(
            f"the embedded AWS extends moto {MOTO_VERSION} but moto {moto.__version__} is installed; "
            "reinstall the project (make setup) or port the extensions in globaltables/local/"
        )


def install() -> None:
    """Apply every extension to moto (idempotent)."""
    global _installed
    if _installed:
        return
    check_moto_version()
    _installed = True


def register_admin_routes(app: AdminMiddleware) -> None:
    """Admin routes of the extensions (fault switches and the like) go here."""
