"""The 00_setup form covers every parameter, and what it applies reaches the step that uses it."""

import pytest
from globaltables.names import derive_names
from globaltables.params import Params, validate_params
from globaltables.runbook import open_run
from globaltables.state import RunState
from globaltables.widgets import ParamsForm, with_form_choices


@pytest.fixture
def interactive(isolated_home, monkeypatch):
    monkeypatch.delenv("GLOBALTABLES_BATCH", raising=False)
    return isolated_home


def test_the_form_has_a_field_for_every_parameter():
    form = ParamsForm(Params())
    shown = {"target", "regions", "table_name_prefix", "confirm_costs", *form.more}
    assert shown == set(Params.model_fields)


def test_a_step_setting_applied_in_the_form_reaches_its_notebook_through_the_manifest(interactive, embedded_aws):
    form = ParamsForm(validate_params({"endpoint_url": embedded_aws.endpoint}))
    form.more["item_count"].value = 12
    form.more["conflict_delays_ms"].value = "[25, 50]"
    form.more["billing_mode"].value = "PROVISIONED"
    assert form.validate(), form.message.value
    # "Run All" in 00_setup: the parameters cell's values, then the form's applied choices.
    params = validate_params(with_form_choices(Params().model_dump() | {"endpoint_url": embedded_aws.endpoint}))
    assert (params.item_count, params.conflict_delays_ms, params.billing_mode) == (12, [25.0, 50.0], "PROVISIONED")
    run = RunState.create(params, derive_names(params.table_name_prefix), "form-run", account="123456789012")
    # 03_seed_data's parameters cell says item_count = None: the run's value.
    opened = open_run("form-run", item_count=None, data_seed=None, writer_threads=None).run
    assert opened.params.item_count == 12 and run.params.item_count == 12


def test_a_bad_value_in_the_form_is_shown_and_not_applied(interactive):
    form = ParamsForm(Params())
    form.more["load_rate_per_s"].value = -5.0
    assert not form.validate()
    assert "load_rate_per_s" in form.message.value and "not applied" in form.message.value
