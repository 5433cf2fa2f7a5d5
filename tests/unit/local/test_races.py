"""Races AWS has and the embedded AWS now reproduces (issue 14): PITR refused right after ACTIVE, a new
replica not listed at once, a table UPDATING after a deletion-protection change, a new role AWS Backup
cannot assume yet, restore without tags, and tables whose KMS key is unusable."""

import time

import pytest
from globaltables.local.replication.models import Timing

from tests.unit.local.helpers import (
    add_replica,
    create_table,
    error_of,
    item,
    listed,
    poll,
    table_names,
    unique_name,
    wait_global_table_active,
)

EAST, WEST = "us-east-1", "eu-west-1"
INACCESSIBLE = "INACCESSIBLE_ENCRYPTION_CREDENTIALS"
PITR_ON = {"PointInTimeRecoveryEnabled": True}


@pytest.fixture
def timing(admin):
    """Set the embedded AWS's timing for one test; back to fast after it."""
    yield lambda text: admin.configure(timing=text)
    admin.configure(timing="fast", replica_transition_s=0.1)


@pytest.fixture
def ddb(clients):
    return {region: clients.client("dynamodb", region) for region in (EAST, WEST)}


def status(client, name):
    return client.describe_table(TableName=name)["Table"]["TableStatus"]


def replica_statuses(client, name):
    return {r["RegionName"]: r["ReplicaStatus"] for r in client.describe_table(TableName=name)["Table"]["Replicas"]}


def test_realistic_timing_has_every_race_and_fast_has_none():
    realistic, fast = Timing.parse("realistic"), Timing.parse("fast")
    races = ("pitr_unavailable_s", "role_propagation_s", "protection_update_s", "replica_listing_lag_s")
    assert all(getattr(realistic, race) > 0 for race in (*races, "key_inaccessible_s"))
    assert all(getattr(fast, race) == 0 for race in (*races, "key_inaccessible_s"))
    assert Timing.parse("fast,key_inaccessible=3").key_inaccessible_s == 3


def test_pitr_and_backups_are_refused_for_a_while_after_a_table_turns_active(ddb, timing):
    timing("fast,pitr_unavailable=3")
    name = create_table(ddb[EAST])
    refusal = error_of(ddb[EAST].update_continuous_backups, TableName=name, PointInTimeRecoverySpecification=PITR_ON)
    assert refusal["Code"] == "ContinuousBackupsUnavailableException"
    assert refusal["Message"] == f"Backups are being enabled for the table: {name}. Please retry later"
    assert error_of(ddb[EAST].create_backup, TableName=name, BackupName="bak")["Code"] == refusal["Code"]
    assert status(ddb[EAST], name) == "ACTIVE"  # DescribeTable does not tell

    def enabled():
        try:
            ddb[EAST].update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=PITR_ON)
        except ddb[EAST].exceptions.ContinuousBackupsUnavailableException:
            return False
        return True

    poll(enabled, timeout=10, interval=0.1, what="PITR accepted")


def test_pitr_of_a_new_replica_is_refused_for_a_while_after_it_turns_active(ddb, timing):
    name = create_table(ddb[EAST])
    timing("fast,pitr_unavailable=3,create_replica=0.2")
    add_replica(ddb[EAST], name, WEST)
    refusal = error_of(ddb[WEST].update_continuous_backups, TableName=name, PointInTimeRecoverySpecification=PITR_ON)
    assert refusal["Code"] == "ContinuousBackupsUnavailableException"
    # The source table was created before: its PITR is available.
    ddb[EAST].update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=PITR_ON)


def test_a_new_replica_is_not_listed_at_first_and_the_table_looks_settled(ddb, timing):
    name = create_table(ddb[EAST])
    timing("fast,replica_listing_lag=3,create_replica=2")  # under way long enough for the checks below
    ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    table = ddb[EAST].describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE" and "Replicas" not in table or table["Replicas"] == []
    assert status(ddb[WEST], name) in ("CREATING", "ACTIVE")  # the replica's own table exists
    # A second replica change meanwhile is refused: the change is under way.
    refusal = error_of(ddb[EAST].update_table, TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    assert refusal["Code"] == "ResourceInUseException"
    poll(lambda: replica_statuses(ddb[EAST], name).get(WEST) == "ACTIVE", timeout=10, what="replica listed")


def test_a_deletion_protection_change_leaves_the_table_updating(ddb, timing):
    timing("fast,protection_update=3")
    name = create_table(ddb[EAST])
    answer = ddb[EAST].update_table(TableName=name, DeletionProtectionEnabled=True)["TableDescription"]
    assert answer["DeletionProtectionEnabled"] is True
    assert status(ddb[EAST], name) == "UPDATING"
    refusal = error_of(ddb[EAST].update_table, TableName=name, DeletionProtectionEnabled=False)
    assert refusal["Code"] == "ResourceInUseException"
    ddb[EAST].put_item(TableName=name, Item=item("still-served"))  # UPDATING tables serve reads and writes
    poll(lambda: status(ddb[EAST], name) == "ACTIVE", timeout=10, what="ACTIVE again")
    ddb[EAST].update_table(TableName=name, DeletionProtectionEnabled=False)
    assert error_of(ddb[EAST].delete_table, TableName=name)["Code"] == "ResourceInUseException"
    poll(lambda: status(ddb[EAST], name) == "ACTIVE", timeout=10, what="ACTIVE again")
    ddb[EAST].delete_table(TableName=name)


def test_a_deletion_protection_change_in_one_region_leaves_the_others_active(ddb, timing):
    name = create_table(ddb[EAST])
    add_replica(ddb[EAST], name, WEST)
    timing("fast,protection_update=3")
    ddb[WEST].update_table(TableName=name, DeletionProtectionEnabled=True)
    assert status(ddb[WEST], name) == "UPDATING"
    assert status(ddb[EAST], name) == "ACTIVE"


def test_restored_tables_carry_no_tags(ddb):
    name = create_table(ddb[EAST], Tags=[{"Key": "owner", "Value": "me"}])
    ddb[EAST].update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=PITR_ON)
    by_time = ddb[EAST].restore_table_to_point_in_time(
        SourceTableName=name, TargetTableName=f"{name}-pitr", UseLatestRestorableTime=True
    )["TableDescription"]
    backup = ddb[EAST].create_backup(TableName=name, BackupName="bak")["BackupDetails"]["BackupArn"]
    from_backup = ddb[EAST].restore_table_from_backup(TargetTableName=f"{name}-bak", BackupArn=backup)[
        "TableDescription"
    ]
    source_arn = ddb[EAST].describe_table(TableName=name)["Table"]["TableArn"]
    assert ddb[EAST].list_tags_of_resource(ResourceArn=source_arn)["Tags"] == [{"Key": "owner", "Value": "me"}]
    for restored in (by_time, from_backup):
        assert ddb[EAST].list_tags_of_resource(ResourceArn=restored["TableArn"])["Tags"] == []


# ----- a new IAM role and AWS Backup -----------------------------------------------------------------


@pytest.fixture
def backup_setup(clients):
    """A table, a vault and a role AWS Backup may assume, made just now; the role's ARN and the table's."""
    iam, backup = clients.client("iam", EAST), clients.client("backup", EAST)
    name = create_table(clients.client("dynamodb", EAST))
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    role = iam.create_role(RoleName=unique_name("role"), AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    vault = unique_name("vault")
    backup.create_backup_vault(BackupVaultName=vault)
    table_arn = clients.client("dynamodb", EAST).describe_table(TableName=name)["Table"]["TableArn"]
    return backup, vault, role, table_arn


def test_a_backup_job_with_a_role_made_seconds_ago_ends_failed(backup_setup, timing):
    backup, vault, role, table_arn = backup_setup
    timing("fast,role_propagation=30")
    started = backup.start_backup_job(BackupVaultName=vault, ResourceArn=table_arn, IamRoleArn=role)
    job = backup.describe_backup_job(BackupJobId=started["BackupJobId"])
    assert job["State"] == "FAILED"
    assert job["StatusMessage"] == f"IAM Role {role} cannot be assumed by AWS Backup"
    assert listed(backup, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=vault) == []
    plan = backup.create_backup_plan(
        BackupPlan={"BackupPlanName": unique_name("plan"), "Rules": [{"RuleName": "r", "TargetBackupVaultName": vault}]}
    )["BackupPlanId"]
    refusal = error_of(
        backup.create_backup_selection,
        BackupPlanId=plan,
        BackupSelection={"SelectionName": "s", "IamRoleArn": role, "Resources": [table_arn]},
    )
    assert refusal["Code"] == "InvalidParameterValueException"
    assert refusal["Message"] == f"IAM Role {role} cannot be assumed by AWS Backup"


def test_a_backup_job_with_an_older_role_completes(backup_setup, timing):
    backup, vault, role, table_arn = backup_setup
    timing("fast,role_propagation=0.5")
    time.sleep(0.6)  # the role's age is the point of this test
    started = backup.start_backup_job(BackupVaultName=vault, ResourceArn=table_arn, IamRoleArn=role)
    assert backup.describe_backup_job(BackupJobId=started["BackupJobId"])["State"] == "COMPLETED"


# ----- a table's or replica's KMS key unusable -------------------------------------------------------


@pytest.fixture
def keyed_global_table(clients, ddb):
    """A global table (EAST, WEST) with a customer managed key in each region: the name and the keys."""
    keys = {region: clients.client("kms", region).create_key()["KeyMetadata"]["Arn"] for region in (EAST, WEST)}
    sse = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": keys[EAST]}
    name = create_table(ddb[EAST], SSESpecification=sse)
    add_replica(ddb[EAST], name, WEST, KMSMasterKeyId=keys[WEST])
    return name, keys


def test_a_replica_whose_key_is_disabled_is_inaccessible_until_the_key_is_enabled(clients, ddb, keyed_global_table):
    name, keys = keyed_global_table
    kms = clients.client("kms", WEST)
    kms.disable_key(KeyId=key_id(keys[WEST]))
    assert replica_statuses(ddb[EAST], name) == {WEST: INACCESSIBLE}
    west = ddb[WEST].describe_table(TableName=name)["Table"]
    assert west["TableStatus"] == INACCESSIBLE
    assert "InaccessibleEncryptionDateTime" in west["SSEDescription"]
    assert west["SSEDescription"]["KMSMasterKeyArn"] == keys[WEST]
    assert status(ddb[EAST], name) == "ACTIVE"  # the other replica's key is fine
    kms.enable_key(KeyId=key_id(keys[WEST]))
    wait_global_table_active(ddb[EAST], name)
    west = ddb[WEST].describe_table(TableName=name)["Table"]
    assert west["TableStatus"] == "ACTIVE" and "InaccessibleEncryptionDateTime" not in west["SSEDescription"]


def test_a_key_pending_deletion_makes_its_table_inaccessible_until_cancelled_and_enabled(
    clients, ddb, keyed_global_table
):
    name, keys = keyed_global_table
    kms = clients.client("kms", EAST)
    kms.schedule_key_deletion(KeyId=key_id(keys[EAST]), PendingWindowInDays=7)
    assert status(ddb[EAST], name) == INACCESSIBLE
    assert replica_statuses(ddb[WEST], name) == {EAST: INACCESSIBLE}
    kms.cancel_key_deletion(KeyId=key_id(keys[EAST]))  # AWS leaves a cancelled key Disabled
    assert status(ddb[EAST], name) == INACCESSIBLE
    kms.enable_key(KeyId=key_id(keys[EAST]))
    assert status(ddb[EAST], name) == "ACTIVE"


def test_a_key_loss_is_seen_after_the_timing_delay(clients, ddb, keyed_global_table, timing):
    name, keys = keyed_global_table
    timing("fast,key_inaccessible=1")
    clients.client("kms", WEST).disable_key(KeyId=key_id(keys[WEST]))
    assert status(ddb[WEST], name) == "ACTIVE"
    poll(lambda: status(ddb[WEST], name) == INACCESSIBLE, timeout=5, what="replica inaccessible")
    clients.client("kms", WEST).enable_key(KeyId=key_id(keys[WEST]))


def test_an_inaccessible_replica_can_still_be_removed(clients, ddb, keyed_global_table):
    name, keys = keyed_global_table
    clients.client("kms", WEST).disable_key(KeyId=key_id(keys[WEST]))
    ddb[EAST].update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    poll(lambda: name not in table_names(ddb[WEST]), what="replica deleted")


def key_id(arn):
    """The key id of a key ARN: moto 5.2.5's DisableKey and EnableKey fail (HTTP 500) on an ARN."""
    return arn.rsplit("/", 1)[-1]
