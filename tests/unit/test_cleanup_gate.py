"""10's cleanup gate: confirmed, cleanup runs at once and its steps (or its failure) belong to the cell
itself, never to an Output widget (nbclient can wait forever on such a cell, jupyter/nbclient#312);
otherwise a button runs it."""

import pytest
from globaltables.cleanup import DELETED, CleanupIncomplete, Outcome, Step
from globaltables.widgets import CleanupNotConfirmed, cleanup_gate


def steps():
    return [Step(kind="dynamodb:table", name="t", region="us-east-1", outcome=DELETED)]


def test_a_confirmed_gate_cleans_up_at_once_and_shows_the_steps_without_an_output_widget(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **_: shown.extend(objects))
    gate = cleanup_gate(1, steps, confirmed=True)
    assert gate.require_done() == steps()
    assert gate.button.disabled
    gate._ipython_display_()
    assert len(shown) == 1 and "deleted" in shown[0].data
    assert gate.output.outputs == ()  # nothing went through the widget


def test_a_confirmed_cleanup_that_fails_fails_its_own_cell():
    denied = RuntimeError("AccessDeniedException")
    failed = Step(kind="kms:key", name="k", region="us-east-1", outcome=Outcome.failed(denied))

    def perform():
        raise CleanupIncomplete([failed])

    with pytest.raises(CleanupIncomplete, match="AccessDeniedException"):
        cleanup_gate(1, perform, confirmed=True)


def test_an_unconfirmed_gate_waits_for_its_button():
    ran = []
    gate = cleanup_gate(1, lambda: ran.append(1) or steps(), confirmed=False)
    assert ran == []
    with pytest.raises(CleanupNotConfirmed, match="Delete button|confirm_cleanup"):
        gate.require_done()
    gate.button.click()
    assert ran == [1] and gate.require_done() == steps() and gate.button.disabled
