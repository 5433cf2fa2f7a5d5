"""Cleanup removes exactly what the manifest records, in order, idempotently, and nothing else."""

import pytest
from globaltables import cleanup
from globaltables.cleanup import Result
from globaltables.iam import ensure_application_role
from globaltables.kinds import ResourceKind
from globaltables.kms import ensure_region_key
from globaltables.monitoring import ensure_alarm_topic, ensure_alarms, ensure_dashboard
from globaltables.state import RunState
from globaltables.tables import ensure_protection, ensure_replica, ensure_table

from tests.unit.local.helpers import create_table


def build(clients, run, with_replicas=True):
    keys = {region: ensure_region_key(clients, run, region).arn for region in run.params.regions}
    ensure_application_role(clients, run, "123456789012")
    ensure_table(clients, run, keys[run.params.primary_region])
    if with_replicas:
        for region in run.params.replica_regions:
            ensure_replica(clients, run, region, keys[region])
        for region in run.params.regions:
            ensure_protection(clients, run, region)
    for region in run.params.regions:
        ensure_alarms(clients, run, region, ensure_alarm_topic(clients, run, region))
        ensure_dashboard(clients, run, region)


def nothing_left(clients, run):
    return all(row["still there"] == "nothing" for row in cleanup.verification_rows(clients, run))


def test_cleanup_removes_everything_in_order_and_a_second_run_has_nothing_to_do(clients, new_run):
    run = new_run()
    build(clients, run)
    assert not nothing_left(clients, run)
    keys = [(k.region, k.name) for k in run.resources("kms:key")]
    kinds = [r.kind for r in cleanup.plan(run)]
    assert kinds.index("dynamodb:replica") < kinds.index("dynamodb:table") < kinds.index("kms:key")
    assert kinds.index("cloudwatch:alarm") < kinds.index("sns:topic")
    steps = cleanup.run_cleanup(clients, run)
    assert {s.outcome.result for s in steps} == {Result.DELETED, Result.SCHEDULED}
    assert {str(s.outcome) for s in steps if s.kind == ResourceKind.KMS_KEY} == {"scheduled for deletion in 7 days"}
    assert nothing_left(clients, run) and not RunState.open(run.run_id, run.folder.parent).resources()
    for region, key_id in keys:
        assert clients.client("kms", region).describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert cleanup.run_cleanup(clients, RunState.open(run.run_id, run.folder.parent)) == []


def test_the_manifest_logs_what_became_of_each_resource_for_the_report(clients, new_run):
    run = new_run()
    build(clients, run, with_replicas=False)
    made = {r.identity for r in run.resources()}
    steps = cleanup.run_cleanup(clients, run, by="the cleanup command")
    reopened = RunState.open(run.run_id, run.folder.parent)
    removals = reopened.manifest.removals
    assert {r.resource.identity for r in removals} == made == {(s.kind, s.name, s.region) for s in steps}
    assert {r.by for r in removals} == {"the cleanup command"}
    assert {r.outcome["result"] for r in removals} == {"deleted", "scheduled for deletion"}
    assert all(r.resource.notebook is None or r.resource.notebook for r in removals)


def test_keys_are_scheduled_for_deletion_in_seven_days(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    key = ensure_region_key(clients, run, "eu-west-1")
    cleanup.run_cleanup(clients, run)
    metadata = clients.client("kms", "eu-west-1").describe_key(KeyId=key.key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingDeletion"


def test_cleanup_after_a_partial_run(clients, new_run):
    run = new_run()
    build(clients, run, with_replicas=False)
    cleanup.run_cleanup(clients, run)
    assert nothing_left(clients, run)


def test_a_resource_already_gone_is_not_an_error(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    build(clients, run)
    topic = run.resources("sns:topic", "eu-west-1")[0]
    clients.client("sns", "eu-west-1").delete_topic(TopicArn=topic.arn)
    alarm = run.resources("cloudwatch:alarm", "us-east-1")[0]
    clients.client("cloudwatch", "us-east-1").delete_alarms(AlarmNames=[alarm.name])
    steps = {(s.kind, s.name, s.region): s.outcome.result for s in cleanup.run_cleanup(clients, run)}
    assert steps[("sns:topic", topic.name, "eu-west-1")] == Result.ALREADY_GONE
    assert steps[("cloudwatch:alarm", alarm.name, "us-east-1")] == Result.ALREADY_GONE
    assert nothing_left(clients, run)


def test_what_the_manifest_does_not_record_is_never_touched(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    build(clients, run)
    ddb = clients.client("dynamodb", "us-east-1")
    neighbour = create_table(ddb, f"neighbour-{run.names.suffix}-x")  # similar name, not ours
    foreign_key = clients.client("kms", "us-east-1").create_key()["KeyMetadata"]["KeyId"]
    cleanup.run_cleanup(clients, run)
    assert neighbour in ddb.get_paginator("list_tables").paginate().build_full_result()["TableNames"]
    assert clients.client("kms", "us-east-1").describe_key(KeyId=foreign_key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_a_failure_is_reported_and_kept_for_the_next_attempt(clients, new_run, monkeypatch):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    build(clients, run)
    original = cleanup.remove

    def failing(clients_, run_, resource):
        if resource.kind == "dynamodb:replica":
            raise RuntimeError("simulated outage")
        return original(clients_, run_, resource)

    monkeypatch.setattr(cleanup, "remove", failing)
    with pytest.raises(cleanup.CleanupIncomplete, match="simulated outage") as caught:
        cleanup.run_cleanup(clients, run)
    outcomes = {s.kind: s.outcome for s in caught.value.failed}
    assert outcomes[ResourceKind.REPLICA].result is Result.FAILED
    assert outcomes[ResourceKind.REPLICA].detail == "RuntimeError: simulated outage"
    # What the replica still uses waits for it: its table, and every key and alias of the run's regions.
    assert {kind: outcome.result for kind, outcome in outcomes.items() if kind != ResourceKind.REPLICA} == {
        ResourceKind.TABLE: Result.HELD_BACK,
        ResourceKind.KMS_ALIAS: Result.HELD_BACK,
        ResourceKind.KMS_KEY: Result.HELD_BACK,
    }
    assert {r.kind for r in RunState.open(run.run_id, run.folder.parent).resources()} == {
        "dynamodb:replica",
        "dynamodb:table",
        "kms:alias",
        "kms:key",
    }
    monkeypatch.setattr(cleanup, "remove", original)
    cleanup.run_cleanup(clients, RunState.open(run.run_id, run.folder.parent))
    assert nothing_left(clients, run)


def test_orphans_of_a_lost_manifest_are_found_by_tag_and_removed(clients, new_run, tmp_path):
    run = new_run()
    build(clients, run)
    found = cleanup.orphans(clients, run.params.regions)
    assert run.run_id in found
    assert {left.service for left in found[run.run_id]} >= {"dynamodb", "kms", "sns", "cloudwatch", "iam"}
    cleanup.remove_orphan_run(clients, run.params.regions, run.run_id, found[run.run_id], tmp_path / "scratch")
    assert run.run_id not in cleanup.orphans(clients, run.params.regions)
    assert nothing_left(clients, run)


def test_every_kind_of_resource_has_a_remover_and_nothing_else_has_one():
    assert set(cleanup.REMOVERS) == set(ResourceKind)


def test_a_kind_cleanup_does_not_know_fails_its_step_and_stays_in_the_manifest(clients, new_run):
    run = new_run()
    run.record("someservice:thing", "x", "us-east-1")
    with pytest.raises(cleanup.CleanupIncomplete) as caught:
        cleanup.run_cleanup(clients, run)
    (step,) = caught.value.failed
    assert (
        step.outcome.result is Result.FAILED and "does not know how to remove someservice:thing" in step.outcome.detail
    )
    assert [r.kind for r in RunState.open(run.run_id, run.folder.parent).resources()] == ["someservice:thing"]


def drill_leftovers(clients, run, region):
    """What 09's drill makes on AWS (drills.FisPause), as a drill stopped before recording any of it
    would leave it: the FIS role (tagged, named by its prefix) and a tagged experiment template."""
    import json

    from globaltables.drills import FIS_ROLE_PREFIX, fis_role_policy, fis_template_request, fis_trust_policy
    from globaltables.names import RUN_TAG_KEY

    iam = clients.client("iam", run.params.primary_region)
    role = iam.create_role(
        RoleName=f"{FIS_ROLE_PREFIX}{run.names.suffix}",
        AssumeRolePolicyDocument=json.dumps(fis_trust_policy("123456789012")),
        Tags=[{"Key": RUN_TAG_KEY, "Value": run.run_id}],
    )["Role"]
    label = f"{run.names.table_name}-pause-{region}"
    table_arn = f"arn:aws:dynamodb:{region}:123456789012:table/{run.names.table_name}"
    policy = json.dumps(fis_role_policy(table_arn, strong=False))
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="pause-replication", PolicyDocument=policy)
    request = fis_template_request(label, role["Arn"], table_arn, 60, run.run_id, "token-1")
    template = clients.client("fis", region).create_experiment_template(**request)["experimentTemplate"]
    return role["RoleName"], template["id"], label


def test_the_orphan_finder_finds_and_removes_a_drills_fis_template_and_role_in_any_region(clients, new_run, tmp_path):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    role, template_id, label = drill_leftovers(clients, run, "eu-west-1")
    found = cleanup.orphans(clients, run.params.regions)[run.run_id]
    assert {(left.kind, left.region, left.name, left.note) for left in found} == {
        (ResourceKind.FIS_TEMPLATE, "eu-west-1", template_id, label),
        (ResourceKind.ROLE, "global", role, "role"),
    }
    resources = cleanup.resources_of_orphan_run(clients, run.params.regions, found)
    template = next(r for r in resources if r.kind == ResourceKind.FIS_TEMPLATE)
    assert (template.name, template.details) == (label, {"template_id": template_id})
    steps = cleanup.remove_orphan_run(clients, run.params.regions, run.run_id, found, tmp_path / "scratch")
    assert {(s.kind, s.outcome.result) for s in steps} == {
        (ResourceKind.FIS_TEMPLATE, Result.DELETED),
        (ResourceKind.ROLE, Result.DELETED),
    }
    assert run.run_id not in cleanup.orphans(clients, run.params.regions)
    assert not clients.client("fis", "eu-west-1").list_experiment_templates()["experimentTemplates"]
