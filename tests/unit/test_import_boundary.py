"""What a command imports: the client library, cleanup and the command line's parsing stay clear of the
embedded AWS (moto takes seconds to import, and the client library must never need it: only ``cli.py``
starts the embedded AWS; the library learns its endpoint, nothing more)."""

import ast
import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path


def modules_loaded_by(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(completed.stdout.split())


def test_cleanup_and_the_command_line_do_not_load_the_embedded_aws():
    loaded = modules_loaded_by(
        "from globaltables.cli import build_parser\n"
        "build_parser(embedded_aws_options=False).parse_args(['cleanup', '--run-id', 'r'])\n"
        "import globaltables.cleanup"
    )
    assert "globaltables.cleanup" in loaded
    assert not {name for name in loaded if name == "moto" or name.startswith(("moto.", "globaltables.local"))}


def test_the_local_command_gets_its_replication_options():
    loaded = modules_loaded_by(
        "from globaltables.cli import build_parser\n"
        "args = build_parser(embedded_aws_options=True).parse_args(['local', '--replication-delay', '0'])\n"
        "assert args.replication_delay == '0', args"
    )
    assert "globaltables.local.server" in loaded


EMBEDDED_AWS = "globaltables.local"
STARTS_THE_EMBEDDED_AWS = {"globaltables.cli", "globaltables.__main__"}

# Run in a fresh interpreter: imports the modules named in argv one after another and says which
# import brought in moto or the embedded AWS.
IMPORT_PROBE = f"""
import importlib, json, sys

def forbidden():
    return {{n for n in sys.modules if n == "moto" or n.startswith(("moto.", "{EMBEDDED_AWS}"))}}

brought = {{}}
for name in sys.argv[1:]:
    before = forbidden()
    importlib.import_module(name)
    if forbidden() - before:
        brought[name] = sorted(forbidden() - before)[:5]
print(json.dumps({{"brought": brought, "imported": sorted(set(sys.argv[1:]) & set(sys.modules))}}))
"""


def client_library_modules() -> list[str]:
    """Every module of the package but the embedded AWS (``globaltables.local`` and below) and the
    command line that starts it."""
    import globaltables

    # walk_packages imports each package it descends into (globaltables.local among them): in this
    # process only, which is why the check itself runs in a fresh interpreter.
    found = [module.name for module in pkgutil.walk_packages(globaltables.__path__, "globaltables.")]
    return sorted(
        name
        for name in found
        if name not in STARTS_THE_EMBEDDED_AWS and name != EMBEDDED_AWS and not name.startswith(f"{EMBEDDED_AWS}.")
    )


def imports_bringing_in_the_embedded_aws(modules: list[str]) -> dict[str, list[str]]:
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *modules], capture_output=True, text=True, check=True
    )
    report = json.loads(completed.stdout)
    assert report["imported"] == sorted(modules)  # every one was imported, none skipped
    return report["brought"]


def test_no_client_library_module_loads_moto_or_the_embedded_aws():
    modules = client_library_modules()
    assert {"globaltables.conflicts", "globaltables.runbook", "globaltables.fanout"} <= set(modules)
    assert not any(name.startswith(EMBEDDED_AWS) for name in modules)
    brought = imports_bringing_in_the_embedded_aws(modules)
    assert brought == {}, f"client-library modules that load moto or the embedded AWS: {brought}"


def test_the_import_probe_names_a_module_that_loads_the_embedded_aws():
    # The probe itself, on a module that does: so an empty answer above means something.
    brought = imports_bringing_in_the_embedded_aws(["globaltables.names", "globaltables.local.process"])
    assert (
        list(brought) == ["globaltables.local.process"]
        and "globaltables.local" in brought["globaltables.local.process"]
    )


def test_no_client_library_module_imports_moto_or_the_embedded_aws_even_inside_a_function():
    # A lazy import inside a function escapes the test above until the function runs.
    offenders = []
    for name in client_library_modules():
        path = Path(importlib.util.find_spec(name).origin)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            if any(i == "moto" or i.startswith(("moto.", EMBEDDED_AWS)) for i in imported):
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == [], "only globaltables.cli may import the embedded AWS (and moto)"
