"""Cleanup against AWS's rules: keys wait for the tables using them, every page of every list is read,
a vault is emptied of every recovery point, write auto scaling goes in every region, a table busy after
a protection change is waited for."""

import json

import pytest
from globaltables import cleanup
from globaltables.backup import ensure_backup_role, ensure_vault
from globaltables.cleanup import Result
from globaltables.clients import AwsClients
from globaltables.iam import ensure_application_role
from globaltables.kinds import ResourceKind
from globaltables.kms import ensure_region_key
from globaltables.local import EmbeddedAWS
from globaltables.monitoring import ensure_alarm_topic, ensure_alarms, ensure_dashboard
from globaltables.names import RUN_TAG_KEY
from globaltables.state import RunState
from globaltables.tables import ensure_protection, ensure_replica, ensure_table, ensure_write_autoscaling

from tests.unit.local.helpers import listed

REGIONS = ["us-east-1", "eu-west-1"]


def make_run(server, tmp_path, **params):
    from globaltables.names import derive_names, new_run_id
    from globaltables.params import validate_params

    validated = validate_params({"endpoint_url": server.endpoint, "wait_timeout_s": 30, "regions": REGIONS, **params})
    names = derive_names(validated.table_name_prefix)
    return RunState.create(validated, names, new_run_id(), tmp_path / "outputs", account="123456789012")


def global_table(clients, run):
    keys = {region: ensure_region_key(clients, run, region).arn for region in run.params.regions}
    ensure_table(clients, run, keys[run.params.primary_region])
    if run.params.billing_mode == "PROVISIONED":
        ensure_write_autoscaling(clients, run, run.params.primary_region)
    for region in run.params.replica_regions:
        ensure_replica(clients, run, region, keys[region])
        if run.params.billing_mode == "PROVISIONED":
            ensure_write_autoscaling(clients, run, region)
    for region in run.params.regions:
        ensure_protection(clients, run, region)


def reopened(run):
    return RunState.open(run.run_id, run.folder.parent)


def key_states(clients, run):
    return {
        k.region: clients.client("kms", k.region).describe_key(KeyId=k.name)["KeyMetadata"]["KeyState"]
        for k in run.resources("kms:key")
    }


def aliases(clients, run):
    return {
        region: [
            a["AliasName"]
            for a in listed(clients.client("kms", region), "list_aliases", "Aliases")
            if run.names.suffix in a["AliasName"]
        ]
        for region in run.params.regions
    }


def nothing_left(clients, run):
    return all(row["still there"] == "nothing" for row in cleanup.verification_rows(clients, run))


@pytest.fixture(scope="module")
def slow_replica_deletion():
    # A replica takes 3 s to go: a cleanup allowed 1 s per wait times out on it.
    with EmbeddedAWS(replication_delay="0", timing="fast,delete_replica=3") as server:
        yield server


def test_keys_and_aliases_wait_for_a_replica_that_could_not_be_deleted(slow_replica_deletion, tmp_path):
    clients = AwsClients("local", slow_replica_deletion.endpoint)
    run = make_run(slow_replica_deletion, tmp_path)
    global_table(clients, run)
    run.params.wait_timeout_s = 1
    names_before = aliases(clients, run)
    with pytest.raises(cleanup.CleanupIncomplete) as caught:
        cleanup.run_cleanup(clients, run)
    outcomes = {(s.kind, s.region): s.outcome for s in caught.value.failed}
    failed = outcomes[(ResourceKind.REPLICA, "eu-west-1")]
    assert failed.result is Result.FAILED and failed.detail.startswith("WaitTimeout:")
    table = outcomes[(ResourceKind.TABLE, "us-east-1")]
    assert table.result is Result.HELD_BACK and table.detail.startswith(f"{ResourceKind.REPLICA} ")
    for region in REGIONS:
        for kind in (ResourceKind.KMS_KEY, ResourceKind.KMS_ALIAS):
            assert outcomes[(kind, region)].result is Result.HELD_BACK
            assert outcomes[(kind, region)].detail.startswith("dynamodb:")  # a table, replica or restored table
    assert key_states(clients, run) == {region: "Enabled" for region in REGIONS}
    assert aliases(clients, run) == names_before and all(names_before.values())
    assert {r.kind for r in reopened(run).resources()} == {"dynamodb:replica", "dynamodb:table", "kms:key", "kms:alias"}

    second = reopened(run)
    second.params.wait_timeout_s = 30
    steps = cleanup.run_cleanup(clients, second)
    assert not [s for s in steps if s.incomplete]
    assert key_states(clients, run) == {region: "PendingDeletion" for region in REGIONS}
    assert aliases(clients, run) == {region: [] for region in REGIONS}
    assert not reopened(run).resources() and nothing_left(clients, run)


def test_a_table_busy_after_its_protection_change_is_waited_for(tmp_path):
    # Each protection change leaves the table UPDATING for 2 s (ResourceInUseException meanwhile).
    with EmbeddedAWS(replication_delay="0", timing="fast,protection_update=2") as server:
        clients = AwsClients("local", server.endpoint)
        run = make_run(server, tmp_path)
        global_table(clients, run)
        cleanup.run_cleanup(clients, run)
        assert nothing_left(clients, run)


def test_the_inventory_reads_every_page_of_every_list(clients, new_run, tmp_path):
    """Three of each kind, tagged for the run or named with its suffix: the embedded AWS answers two a page."""
    run = new_run(regions=["us-east-1", "eu-west-1"])
    region, suffix, tag = "us-east-1", run.names.suffix, [{"Key": RUN_TAG_KEY, "Value": run.run_id}]
    kms, ddb = clients.client("kms", region), clients.client("dynamodb", region)
    logs, sns, cloudwatch = (
        clients.client("logs", region),
        clients.client("sns", region),
        clients.client("cloudwatch", region),
    )
    backup, scaling = clients.client("backup", region), clients.client("application-autoscaling", region)
    iam = clients.client("iam", region)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    for i in range(3):
        name = f"inv-{suffix}-{i}"
        key = kms.create_key(Tags=[{"TagKey": RUN_TAG_KEY, "TagValue": run.run_id}])["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=f"alias/{name}", TargetKeyId=key)
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            Tags=tag,
        )
        scaling.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId=f"table/{name}",
            ScalableDimension="dynamodb:table:WriteCapacityUnits",
            MinCapacity=1,
            MaxCapacity=2,
        )
        logs.create_log_group(logGroupName=f"/aws/lambda/{name}")
        sns.create_topic(Name=name, Tags=tag)
        cloudwatch.put_metric_alarm(
            AlarmName=name, MetricName="M", Namespace="N", Statistic="Sum", Period=60, EvaluationPeriods=1,
            Threshold=1, ComparisonOperator="GreaterThanThreshold", Tags=tag,
        )  # fmt: skip
        cloudwatch.put_dashboard(DashboardName=name, DashboardBody='{"widgets": []}')
        backup.create_backup_vault(BackupVaultName=name, BackupVaultTags={RUN_TAG_KEY: run.run_id})
        backup.create_backup_plan(
            BackupPlan={"BackupPlanName": name, "Rules": [{"RuleName": "daily", "TargetBackupVaultName": name}]},
            BackupPlanTags={RUN_TAG_KEY: run.run_id},
        )
        iam.create_role(RoleName=f"GlobalTableBackupRole-{name}", AssumeRolePolicyDocument=trust, Tags=tag)
        iam.create_policy(
            PolicyName=name,
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
            ),
        )
    found = cleanup.inventory(clients, [region], run.run_id, suffix)
    by_kind = {}
    for left in found:
        by_kind.setdefault((left.service, left.note), set()).add(left.name)
    expected = {
        ("dynamodb", ""): 3, ("kms", "Enabled"): 3, ("kms", "alias"): 3, ("logs", ""): 3, ("sns", ""): 3,
        ("cloudwatch", "alarm"): 3, ("cloudwatch", "dashboard"): 3, ("backup", "vault"): 3, ("backup", "plan"): 3,
        ("application-autoscaling", "target"): 3, ("iam", "role"): 3, ("iam", "policy"): 3,
    }  # fmt: skip
    assert {kind: len(by_kind.get(kind, ())) for kind in expected} == expected
    for role in by_kind[("iam", "role")]:
        iam.delete_role(RoleName=role)
    for policy in listed(iam, "list_policies", "Policies", Scope="Local"):
        if suffix in policy["PolicyName"]:
            iam.delete_policy(PolicyArn=policy["Arn"])


def test_a_key_whose_policy_excludes_the_caller_is_skipped_with_a_line(clients, new_run):
    run = new_run(regions=["ap-south-1", "eu-west-1"])
    kms = clients.client("kms", "ap-south-1")
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["kms:DescribeKey"], "Resource": "*"}
    locked = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))["KeyMetadata"]["KeyId"]
    ours = ensure_region_key(clients, run, "ap-south-1")
    try:
        skipped: list[str] = []
        found = cleanup.inventory(clients, ["ap-south-1"], run.run_id, run.names.suffix, skipped=skipped)
        assert any(left.name == ours.key_id for left in found)
        assert [line for line in skipped if locked in line] == [
            f"kms key {locked} in ap-south-1 skipped: AccessDeniedException (its policy excludes you)"
        ]
    finally:
        kms.schedule_key_deletion(KeyId=locked, PendingWindowInDays=7)
        cleanup.run_cleanup(clients, run)


def test_a_vault_is_emptied_of_recovery_points_the_manifest_does_not_record(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"])
    key = ensure_region_key(clients, run, "us-east-1")
    table = ensure_table(clients, run, key.arn)
    role_arn = ensure_backup_role(clients, run)
    ensure_vault(clients, run, "us-east-1")
    vault = run.names.backup_vault_name
    backup = clients.client("backup", "us-east-1")
    for _ in range(3):  # as the daily plan would: never recorded in the manifest
        backup.start_backup_job(BackupVaultName=vault, ResourceArn=table["TableArn"], IamRoleArn=role_arn)
    assert not run.resources("backup:recovery-point")
    steps = {(s.kind, s.name): s.outcome.result for s in cleanup.run_cleanup(clients, run)}
    assert steps[("backup:vault", vault)] == Result.DELETED
    assert vault not in {
        v["BackupVaultName"]
        for v in backup.get_paginator("list_backup_vaults").paginate().build_full_result()["BackupVaultList"]
    }


def scaling_everywhere(clients, run):
    """Scalable targets, policies and target-tracking alarms of the run's table, by region."""
    found = {}
    for region in run.params.regions:
        scaling, cloudwatch = clients.client("application-autoscaling", region), clients.client("cloudwatch", region)
        targets = (
            scaling.get_paginator("describe_scalable_targets")
            .paginate(ServiceNamespace="dynamodb")
            .build_full_result()["ScalableTargets"]
        )
        policies = (
            scaling.get_paginator("describe_scaling_policies")
            .paginate(ServiceNamespace="dynamodb")
            .build_full_result()["ScalingPolicies"]
        )
        alarms = (
            cloudwatch.get_paginator("describe_alarms")
            .paginate(AlarmNamePrefix=f"TargetTracking-table/{run.names.table_name}")
            .build_full_result()["MetricAlarms"]
        )
        found[region] = (
            sorted(t["ResourceId"] for t in targets if run.names.table_name in t["ResourceId"]),
            sorted(p["PolicyName"] for p in policies if run.names.table_name in p["ResourceId"]),
            len(alarms),
        )
    return found


def test_write_auto_scaling_is_removed_in_every_region(clients, new_run):
    run = new_run(regions=REGIONS, billing_mode="PROVISIONED")
    global_table(clients, run)
    before = scaling_everywhere(clients, run)
    assert all(targets and policies and alarms for targets, policies, alarms in before.values())
    cleanup.run_cleanup(clients, run)
    assert scaling_everywhere(clients, run) == {region: ([], [], 0) for region in REGIONS}
    assert nothing_left(clients, run)


def test_the_orphan_finder_removes_write_auto_scaling_in_every_region(clients, new_run, tmp_path):
    run = new_run(regions=REGIONS, billing_mode="PROVISIONED")
    global_table(clients, run)
    ensure_application_role(clients, run, "123456789012")
    for region in run.params.regions:
        ensure_alarms(clients, run, region, ensure_alarm_topic(clients, run, region))
        ensure_dashboard(clients, run, region)
    # A replica removed by hand leaves its region's scaling behind (AWS's ReplicationGroupUpdate reference).
    ddb = clients.client("dynamodb", "us-east-1")
    clients.client("dynamodb", "eu-west-1").update_table(
        TableName=run.names.table_name, DeletionProtectionEnabled=False
    )
    from globaltables.tables import wait_for_table

    wait_for_table(clients, "us-east-1", run.names.table_name, 30)
    ddb.update_table(TableName=run.names.table_name, ReplicaUpdates=[{"Delete": {"RegionName": "eu-west-1"}}])
    wait_for_table(clients, "us-east-1", run.names.table_name, 30)
    found = cleanup.orphans(clients, REGIONS)[run.run_id]
    resources = cleanup.resources_of_orphan_run(clients, REGIONS, found)
    assert {(r.kind, r.region) for r in resources if r.kind.startswith("application-autoscaling")} == {
        (kind, region)
        for kind in ("application-autoscaling:scalable-target", "application-autoscaling:scaling-policy")
        for region in REGIONS
    }
    cleanup.remove_orphan_run(clients, REGIONS, run.run_id, found, tmp_path / "scratch")
    assert scaling_everywhere(clients, run) == {region: ([], [], 0) for region in REGIONS}
    assert run.run_id not in cleanup.orphans(clients, REGIONS)


def test_a_replica_made_inaccessible_by_its_scheduled_key_is_still_removed(clients, new_run):
    """What the old cleanup left behind on AWS: the replica's key scheduled for deletion while the replica
    stayed, so the replica turned INACCESSIBLE_ENCRYPTION_CREDENTIALS. Waiting for ACTIVE would never end;
    the next cleanup removes the replica and the table all the same."""
    run = new_run(regions=REGIONS)
    global_table(clients, run)
    replica_region = run.params.replica_regions[0]
    [replica_key] = run.resources("kms:key", replica_region)
    clients.client("kms", replica_region).schedule_key_deletion(KeyId=replica_key.name, PendingWindowInDays=7)
    primary = clients.client("dynamodb", run.params.primary_region)
    [replica] = primary.describe_table(TableName=run.names.table_name)["Table"]["Replicas"]
    assert replica["ReplicaStatus"] == "INACCESSIBLE_ENCRYPTION_CREDENTIALS"
    steps = cleanup.run_cleanup(clients, run)
    outcomes = {(step.kind, step.region): step.outcome.result for step in steps}
    assert outcomes[("dynamodb:replica", replica_region)] == Result.DELETED
    assert outcomes[("dynamodb:table", run.params.primary_region)] == Result.DELETED
    assert outcomes[("kms:key", replica_region)] == Result.ALREADY_SCHEDULED
    assert nothing_left(clients, run)
