"""What this project adds to moto. Each extension is installed once, before the server starts.

Each hooks moto at the narrowest point and checks that the hook is still there (see
``replication/hooks.py``); moto is pinned to the version they were written against.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import moto

from globaltables.local.replication import DelayDistribution, GlobalTables
from globaltables.local.replication.models import Timing

if TYPE_CHECKING:
    from globaltables.local.admin import AdminMiddleware

# The version every hook was written against; pyproject pins the same one.
MOTO_VERSION = "5.2.5"

DELAY_ENV = "GLOBALTABLES_REPLICATION_DELAY"
TRANSITION_ENV = "GLOBALTABLES_REPLICA_TRANSITION_S"
TIMING_ENV = "GLOBALTABLES_TIMING"
DEFAULT_DELAY = "lognormal:250:0.5"
DEFAULT_TRANSITION_S = 0.5  # the ``fast`` timing's replica transitions
DEFAULT_TIMING = "fast"


class MotoHookMissing(RuntimeError):
    """moto changed under a hook: the pinned version was not installed, or an upgrade moved it."""


@dataclass
class Settings:
    """``timing``: ``fast`` or ``realistic`` (``Timing.parse``); ``replica_transition_s``, when set,
    replaces the timing's replica and synchronisation durations."""

    replication_delay: str = DEFAULT_DELAY
    replica_transition_s: float | None = None
    timing: str = DEFAULT_TIMING

    @classmethod
    def from_environment(cls) -> Settings:
        transition = os.environ.get(TRANSITION_ENV)
        return cls(
            replication_delay=os.environ.get(DELAY_ENV, DEFAULT_DELAY),
            replica_transition_s=float(transition) if transition else None,
            timing=os.environ.get(TIMING_ENV, DEFAULT_TIMING),
        )


GLOBAL_TABLES: GlobalTables | None = None


def check_moto_version() -> None:
    if moto.__version__ != MOTO_VERSION:
        raise MotoHookMissing(
            f"the embedded AWS extends moto {MOTO_VERSION} but moto {moto.__version__} is installed; "
            "reinstall the project (make setup) or port the extensions in globaltables/local/"
        )


def check_hooks() -> None:
    from globaltables.local import accounts, alarms, capacity, dispatch, items, paging, snapshot
    from globaltables.local.backup import responses as backup_hooks
    from globaltables.local.functions import hooks as function_hooks
    from globaltables.local.replication import hooks as replication_hooks

    missing = (
        replication_hooks.missing_hooks()
        + function_hooks.missing_hooks()
        + backup_hooks.missing_hooks()
        + snapshot.missing_hooks()
        + paging.missing_hooks()
        + capacity.missing_hooks()
        + dispatch.missing_hooks()
        + items.missing_hooks()
        + accounts.missing_hooks()
        + alarms.missing_hooks()
    )
    if missing:
        raise MotoHookMissing(f"moto {moto.__version__} lacks what the embedded AWS hooks: {', '.join(missing)}")


def install(settings: Settings | None = None) -> GlobalTables:
    """Apply every extension to moto (idempotent) and return the global-tables model."""
    global GLOBAL_TABLES
    if GLOBAL_TABLES is not None:
        return GLOBAL_TABLES
    check_moto_version()
    check_hooks()
    # AWS managed policies (AWS Backup's service-role policies among them) exist in every account.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    from globaltables.local import accounts, alarms, capacity, dispatch, items, paging
    from globaltables.local.backup import responses as backup_responses
    from globaltables.local.functions import hooks as function_hooks
    from globaltables.local.replication import hooks

    settings = settings or Settings.from_environment()
    model = GlobalTables(
        DelayDistribution.parse(settings.replication_delay),
        settings.replica_transition_s,
        timing=Timing.parse(settings.timing),
    )
    hooks.install(model)
    function_hooks.install()
    backup_responses.install()
    capacity.install(model)  # after the replication hooks: a throttled call reaches none of them
    paging.install()  # after the backup extension: it pages that extension's list calls too
    items.install()
    accounts.install()
    alarms.install()  # CloudWatch alarms evaluated on moto's metric data
    dispatch.install()  # last: it remembers the handler methods the extensions above added
    model.start()
    GLOBAL_TABLES = model
    return model


def set_endpoint(endpoint: str) -> None:
    """Where the server listens: Lambda functions it runs call back to it there."""
    from globaltables.local.functions.executor import EmbeddedLambda

    EmbeddedLambda.endpoint = endpoint


def register_admin_routes(app: AdminMiddleware) -> None:
    from globaltables.local import snapshot
    from globaltables.local.faults import admin_routes

    assert GLOBAL_TABLES is not None, "install() first"
    routes = {**admin_routes(GLOBAL_TABLES), **snapshot.admin_routes(GLOBAL_TABLES, app.gate)}
    for (method, name), handler in routes.items():
        app.route(method, name, handler)


def restore(loaded: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """Put a snapshot (``globaltables.local.snapshot.read``'s answer) into moto and the installed extensions."""
    from globaltables.local import alarms, snapshot

    assert GLOBAL_TABLES is not None, "install() first"
    restored = snapshot.restore(loaded, GLOBAL_TABLES)
    alarms.wake()  # the restored alarms are evaluated from now on
    return restored
