"""What a command imports: cleanup and the command line's parsing stay clear of the embedded AWS (moto
takes seconds to import, and the client library must never need it)."""

import subprocess
import sys


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
