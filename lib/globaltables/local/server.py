"""The embedded AWS process: ``python -m globaltables.local.server [--port N] [--announce] [--restore PATH]``.

Binds 127.0.0.1 only. Prints one line ``READY <endpoint>`` on stdout once it accepts requests,
then serves until SIGTERM or SIGINT. With ``--restore`` it first loads a snapshot written by
``POST /_globaltables/state`` (see ``snapshot.py``); one it cannot load makes it print one line
``ERROR <reason>`` and exit with status 3.

Served by waitress: HTTP/1.1 connections kept alive (werkzeug's dev server, which moto's own
``moto_server`` uses, answers ``Connection: close``, so every call paid for a new loopback connection)
and a bounded pool of ``--threads`` request threads. waitress reads a whole request (spilling a large
body to a temporary file) before a thread takes it, and writes the answer from its own loop, so a
slow or vanished client never holds a thread. Requests reach moto through ``dispatch.Dispatcher``
(moto's dispatcher, with the per-request work it repeated done once; see ``dispatch.py``).

| hook | why there |
|---|---|
| waitress's ``WSGITask.write`` (a subclass, ``OneSendTask``, through the server's ``channel_class``) | waitress sends each piece as it is written: a small answer went out in two ``send`` calls, header then body; the header now waits for the first body chunk and they go out in one (the same bytes) |
| ``LambdaFunction._invoke_lambda`` (already the function executor's, ``functions/hooks.py``) | a handler calls back into this server while the request that runs it (Invoke, or a write whose stream feeds the function) holds a thread: while it runs, the pool has one thread more, so ``--threads`` concurrent invocations cannot wait for each other's threads |
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends
from moto.moto_server.werkzeug_app import create_backend_app
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ThreadedTaskDispatcher, WSGITask

from globaltables.endpoint import HOME_ENV, announcement_path, port_number
from globaltables.local import extensions, snapshot
from globaltables.local.admin import AdminMiddleware
from globaltables.local.dispatch import Dispatcher
from globaltables.local.faults import OutageMiddleware
from globaltables.local.replication import DelayDistribution
from globaltables.local.replication.models import Timing
from globaltables.local.snapshot import SnapshotError
from globaltables.local.unknown import UnknownRequests

LOOPBACK = "127.0.0.1"
RESTORE_FAILED = 3
# Enough for the runbook's 8 writer threads per region, replication's and Lambda's callbacks, and a
# notebook polling beside them; more only adds contention for the GIL on a 2-core machine.
DEFAULT_THREADS = 12
THREADS_ENV = "GLOBALTABLES_SERVER_THREADS"
# boto3 keeps up to 64 connections a client and a run has a client per service and region; idle
# ones are closed after CHANNEL_TIMEOUT_S (boto3 notices and reconnects). poll(), not select(): no
# 1,024-descriptor ceiling.
SERVER_SETTINGS: dict[str, Any] = {
    "connection_limit": 1000,
    "channel_timeout": 60,
    "asyncore_use_poll": True,
    "ident": "globaltables-embedded-aws",
}
# CPython's default (700, 10, 10) ran a young collection every 700 container allocations: every
# few writes (a write allocates a few hundred: the parsed request, the item's values, its stream
# record, the replicated copies, nearly all freed by reference counting). Chosen by the seeding
# benchmark (10,000 items, 3 regions; one run each on a shared 2-core machine): 700 gave 5.45x,
# 10,000 6.37x, 50,000 8.55x, each with the server's peak RSS at 544 MB: what waits for a young
# collection is at most this many containers.
GC_THRESHOLDS = (50_000, 20, 20)
WORKER_THREAD_PREFIX = "waitress-"  # how waitress names its request threads
ACCESS_LOG = logging.getLogger("globaltables.local.server")


def build_app(settings: extensions.Settings | None = None) -> AdminMiddleware:
    model = extensions.install(settings)
    app = AdminMiddleware(OutageMiddleware(UnknownRequests(Dispatcher(create_backend_app)), model))
    extensions.register_admin_routes(app)
    return app


class RequestThreads:
    """waitress's request threads: ``threads`` of them, plus one for each Lambda handler running.

    ``GET /_globaltables/server`` reports them: ``threads`` (the setting), ``lent`` (handlers
    running now) and ``workers`` (request threads alive)."""

    def __init__(self, dispatcher: ThreadedTaskDispatcher, threads: int):
        self.dispatcher = dispatcher
        self.threads = threads
        self.lent = 0
        self._lock = threading.Lock()

    @contextmanager
    def lend_one(self) -> Iterator[None]:
        with self._lock:
            self.lent += 1
            self.dispatcher.set_thread_count(self.threads + self.lent)
        try:
            yield
        finally:
            with self._lock:
                self.lent -= 1
                self.dispatcher.set_thread_count(self.threads + self.lent)

    def describe(self) -> dict[str, int]:
        workers = sum(1 for thread in threading.enumerate() if thread.name.startswith(WORKER_THREAD_PREFIX))
        return {"threads": self.threads, "lent": self.lent, "workers": workers}

    def admin_route(self, environ: dict[str, Any], body: bytes) -> tuple[int, Any]:
        return 200, self.describe()


class _HeldWrites:
    """A channel stand-in that keeps what a task writes; anything else is the channel's."""

    def __init__(self, channel: HTTPChannel):
        self.channel = channel
        self.pieces: list[Any] = []

    def write_soon(self, data: Any) -> int:
        self.pieces.append(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)


class OneSendTask(WSGITask):
    """waitress's task, sending the header and the first body chunk in one piece.

    waitress hands each to the socket as it is written (``send_bytes`` 1): a small answer went out
    in two ``send`` calls, the header alone, then the body. The bytes are the same."""

    def write(self, data: Any) -> None:
        if self.wrote_header or not data:
            super().write(data)
            return
        channel = self.channel
        held = _HeldWrites(channel)
        self.channel = held  # type: ignore[assignment]
        try:
            super().write(data)
        finally:
            self.channel = channel
        if all(isinstance(piece, bytes) for piece in held.pieces):
            channel.write_soon(b"".join(held.pieces))
        else:
            for piece in held.pieces:
                channel.write_soon(piece)


class OneSendChannel(HTTPChannel):
    task_class = OneSendTask


def lend_threads_while_functions_run(pool: RequestThreads) -> None:
    """Wrap the function executor's hook (see the module docstring); once per process."""
    run = LambdaFunction._invoke_lambda

    @functools.wraps(run)  # keeps the executor hook's marker: installing it again does not unwrap this
    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        with pool.lend_one():
            return run(self, event)

    LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]


def logging_requests(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """``--verbose``: one log line per request (method, path, status), as werkzeug's server printed."""

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            ACCESS_LOG.info("%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), status)
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return logged


def serve_until(server: Any, connections: dict[int, Any], stop: threading.Event) -> None:
    """waitress's loop, one poll at a time, until ``stop`` is set (``server.pull_trigger()`` wakes it)."""
    while not stop.is_set():
        wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, use_poll=True, map=connections, count=1)


def announce(endpoint: str) -> None:
    from globaltables.state import write_atomically

    write_atomically(announcement_path(), json.dumps({"endpoint": endpoint, "pid": os.getpid()}) + "\n")


def withdraw_announcement() -> None:
    path = announcement_path()
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    if record.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def settle_memory() -> None:
    """Build what the first requests would, move it out of the collector's reach, collect the young less often.

    The account's IAM backend of the ``aws`` partition (the runbook's regions are all there) holds
    the AWS managed policies; with moto's modules and the extensions that is many long-lived objects,
    which every full collection walked again: a profile found collections a third of the time a
    replicated delivery took. They are made here, as the first IAM request would have made them, and
    ``gc.freeze`` puts them in the permanent generation, never walked again (they live as long as
    the process anyway). Other partitions' backends are made only when used (``accounts``). What
    requests create is still collected, by the same generations, a full collection still running
    once the old generation has grown by a quarter: memory stays bounded by what the tables hold."""
    iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(
    port: int = 0,
    announce_endpoint: bool = False,
    banner: bool = False,
    verbose: bool = False,
    settings: extensions.Settings | None = None,
    exit_with_parent: bool = False,
    restore_from: str | None = None,
    threads: int = DEFAULT_THREADS,
) -> None:
    # waitress warns of every queued request; under load that would fill the parent's pipe.
    logging.getLogger("waitress.queue").setLevel(logging.INFO if verbose else logging.ERROR)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    # A snapshot that cannot be loaded fails the start before the extensions are installed.
    loaded = snapshot.read(restore_from) if restore_from else None
    read_s = time.monotonic() - started
    app = build_app(settings)
    if loaded is not None:
        _restore(loaded, restore_from, read_s)
    connections: dict[int, Any] = {}
    server = _create(app, connections, port, threads, verbose)
    endpoint = f"http://{LOOPBACK}:{server.effective_port}"
    extensions.set_endpoint(endpoint)
    settle_memory()  # after start-up and a restored snapshot, before the first request
    stop = threading.Event()
    wake_read, wake_write = _stop_on_signals()
    if exit_with_parent:
        _exit_with_parent(stop, wake_write)
    thread = threading.Thread(target=serve_until, args=(server, connections, stop), name="embedded-aws", daemon=True)
    thread.start()
    if announce_endpoint:
        announce(endpoint)
    print(f"READY {endpoint}", flush=True)
    if banner:
        print(
            f"Embedded AWS listening on {endpoint} (loopback only).\n"
            f"Notebooks find it through {announcement_path()}; or export GLOBALTABLES_ENDPOINT={endpoint}\n"
            "Press Ctrl-C to stop it (its state goes with it).",
            flush=True,
        )
    try:
        os.read(wake_read, 1)  # a signal, or the parent gone
    finally:
        if announce_endpoint:
            withdraw_announcement()
        stop.set()
        server.pull_trigger()
        thread.join(timeout=10)
        # The loop has ended: no new request starts. Requests in flight get a moment to finish;
        # the process ends after this, and its daemon threads with it.
        server.task_dispatcher.shutdown(timeout=2)
        wasyncore.close_all(connections)


def _restore(loaded: Any, restore_from: str | None, read_s: float) -> None:
    """Before the port opens: no request sees a half-restored state. The snapshot's replication settings
    and faults replace the command line's; the endpoint is this server's (set after)."""
    started = time.monotonic()
    extensions.restore(loaded)
    print(
        f"RESTORED {restore_from} ({loaded[0]['payload_bytes']} bytes): read {read_s:.2f}s, "
        f"applied {time.monotonic() - started:.2f}s",
        flush=True,
    )


def _create(app: Any, connections: dict[int, Any], port: int, threads: int, verbose: bool) -> Any:
    """The waitress server on the loopback, its request threads lent to Lambda handlers that call back."""
    server = create_server(
        logging_requests(app) if verbose else app,
        map=connections,
        host=LOOPBACK,
        port=port,
        ipv6=False,
        threads=threads,
        **SERVER_SETTINGS,
    )
    server.channel_class = OneSendChannel  # read at each accepted connection
    pool = RequestThreads(server.task_dispatcher, threads)
    lend_threads_while_functions_run(pool)
    app.route("GET", "server", pool.admin_route)
    return server


def _stop_on_signals() -> tuple[int, int]:
    """A pipe whose read end the main thread waits on; SIGTERM and SIGINT write to it.

    A signal handler runs in the main thread between two bytecodes, possibly while that thread holds
    the lock inside ``stop.wait()``: calling ``stop.set()`` there (which takes the same lock)
    deadlocked a server that got SIGTERM just as it began to wait. The handler only writes a byte to
    a pipe (no lock); the main thread reads it and sets ``stop`` itself."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)  # a storm of signals must not block the handler on a full pipe

    def _stop(signum: int, frame: Any) -> None:
        with suppress(BlockingIOError):
            os.write(wake_write, b"s")

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return wake_read, wake_write


def _exit_with_parent(stop: threading.Event, wake_write: int) -> None:
    """Started by a batch run or `lab`: if that process dies (even by SIGKILL), this one must not linger."""
    parent = os.getppid()

    def watch_parent() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent:
                os.write(wake_write, b"p")
                return

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()


def add_replication_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = extensions.Settings.from_environment()
    parser.add_argument(
        "--replication-delay",
        default=defaults.replication_delay,
        help="replication delay in ms: MS, fixed:MS, uniform:LOW:HIGH or lognormal:MEDIAN:SIGMA "
        f"(default {defaults.replication_delay}; env {extensions.DELAY_ENV})",
    )
    parser.add_argument(
        "--replica-transition",
        type=float,
        default=defaults.replica_transition_s,
        help="seconds a replica stays CREATING or DELETING and a synchronised setting takes to reach every "
        f"replica (default: the timing's, {extensions.DEFAULT_TRANSITION_S} for fast; env {extensions.TRANSITION_ENV})",
    )
    parser.add_argument(
        "--timing",
        type=timing_text,
        default=defaults.timing,
        help="how long tables take to be created and deleted, replicas to be added and removed, settings to "
        "synchronise: fast (at once; replicas 2 s) or realistic (tens of seconds, as a small table on AWS), "
        f"optionally with ,KEY=SECONDS overrides (default {defaults.timing}; env {extensions.TIMING_ENV})",
    )


def timing_text(text: str) -> str:
    """``--timing``'s type: a timing ``Timing.parse`` accepts, kept as text."""
    try:
        Timing.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def thread_count(text: str) -> int:
    """``--threads``'s type: 1 to 256 request threads."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a thread count: give 1 to 256")
    return count


def port_or_zero(text: str) -> int:
    return port_number(text, lowest=0)


def announcement_problem() -> str | None:
    """Why the endpoint cannot be announced (one line naming the file and the fix), or None.

    Checked before serving, so a server that cannot announce itself never starts half-way."""
    path = announcement_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as error:
        return (
            f"cannot write {path}, where notebooks find the embedded AWS ({error.strerror or error}): "
            f"set {HOME_ENV} to a writable folder"
        )
    return None


def settings_from(args: argparse.Namespace) -> extensions.Settings:
    DelayDistribution.parse(args.replication_delay)  # refuse a bad value before serving
    return extensions.Settings(args.replication_delay, args.replica_transition, args.timing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m globaltables.local.server", description=__doc__)
    parser.add_argument("--port", type=port_or_zero, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--announce", action="store_true", help="write the endpoint where notebooks look for it")
    parser.add_argument("--banner", action="store_true", help="print a human-readable banner")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--threads",
        type=thread_count,
        default=thread_count(os.environ.get(THREADS_ENV, str(DEFAULT_THREADS))),
        help=f"request threads (one more while each Lambda handler runs; default {DEFAULT_THREADS}; env {THREADS_ENV})",
    )
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the starting process ends")
    parser.add_argument(
        "--restore",
        metavar="PATH",
        help="load this snapshot (written by POST /_globaltables/state) before serving; its replication "
        "settings and faults replace the flags'",
    )
    add_replication_arguments(parser)
    args = parser.parse_args(argv)
    problem = announcement_problem() if args.announce else None
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        serve(
            args.port,
            args.announce,
            args.banner,
            args.verbose,
            settings_from(args),
            args.exit_with_parent,
            restore_from=args.restore,
            threads=args.threads,
        )
    except SnapshotError as error:
        print(f"ERROR cannot restore the embedded AWS: {error}", file=sys.stderr, flush=True)
        return RESTORE_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
