import json
import os
import threading

import pytest
from globaltables.names import derive_names, new_run_id, random_suffix
from globaltables.params import PREFIX_MAX_LENGTH, TABLE_NAME_PATTERN, Params
from globaltables.state import LATEST_NAME, RunNotFound, RunState, write_atomically


def test_suffix_has_letters_and_digits_and_names_carry_it():
    for _ in range(200):
        suffix = random_suffix()
        assert len(suffix) == 6 and suffix.isalnum() and suffix.islower()
        assert any(c.isdigit() for c in suffix) and any(c.isalpha() for c in suffix)
    names = derive_names("global-app-data", "abc123")
    assert names.table_name == "global-app-data-abc123"
    assert names.iam_role_name == "DynamoDBGlobalTableRole-abc123"
    assert names.kms_alias("eu-west-1") == "alias/dynamodb-global-abc123-eu-west-1"


def test_longest_allowed_prefix_still_makes_a_valid_table_name():
    assert TABLE_NAME_PATTERN.match(derive_names("p" * PREFIX_MAX_LENGTH).table_name)
    assert TABLE_NAME_PATTERN.match(derive_names("p" * PREFIX_MAX_LENGTH).restored_table_name)


def test_run_ids_are_unique_and_sortable_by_time():
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i.split("-")) == 3 for i in ids)


def _new_run(tmp_path, run_id="run-1"):
    return RunState.create(Params(), derive_names("t", "aaa111"), run_id=run_id, outputs_dir=tmp_path, account="1")


def test_manifest_round_trips_and_latest_points_at_it(tmp_path):
    run = _new_run(tmp_path)
    run.record("dynamodb:table", "t-aaa111", "us-east-1", arn="arn:x", notebook="02")
    assert (tmp_path / LATEST_NAME).read_text().strip() == "run-1"
    reopened = RunState.open(outputs_dir=tmp_path)
    assert reopened.run_id == "run-1" and reopened.params.run_id == "run-1"
    [table] = reopened.resources("dynamodb:table")
    assert (table.name, table.region, table.arn, table.notebook) == ("t-aaa111", "us-east-1", "arn:x", "02")


def test_recording_twice_keeps_one_entry(tmp_path):
    run = _new_run(tmp_path)
    run.record("kms:key", "k1", "eu-west-1")
    run.record("kms:key", "k1", "eu-west-1", arn="arn:k1", rotation=True)
    [key] = RunState.open("run-1", tmp_path).resources()
    assert key.arn == "arn:k1" and key.details == {"rotation": True}


def test_forget_removes_only_that_resource(tmp_path):
    run = _new_run(tmp_path)
    run.record("kms:key", "k1", "eu-west-1")
    run.record("kms:key", "k1", "us-east-1")
    assert run.forget("kms:key", "k1", "eu-west-1") is True
    assert run.forget("kms:key", "k1", "eu-west-1") is False
    assert [r.region for r in RunState.open("run-1", tmp_path).resources()] == ["us-east-1"]


def test_rerunning_setup_for_a_run_keeps_its_names_and_resources(tmp_path):
    run = _new_run(tmp_path)
    run.record("iam:role", "r", "global")
    again = RunState.create(Params(), derive_names("t", "zzz999"), run_id="run-1", outputs_dir=tmp_path)
    assert again.names.suffix == "aaa111"
    assert [r.name for r in again.resources()] == ["r"]


def test_concurrent_records_are_all_kept(tmp_path):
    run = _new_run(tmp_path)
    threads = [threading.Thread(target=run.record, args=("kind", f"n{i}", "us-east-1")) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(RunState.open("run-1", tmp_path).resources()) == 40


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    write_atomically(path, json.dumps({"v": 1}))

    def broken_replace(src, dst):
        raise KeyboardInterrupt  # the process is stopped between writing and renaming

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, json.dumps({"v": 2}))
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_opening_without_any_run_says_what_to_do(tmp_path):
    with pytest.raises(RunNotFound, match="run 00_setup first"):
        RunState.open(outputs_dir=tmp_path)
    with pytest.raises(RunNotFound, match="no-such-run"):
        RunState.open("no-such-run", tmp_path)


def test_a_manifest_written_under_older_prefix_rules_still_opens_for_cleanup(new_run):
    """A prefix with '.' was allowed before every derived name was checked: its run must stay removable."""
    import json

    from globaltables.state import RunState

    run = new_run()
    recorded = json.loads(run.path.read_text())
    recorded["params"]["table_name_prefix"] = "orders.v2"
    run.path.write_text(json.dumps(recorded))
    reopened = RunState.open(run.run_id, run.folder.parent)
    assert reopened.params.table_name_prefix == "orders.v2"
