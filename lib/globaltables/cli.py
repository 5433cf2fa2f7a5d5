"""``python -m globaltables``: run the runbook in batch, serve the embedded AWS, open JupyterLab."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import NoReturn

from globaltables.endpoint import endpoint_answers, port_number
from globaltables.errors import EmbeddedAWSUnavailable
from globaltables.names import new_run_id
from globaltables.params import ParameterError, ParameterProblem, Params, load_params, parse_override, validate_params
from globaltables.state import (
    EMBEDDED_STATE_NAME,
    LATEST_NAME,
    NOTEBOOKS_DIR,
    PROJECT_DIR,
    RunInUse,
    RunLock,
    RunNotFound,
    RunState,
    check_resumable_changes,
    check_run_folder,
    default_outputs_dir,
)
from globaltables.stopping import StopRequest

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
DEFAULT_PARAMS = PROJECT_DIR / "params" / "local.yaml"


def _params_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params",
        help="YAML parameter file (default: params/local.yaml for a new run; a resumed run keeps its recorded values)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter; the value is read as YAML (repeatable)",
    )


class _OneLineErrors(argparse.ArgumentParser):
    """Bad arguments: one ``error:`` line on stderr and exit 2 (subcommands inherit this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def build_parser(embedded_aws_options: bool = True) -> argparse.ArgumentParser:
    """The command line. ``embedded_aws_options``: give ``local`` its replication options, which import the
    embedded AWS (moto, two seconds): only when ``local`` is the command."""
    parser = _OneLineErrors(prog="python -m globaltables", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the notebooks with papermill into outputs/<run-id>/")
    _params_argument(run)
    run.add_argument("--run-id", help="name of the run (default: generated, or the params file's run_id)")
    pick = run.add_mutually_exclusive_group()
    pick.add_argument("--only", help="comma-separated notebook names to run, e.g. 00_setup,02_table_replicas")
    pick.add_argument("--from", dest="start_from", metavar="NOTEBOOK", help="run this notebook and those after it")
    run.add_argument("--outputs", help=f"folder of runs (default: {default_outputs_dir()})")
    run.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help="folder of the notebooks")

    local = commands.add_parser("local", help="run the embedded AWS in the foreground on 127.0.0.1")
    local.add_argument("--port", type=port_number, default=None, help="port, 1 to 65535 (default: any free one)")
    local.add_argument("--verbose", action="store_true", help="log every request")
    if embedded_aws_options:
        from globaltables.local.server import add_replication_arguments

        add_replication_arguments(local)

    clean = commands.add_parser("cleanup", help="remove what a run made (its manifest), or list/remove orphans")
    _params_argument(clean)
    which = clean.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", help="the run whose manifest says what to remove")
    which.add_argument(
        "--all-orphans",
        action="store_true",
        help="list resources tagged by any run of this runbook, in the parameters' regions",
    )
    clean.add_argument("--delete", action="store_true", help="with --all-orphans: remove them too")
    clean.add_argument("--outputs", help=f"folder of runs (default: {default_outputs_dir()})")

    lab = commands.add_parser("lab", help="start the embedded AWS and JupyterLab on 127.0.0.1")
    lab.add_argument(
        "--port", type=port_number, default=8888, help="JupyterLab's port, 1 to 65535 (taken: the next free one)"
    )
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return parser


def _resolve_run_id(requested: str | None, from_params: str | None, start_from: str | None, outputs: Path) -> str:
    if requested or from_params:
        return requested or from_params  # type: ignore[return-value]
    if start_from:
        # Resuming: the latest run in this outputs folder, as a person would expect.
        latest = outputs / LATEST_NAME
        if latest.exists():
            return latest.read_text().strip()
    return new_run_id()


def _run_parameters(
    args: argparse.Namespace, outputs: Path, notebooks: list[Path], first: Path
) -> tuple[Params, RunState | None]:
    """The parameters of this invocation, and the run it continues (None for a new run).

    A new run takes ``--params`` (default params/local.yaml) and ``-p``. A run that already has a
    manifest continues with the values it recorded, then ``--params`` if given, then ``-p``: a resume
    does not silently fall back to other defaults. Raises ParameterError (nothing started yet).
    """
    from globaltables import batch

    overrides = dict(parse_override(text) for text in args.parameter)
    if args.run_id:
        overrides["run_id"] = args.run_id
    given = load_params(args.params or DEFAULT_PARAMS, overrides)
    run_id = _resolve_run_id(args.run_id, given.run_id, args.start_from, outputs)
    check_run_folder(outputs, run_id)
    try:
        earlier = RunState.open(run_id, outputs)
    except RunNotFound:
        earlier = None
    if earlier is None:
        if notebooks[0] != first:
            raise ParameterError(
                [
                    ParameterProblem(
                        key="--from" if args.start_from else "--only",
                        value=notebooks[0].stem,
                        allowed=f"run {run_id!r} has no manifest in {outputs}: there is nothing to resume. "
                        f"Start the run with {first.stem} (python -m globaltables run), or name an earlier "
                        "run with --run-id",
                    )
                ]
            )
        return given.model_copy(update={"run_id": run_id}), None
    values = earlier.params.model_dump()
    if args.params:
        values |= load_params(args.params).model_dump(exclude_unset=True)
    values |= overrides | {"run_id": run_id}
    params = validate_params(values, source=f"run {run_id}")
    reaching: set[str] = set().union(*(batch.notebook_parameters(nb, params.model_dump()) for nb in notebooks))
    check_resumable_changes(earlier, params, reaching)
    return params, earlier


def _command_options(args: argparse.Namespace, endpoint_url: str | None) -> str:
    """Options the printed cleanup and resume commands need to find this run and its AWS again."""
    options = f" --outputs {args.outputs}" if args.outputs else ""
    return options + (f" -p endpoint_url={endpoint_url}" if endpoint_url else "")


def _print_what_exists(outputs: Path, run_id: str, saved_state: Path | None) -> None:
    try:
        resources = RunState.open(run_id, outputs).resources()
    except RunNotFound:
        print("Nothing was recorded: the run stopped before its manifest was written.")
        return
    if not resources:
        print("The run's manifest records no resources: nothing exists.")
        return
    by_kind = Counter(f"{r.kind} ({r.region})" for r in resources)
    print(f"What exists now ({len(resources)} resources recorded in {outputs / run_id / 'state.json'}):")
    for kind, count in sorted(by_kind.items()):
        print(f"  {count} × {kind}")
    if saved_state is not None:
        print(
            f"They live in the embedded AWS's saved state, {saved_state}: resume or clean up with the commands above."
        )


def _save_embedded_state(server, path: Path) -> None:
    """Save the embedded AWS's state for a later resume or cleanup; a failure is said, not raised (the
    previous saved state, if any, stays in place)."""
    try:
        server.admin.save_state(path)
    except Exception as error:  # the run's own outcome matters more than this file
        print(f"warning: the embedded AWS's state could not be saved to {path}: {error}", file=sys.stderr, flush=True)


def command_run(args: argparse.Namespace) -> int:
    # Here, not at the top: papermill and Jupyter's client take a second to import, and cleanup needs neither.
    from globaltables import batch

    outputs = Path(args.outputs) if args.outputs else default_outputs_dir()
    try:
        available = batch.list_notebooks(Path(args.notebooks))
        if not available:
            raise ParameterError(
                [ParameterProblem(key="--notebooks", value=args.notebooks, allowed="no NN_name.ipynb notebooks there")]
            )
        only = args.only.split(",") if args.only else None
        notebooks = batch.select_notebooks(available, only=only, start_from=args.start_from)
        params, earlier = _run_parameters(args, outputs, notebooks, available[0])
        lock = RunLock(outputs / params.run_id).acquire()
    except (ParameterError, RunInUse) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with StopRequest().installed() as stop:
            return _run_with_target(args, params, earlier, notebooks, outputs, stop)
    except EmbeddedAWSUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        lock.release()


def _start_target(params: Params, earlier: RunState | None, saved_state: Path):
    """The endpoint the run's notebooks use, and the embedded AWS this process started for it (None when
    the target is AWS or an embedded AWS someone else runs). Raises EmbeddedAWSUnavailable when the run's
    resources live in an embedded AWS that can be neither restored nor reached."""
    run_id, endpoint = params.run_id, params.endpoint_url
    if params.target == "local" and not endpoint:
        from globaltables.local import EmbeddedAWS

        restore = saved_state if saved_state.exists() else None
        if earlier is not None and earlier.resources() and restore is None:
            raise EmbeddedAWSUnavailable(
                f"run {run_id!r} made {len(earlier.resources())} resources in an embedded AWS that stopped "
                f"without saving its state ({saved_state} is missing), so there is nothing to resume on: "
                "start a new run (those resources went with that embedded AWS)"
            )
        server = EmbeddedAWS(restore_from=restore)
        endpoint = server.start()
        print(f"Embedded AWS on {endpoint}" + (f", restored from {restore}" if restore else ""), flush=True)
        return endpoint, server
    if endpoint and not endpoint_answers(endpoint):
        raise EmbeddedAWSUnavailable(
            f"no embedded AWS answers at {endpoint} (endpoint_url of run {run_id!r}): start it again, "
            "or pass -p endpoint_url=URL of the one that holds the run's resources"
        )
    print(f"Target: {params.target}" + (f" at {endpoint}" if endpoint else ""), flush=True)
    return endpoint, None


def _show_progress(event: str, entry) -> None:
    if event == "start":
        print(f"▶ {entry.name} …", flush=True)
    else:
        mark = "✔" if entry.status == "ok" else "✘"
        print(f"{mark} {entry.name} {entry.status} in {entry.seconds:.1f}s", flush=True)


def _run_with_target(args, params: Params, earlier: RunState | None, notebooks, outputs: Path, stop) -> int:
    from globaltables import batch

    run_id = params.run_id
    saved_state = outputs / run_id / EMBEDDED_STATE_NAME
    endpoint, server = _start_target(params, earlier, saved_state)

    def save_state(_entry=None) -> None:
        # After every notebook: a run killed later still resumes from the last notebook's end.
        if server is not None:
            _save_embedded_state(server, saved_state)

    if earlier is not None:
        earlier.update_params(params)
    try:
        result = batch.run_notebooks(
            params,
            run_id,
            outputs,
            notebooks,
            endpoint=endpoint,
            on_event=_show_progress,
            stop_request=stop,
            after_notebook=save_state,
        )
    finally:
        if server:
            save_state()
            server.stop()
    options = _command_options(args, params.endpoint_url)
    print()
    print("\n".join(batch.summary_lines(result, command_options=options)))
    if result.interrupted:
        _print_what_exists(outputs, run_id, saved_state if server else None)
        return EXIT_INTERRUPTED
    return 0 if result.ok else EXIT_FAILED


def _print_steps(step) -> None:
    print(f"  {step.outcome:<34} {step.kind:<40} {step.name} ({step.region})", flush=True)


def command_cleanup(args: argparse.Namespace) -> int:
    import tempfile

    from globaltables import cleanup
    from globaltables.clients import AwsClients
    from globaltables.endpoint import EndpointNotFound

    if args.run_id:
        return _cleanup_run(args)
    try:
        params = load_params(args.params or DEFAULT_PARAMS, dict(parse_override(text) for text in args.parameter))
        clients = AwsClients.for_params(params)
    except (ParameterError, EndpointNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    found = cleanup.orphans(clients, params.regions)
    if not found:
        print(f"No resource tagged by this runbook in {', '.join(params.regions)}.")
        return 0
    for run_id, leftovers in sorted(found.items()):
        print(f"run {run_id}:")
        for left in leftovers:
            print(f"  {left.service:<10} {left.region:<15} {left.name} {left.note}")
    if not args.delete:
        print("Add --delete to remove them.")
        return 0
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        for run_id, leftovers in sorted(found.items()):
            print(f"Removing what run {run_id} left:")
            try:
                cleanup.remove_orphan_run(clients, params.regions, run_id, leftovers, scratch, on_step=_print_steps)
            except cleanup.CleanupIncomplete as error:
                print(f"error: {error}", file=sys.stderr)
                failed = True
    return EXIT_FAILED if failed else 0


def _cleanup_run(args: argparse.Namespace) -> int:
    """``cleanup --run-id``: remove what the run's manifest records, on the AWS that holds it.

    A run whose embedded AWS was started by the batch run itself lives on in its saved state: an
    embedded AWS is restored from it for the cleanup, and saves the state again afterwards.
    """
    from globaltables import cleanup
    from globaltables.clients import AwsClients
    from globaltables.endpoint import EndpointNotFound

    outputs = Path(args.outputs) if args.outputs else default_outputs_dir()
    try:
        overrides = dict(parse_override(text) for text in args.parameter)
        check_run_folder(outputs, args.run_id)
        lock = RunLock(outputs / args.run_id, "a cleanup").acquire()
    except (ParameterError, RunInUse) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    server = None
    try:
        run = RunState.open(args.run_id, outputs)
        params = run.params.with_overrides(**overrides) if overrides else run.params
        saved_state = run.folder / EMBEDDED_STATE_NAME
        if params.target == "local" and not params.endpoint_url and saved_state.exists():
            from globaltables.local import EmbeddedAWS

            server = EmbeddedAWS(restore_from=saved_state)
            clients = AwsClients("local", server.start())
            print(f"Embedded AWS restored from {saved_state} on {server.endpoint}")
        else:
            clients = AwsClients.for_params(params)
        run.manifest.params = params
        print(f"Cleanup of run {run.run_id} ({params.target}): {len(run.resources())} resources in the manifest")
        try:
            cleanup.run_cleanup(clients, run, on_step=_print_steps, by="the cleanup command")
        except cleanup.CleanupIncomplete as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_FAILED
        left = [row for row in cleanup.verification_rows(clients, run) if row["still there"] != "nothing"]
        for row in left:
            print(f"  still there: {row['region']} {row['service']}: {row['still there']}")
        print("Nothing left." if not left else f"{len(left)} services still hold resources of this run.")
        return 0 if not left else EXIT_FAILED
    except (ParameterError, RunNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except EndpointNotFound as error:
        print(
            f"error: {error}\nThe embedded AWS holds a run's resources only while it runs: a run made by a "
            "stopped embedded AWS that saved no state left nothing behind.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    finally:
        if server is not None:
            _save_embedded_state(server, saved_state)
            server.stop()
        lock.release()


def command_local(args: argparse.Namespace) -> int:
    from globaltables.local.server import announcement_problem, serve, settings_from

    try:
        settings = settings_from(args)
    except ValueError as error:
        print(f"error: --replication-delay: {error}", file=sys.stderr)
        return EXIT_USAGE
    problem = announcement_problem()  # before serving: no half-started server
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    refused = _listen_error(args.port) if args.port else None
    if refused:  # werkzeug would print two lines of its own and exit 1
        print(
            f"error: --port {args.port}: cannot listen on 127.0.0.1:{args.port} ({refused.strerror}); "
            "choose another port, or leave --port out for any free one",
            file=sys.stderr,
        )
        return EXIT_USAGE
    serve(args.port or 0, announce_endpoint=True, banner=True, verbose=args.verbose, settings=settings)
    return 0


def _listen_error(port: int) -> OSError | None:
    """Why a server could not listen on 127.0.0.1:``port`` now (in use, not allowed), or None."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug's and JupyterLab's listeners do
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error
    return None


def _lab_port(asked: int, tries: int = 50) -> int | None:
    """``asked`` if JupyterLab can listen there on 127.0.0.1, else the next free port (None: none free)."""
    return next((port for port in range(asked, min(asked + tries, 65536)) if not _listen_error(port)), None)


def command_lab(args: argparse.Namespace) -> int:
    from globaltables.local import EmbeddedAWS
    from globaltables.local.server import announcement_problem

    problem = announcement_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    with EmbeddedAWS(announce=True) as server:
        # Chosen here, and JupyterLab told not to move on: the URL printed is the one it serves.
        port = _lab_port(args.port)
        if port is None:
            last = min(args.port + 49, 65535)
            print(f"error: --port {args.port}: ports {args.port} to {last} are all in use", file=sys.stderr)
            return EXIT_USAGE
        if port != args.port:
            print(f"Port {args.port} is in use; JupyterLab takes {port}, the next free one.", flush=True)
        print(f"Embedded AWS on {server.endpoint}; starting JupyterLab on http://127.0.0.1:{port}", flush=True)
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={PROJECT_DIR}",
            "--LabApp.default_url=/lab/tree/notebooks/00_setup.ipynb",
        ]
        if args.no_browser:
            command.append("--no-browser")
        if os.geteuid() == 0:  # containers and CI machines often run as root; JupyterLab refuses without this
            command.append("--allow-root")
        try:
            return subprocess.call(command, env={**os.environ, **server.environment})
        except KeyboardInterrupt:
            return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(embedded_aws_options=argv[:1] == ["local"]).parse_args(argv)
    handlers = {"run": command_run, "local": command_local, "lab": command_lab, "cleanup": command_cleanup}
    return handlers[args.command](args)
