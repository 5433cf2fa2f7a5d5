"""The project's own files agree with each other: environment.yml with pyproject, README with the schema."""

import re
import subprocess
import sys
import tomllib

import yaml
from globaltables.batch import PROJECT_DIR
from globaltables.params import parameter_table_markdown
from packaging.requirements import Requirement


def _requirements(lines):
    return {Requirement(line).name.lower(): str(Requirement(line).specifier) for line in lines}


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    expected = _requirements(project["dependencies"] + project["optional-dependencies"]["dev"])
    environment = yaml.safe_load((PROJECT_DIR / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    listed = _requirements(line for line in pip_section if not line.startswith("-e"))
    assert listed == expected
    assert "-e .[dev]" in pip_section
    assert "python=3.11" in environment["dependencies"]


def test_moto_is_pinned_exactly_and_others_have_lower_bounds():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(line)
        if requirement.name == "moto":
            assert str(requirement.specifier) == "==5.2.5"
        else:
            assert any(spec.operator == ">=" for spec in requirement.specifier), line


def test_a_kernel_showing_charts_and_a_batch_run_do_not_build_rfc3987_grammars():
    # jsonschema 4.25+ imports rfc3987-syntax, which builds ~35 parsers (about 3 s) in every process that
    # imports nbformat: plotly's renderer (each notebook kernel) and papermill (each batch run) do.
    imports = "import globaltables.charts, globaltables.batch, papermill, nbformat.validator, sys; "
    probe = imports + "print('rfc3987_syntax' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"


def test_readme_parameter_table_is_rendered_from_the_schema():
    readme = (PROJECT_DIR / "README.md").read_text()
    assert parameter_table_markdown() in readme


def test_every_notebook_has_a_parameters_cell_and_no_committed_outputs():
    import nbformat

    for path in sorted((PROJECT_DIR / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: one parameters cell"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: committed output"
        assert re.match(r"^\d\d_[a-z0-9_]+$", path.stem)
