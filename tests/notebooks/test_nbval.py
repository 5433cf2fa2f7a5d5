"""nbval over the notebooks, in order, against one embedded AWS: every cell runs; marked cells match.

nbval runs in its own pytest process so that its kernels inherit an environment pointing at a fresh
embedded AWS and a temporary outputs folder (a kernel starts before any fixture of this process could
set that up).
"""

import os
import re
import subprocess
import sys

import nbformat
from globaltables.batch import list_notebooks


def confirmed_copies(folder):
    """The notebooks as they are, except that 10's cleanup is confirmed by its parameter (the button a
    person would press; the browser test presses it for real)."""
    folder.mkdir()
    copies = []
    for path in list_notebooks():
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = cell.source.replace("confirm_cleanup = False", "confirm_cleanup = True")
        nbformat.write(notebook, folder / path.name)
        copies.append(folder / path.name)
    return copies


def test_notebooks_pass_nbval_in_order(embedded_aws, tmp_path):
    notebooks = confirmed_copies(tmp_path / "notebooks")
    code_cells = sum(
        1 for path in notebooks for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
    )
    env = {
        **os.environ,
        "GLOBALTABLES_ENDPOINT": embedded_aws.endpoint,
        "GLOBALTABLES_OUTPUTS": str(tmp_path / "outputs"),
        "GLOBALTABLES_HOME": str(tmp_path / "home"),
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            *[p.name for p in notebooks],
        ],
        cwd=notebooks[0].parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = completed.stdout[-6000:] + completed.stderr[-2000:]
    assert completed.returncode == 0, report
    passed = int(re.search(r"(\d+) passed", completed.stdout).group(1))
    assert passed == code_cells, report
    # The notebooks wrote their run where we told them to, not into the project's outputs/.
    assert (tmp_path / "outputs" / "LATEST").exists()
