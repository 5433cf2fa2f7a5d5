"""ipywidgets forms for the interactive walkthrough. Batch runs never need them and never wait on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import ipywidgets as widgets
import yaml

from globaltables import show
from globaltables.errors import CleanupNotConfirmed
from globaltables.params import (
    SETUP_NOTEBOOK,
    ParameterError,
    Params,
    known_regions,
    parameter_notebook,
    validate_params,
)
from globaltables.progress import in_batch

# The form's first rows; every other parameter of the schema follows, grouped by the notebook that uses it.
MAIN_KEYS = ("target", "regions", "table_name_prefix", "confirm_costs")


def form_choices_path() -> Path:
    from globaltables.state import default_outputs_dir

    return default_outputs_dir() / "lab-params.yaml"


def with_form_choices(values: dict[str, Any]) -> dict[str, Any]:
    """The notebook's parameter values, overridden by what was last applied in the form (interactive
    runs only: a batch run takes its parameters from papermill and nothing else)."""
    if in_batch():
        return values
    try:
        saved = yaml.safe_load(form_choices_path().read_text()) or {}
    except FileNotFoundError:
        return values
    chosen = {k: v for k, v in saved.items() if k in Params.model_fields}
    if chosen:
        print(
            f"using the choices applied in the form ({form_choices_path()}): {chosen}; Reset in the form forgets them"
        )
    return {**values, **chosen}


def _field_widget(name: str, value: Any) -> widgets.Widget:
    """A widget for one parameter, chosen from its type in the schema; its description names it."""
    annotation = Params.model_fields[name].annotation
    options = get_args(annotation) if get_origin(annotation) is Literal else ()
    style = {"description_width": "initial"}
    if options:
        return widgets.Dropdown(options=list(options), value=value, description=name, style=style)
    if isinstance(value, bool):
        return widgets.Checkbox(value=value, description=name, style=style)
    if isinstance(value, int):
        return widgets.IntText(value=value, description=name, style=style)
    if isinstance(value, float):
        return widgets.FloatText(value=value, description=name, style=style)
    # Lists and optional strings: YAML text, read back as papermill and -p read values (empty: None).
    shown = "" if value is None else value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True)
    return widgets.Text(value=shown.strip(), description=name, style=style)


def _widget_value(name: str, widget: widgets.Widget) -> Any:
    if not isinstance(widget, widgets.Text):
        return widget.value
    text = widget.value.strip()
    if not text:
        return None
    return yaml.safe_load(text) if get_origin(Params.model_fields[name].annotation) is list else text


class ParamsForm:
    """Every parameter as a form: target, regions and prefix first, then the rest grouped by the
    notebook that uses it; *Apply* validates with the schema and shows its errors.

    ``params`` always holds the last valid parameters (initially those the notebook passed). Applied
    choices are saved, so that "Run All" keeps them; *Reset* forgets them.
    """

    def __init__(self, params: Params):
        self.params = params
        self.target = widgets.ToggleButtons(options=["local", "aws"], value=params.target, description="target")
        self.regions = widgets.TagsInput(
            value=list(params.regions),
            allowed_tags=list(known_regions()),
            allow_duplicates=False,
            description="regions",
        )
        self.table_name_prefix = widgets.Text(value=params.table_name_prefix, description="table prefix")
        self.confirm_costs = widgets.Checkbox(value=params.confirm_costs, description="I accept AWS costs")
        self.more = {
            name: _field_widget(name, getattr(params, name)) for name in Params.model_fields if name not in MAIN_KEYS
        }
        groups: dict[str, list[widgets.Widget]] = {}
        for name, widget in self.more.items():
            groups.setdefault(parameter_notebook(name), []).append(widget)
        titles = {SETUP_NOTEBOOK: "whole run"}
        settings = widgets.Accordion(children=[widgets.VBox(group) for group in groups.values()])
        for index, notebook in enumerate(groups):
            settings.set_title(index, titles.get(notebook, notebook))
        settings.selected_index = None
        self.apply = widgets.Button(description="Apply", button_style="primary", icon="check")
        self.reset = widgets.Button(description="Reset", icon="undo", tooltip="forget the applied choices")
        self.message = widgets.HTML()
        self.apply.on_click(lambda _: self.validate())
        self.reset.on_click(lambda _: self.forget())
        self.box = widgets.VBox(
            [
                widgets.HTML("<b>Parameters</b> (primary region first)"),
                self.target,
                self.regions,
                self.table_name_prefix,
                self.confirm_costs,
                widgets.HTML("More settings, by the notebook that uses them:"),
                settings,
                widgets.HBox([self.apply, self.reset]),
                self.message,
            ]
        )

    def values(self) -> dict:
        return {
            **self.params.model_dump(),
            **{name: _widget_value(name, widget) for name, widget in self.more.items()},
            "target": self.target.value,
            "regions": list(self.regions.value),
            "table_name_prefix": self.table_name_prefix.value,
            "confirm_costs": self.confirm_costs.value,
        }

    def validate(self) -> bool:
        try:
            self.params = validate_params(self.values())
        except ParameterError as error:
            items = "".join(f"<li>{problem}</li>" for problem in error.problems)
            self.message.value = f"<span style='color:#b00'>✘ not applied:</span><ul>{items}</ul>"
            return False
        from globaltables.state import write_atomically

        write_atomically(form_choices_path(), yaml.safe_dump(self.params.model_dump(mode="json")))
        self.message.value = (
            f"<span style='color:#070'>✔ applied: {self.params.target}, {', '.join(self.params.regions)}, "
            f"prefix {self.params.table_name_prefix}</span> (kept for Run All; run the cells below)"
        )
        return True

    def forget(self) -> None:
        form_choices_path().unlink(missing_ok=True)
        self.message.value = "choices forgotten: the parameters cell applies again"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        # A batch run's notebook is a record: show the values it ran with, not a form nobody can use.
        display(show.facts(self.params.model_dump()) if in_batch() else self.box)


def params_form(params: Params) -> ParamsForm:
    return ParamsForm(params)


class LoadForm:
    """Concurrency, rate, mix and duration for the load test; *Run* applies the load and shows the figures.

    In a batch run it shows the load that the notebook's parameters define instead (nothing to click).
    """

    def __init__(self, spec, run_load):  # spec: perf.LoadSpec; run_load: LoadSpec -> None
        self.spec = spec
        self._run_load = run_load
        self.mode = widgets.ToggleButtons(options=["closed", "open"], value=spec.mode, description="mode")
        self.workers = widgets.IntSlider(value=spec.workers, min=1, max=64, description="workers")
        self.rate = widgets.FloatLogSlider(value=spec.rate_per_s, base=10, min=0, max=4, description="rate/s")
        self.read_ratio = widgets.FloatSlider(value=spec.read_ratio, min=0, max=1, step=0.05, description="reads")
        self.distribution = widgets.Dropdown(
            options=["uniform", "zipfian"], value=spec.key_distribution, description="keys"
        )
        self.duration = widgets.FloatSlider(value=spec.duration_s or 5, min=1, max=120, step=1, description="seconds")
        self.button = widgets.Button(description="Run load", button_style="primary", icon="play")
        self.output = widgets.Output()
        self.button.on_click(lambda _: self.run())
        self.box = widgets.VBox(
            [
                widgets.HTML("<b>Load test</b> (applied in every region at once)"),
                self.mode,
                self.workers,
                self.rate,
                self.read_ratio,
                self.distribution,
                self.duration,
                self.button,
                self.output,
            ]
        )

    def current_spec(self):
        # Validated like any LoadSpec: the sliders' bounds are not the schema's.
        return self.spec.model_validate(
            self.spec.model_dump()
            | {
                "mode": self.mode.value,
                "workers": self.workers.value,
                "rate_per_s": self.rate.value,
                "read_ratio": self.read_ratio.value,
                "key_distribution": self.distribution.value,
                "duration_s": self.duration.value,
            }
        )

    def run(self) -> None:
        self.button.disabled = True
        self.output.clear_output()
        try:
            with self.output:
                self._run_load(self.current_spec())
        finally:
            self.button.disabled = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(show.facts(self.spec.model_dump()) if in_batch() else self.box)


def load_form(spec, run_load) -> LoadForm:
    return LoadForm(spec, run_load)


class CleanupGate:
    """Runs cleanup at once when confirmed (a parameter); otherwise shows what would be removed and a
    button that removes it. ``require_done()`` fails clearly while it has not run.

    Confirmed, the steps are the cell's own output (a failure raises in the cell itself): an Output
    widget capturing them could leave a batch run waiting forever for the cell to end (nbclient answers
    each captured output on the kernel's shell channel while it reads that channel, jupyter/nbclient#312).
    The button's steps go to the Output widget under it, as a click has no cell of its own."""

    def __init__(self, count: int, perform, confirmed: bool):  # perform: () -> list of cleanup steps
        self.count = count
        self._perform = perform
        self.steps = None
        self._clicked = False
        self.output = widgets.Output()
        self.button = widgets.Button(description=f"Delete {count} resources", button_style="danger", icon="trash")
        self.button.on_click(lambda _: self.run())
        if confirmed or count == 0:
            self.button.disabled = True
            self.steps = self._perform()

    def run(self) -> None:
        from IPython.display import display

        self.button.disabled = True
        self._clicked = True
        with self.output:
            self.steps = self._perform()
            display(self._steps_view())

    def _steps_view(self):
        rows = [s.row() for s in self.steps or []]
        return show.table(rows) if rows else show.facts({"cleanup": "nothing to do"})

    def require_done(self) -> list:
        if self.steps is None:
            hint = "press the Delete button above" if not in_batch() else "set confirm_cleanup: true"
            raise CleanupNotConfirmed(f"Cleanup has not run, nothing was deleted: {hint}, then run this cell again.")
        return self.steps

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.steps is None:
            display(widgets.VBox([self.button, self.output]))
        else:
            display(self.output if self._clicked else self._steps_view())


def cleanup_gate(count: int, perform, confirmed: bool) -> CleanupGate:
    return CleanupGate(count, perform, confirmed)
