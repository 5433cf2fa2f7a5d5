"""``python -m globaltables``: run the runbook in batch, serve the embedded AWS, open JupyterLab."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from globaltables.batch import (
    NOTEBOOKS_DIR,
    PROJECT_DIR,
    list_notebooks,
    run_notebooks,
    select_notebooks,
    summary_lines,
)
from globaltables.names import new_run_id
from globaltables.params import ParameterError, load_params, parse_override
from globaltables.state import LATEST_NAME, default_outputs_dir

EXIT_FAILED, EXIT_USAGE = 1, 2


def _params_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default=str(PROJECT_DIR / "params" / "local.yaml"), help="YAML parameter file")
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter; the value is read as YAML (repeatable)",
    )


def add_replication_arguments(parser: argparse.ArgumentParser) -> None:
    from globaltables.local.server import add_replication_arguments as add

    add(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m globaltables", description=__doc__)
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
    local.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    local.add_argument("--verbose", action="store_true", help="log every request")
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
    lab.add_argument("--port", type=int, default=8888, help="JupyterLab's port")
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


def command_run(args: argparse.Namespace) -> int:
    try:
        overrides = dict(parse_override(text) for text in args.parameter)
        if args.run_id:
            overrides["run_id"] = args.run_id
        params = load_params(args.params, overrides)
        notebooks = select_notebooks(
            list_notebooks(Path(args.notebooks)),
            only=args.only.split(",") if args.only else None,
            start_from=args.start_from,
        )
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not notebooks:
        print(f"error: no notebooks found in {args.notebooks}", file=sys.stderr)
        return EXIT_USAGE
    outputs = Path(args.outputs) if args.outputs else default_outputs_dir()
    run_id = _resolve_run_id(args.run_id, params.run_id, args.start_from, outputs)
    params = params.model_copy(update={"run_id": run_id})

    def show(event: str, entry) -> None:
        if event == "start":
            print(f"▶ {entry.name} …", flush=True)
        else:
            mark = "✔" if entry.status == "ok" else "✘"
            print(f"{mark} {entry.name} {entry.status} in {entry.seconds:.1f}s", flush=True)

    server = None
    endpoint = params.endpoint_url
    if params.target == "local" and not endpoint:
        from globaltables.local import EmbeddedAWS

        server = EmbeddedAWS()
        endpoint = server.start()
        print(f"Embedded AWS on {endpoint}", flush=True)
    else:
        print(f"Target: {params.target}" + (f" at {endpoint}" if endpoint else ""), flush=True)
    try:
        result = run_notebooks(params, run_id, outputs, notebooks, endpoint=endpoint, on_event=show)
    finally:
        if server:
            server.stop()
    print()
    print("\n".join(summary_lines(result)))
    return 0 if result.ok else EXIT_FAILED


def _print_steps(step) -> None:
    print(f"  {step.outcome:<34} {step.kind:<40} {step.name} ({step.region})", flush=True)


def command_cleanup(args: argparse.Namespace) -> int:
    import tempfile

    from globaltables import cleanup
    from globaltables.clients import AwsClients
    from globaltables.endpoint import EndpointNotFound
    from globaltables.state import RunNotFound, RunState

    try:
        overrides = dict(parse_override(text) for text in args.parameter)
        if args.run_id:
            run = RunState.open(args.run_id, args.outputs)
            params = run.params.with_overrides(**overrides) if overrides else run.params
        else:
            params = load_params(args.params, overrides)
        clients = AwsClients.for_params(params)
    except (ParameterError, RunNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except EndpointNotFound as error:
        print(
            f"error: {error}\nThe embedded AWS holds a run's resources only while it runs: a run made by a "
            "stopped embedded AWS left nothing behind.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.run_id:
        run.manifest.params = params
        print(f"Cleanup of run {run.run_id} ({params.target}): {len(run.resources())} resources in the manifest")
        try:
            cleanup.run_cleanup(clients, run, on_step=_print_steps)
        except cleanup.CleanupIncomplete as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_FAILED
        left = [row for row in cleanup.verification_rows(clients, run) if row["still there"] != "nothing"]
        for row in left:
            print(f"  still there: {row['region']} {row['service']}: {row['still there']}")
        print("Nothing left." if not left else f"{len(left)} services still hold resources of this run.")
        return 0 if not left else EXIT_FAILED
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


def command_local(args: argparse.Namespace) -> int:
    from globaltables.local.server import serve, settings_from

    serve(args.port, announce_endpoint=True, banner=True, verbose=args.verbose, settings=settings_from(args))
    return 0


def command_lab(args: argparse.Namespace) -> int:
    from globaltables.local import EmbeddedAWS

    with EmbeddedAWS(announce=True) as server:
        print(f"Embedded AWS on {server.endpoint}; starting JupyterLab on http://127.0.0.1:{args.port}", flush=True)
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--ip=127.0.0.1",
            f"--port={args.port}",
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
    args = build_parser().parse_args(argv)
    handlers = {"run": command_run, "local": command_local, "lab": command_lab, "cleanup": command_cleanup}
    return handlers[args.command](args)
