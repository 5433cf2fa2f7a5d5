"""Every resource name a run derives from the prefix follows its service's rules, for any prefix the
schema accepts and any regions; and the schema refuses exactly the prefixes that would break one."""

import botocore.session
import pytest
from globaltables import names
from globaltables.names import (
    BACKUP_VAULT,
    CLOUDWATCH_ALARM,
    DYNAMODB_TABLE,
    IAM_POLICY,
    IAM_ROLE,
    KMS_ALIAS,
    LOG_GROUP,
    SCALING_POLICY,
    derive_names,
    every_name,
    random_suffix,
    worst_case_regions,
)
from globaltables.params import PREFIX_MAX_LENGTH, ParameterError, known_regions, validate_params
from hypothesis import given, settings
from hypothesis import strategies as st

# Mostly the characters a prefix may hold, with some that no service takes.
PREFIX_CHARACTERS = st.sampled_from("abcXYZ019_-" * 4 + "./ :#+@é")
prefixes = st.one_of(
    st.text(PREFIX_CHARACTERS, max_size=12),
    st.builds(lambda n, c: c * n, st.integers(PREFIX_MAX_LENGTH - 3, PREFIX_MAX_LENGTH + 3), st.sampled_from("a-_.")),
)
region_lists = st.lists(st.sampled_from(known_regions()), min_size=2, max_size=6, unique=True)


def accepted(prefix: str) -> bool:
    try:
        validate_params(table_name_prefix=prefix)
    except ParameterError as error:
        assert [p.key for p in error.problems] == ["table_name_prefix"]
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(prefix=prefixes, regions=region_lists)
def test_every_name_of_an_accepted_prefix_follows_its_services_rules(prefix, regions):
    if not accepted(prefix):
        return
    run_names = derive_names(prefix, random_suffix())
    for rule, name in every_name(run_names, regions):
        assert rule.problem(name) is None, (rule.kind, name)


@settings(max_examples=300, deadline=None)
@given(prefix=prefixes)
def test_a_refused_prefix_breaks_a_rule_in_some_regions(prefix):
    if accepted(prefix) or not prefix:
        return
    table = f"{prefix}-{names.PLACEHOLDER_SUFFIX}"
    base = derive_names("p", names.PLACEHOLDER_SUFFIX).model_dump()
    run_names = names.ResourceNames(**{**base, "table_name": table})
    broken = [name for rule, name in every_name(run_names, worst_case_regions(known_regions())) if rule.problem(name)]
    assert broken


def test_a_dot_in_the_prefix_is_refused_naming_the_topic_its_rule_and_the_fix():
    with pytest.raises(ParameterError) as caught:
        validate_params(table_name_prefix="orders.v2")
    [problem] = caught.value.problems
    assert problem.key == "table_name_prefix" and problem.value == "orders.v2"
    assert problem.allowed.startswith(
        "makes the SNS topic name 'orders.v2-xxxxxx-alarms', which contains '.'; SNS topic names allow only "
        "letters, digits, - and _ (the CloudWatch dashboard name too); use - or _ instead of ."
    )


def test_the_longest_prefix_fits_the_latency_alarm_of_the_longest_regions_exactly():
    longest = "p" * PREFIX_MAX_LENGTH
    validate_params(table_name_prefix=longest)
    run_names = derive_names(longest)
    first, second = worst_case_regions(known_regions())
    assert len(run_names.alarm_name("ReplicationLatency", first, second)) == CLOUDWATCH_ALARM.max_length
    assert len(run_names.restored_table_name) <= DYNAMODB_TABLE.max_length
    with pytest.raises(ParameterError) as caught:
        validate_params(table_name_prefix=longest + "p")
    assert "CloudWatch alarm name" in str(caught.value)
    assert f"use at most {PREFIX_MAX_LENGTH} characters" in str(caught.value)


def test_every_name_carries_the_suffix_the_orphan_finder_looks_for():
    run_names = derive_names("global-app-data", "abc123")
    assert all("abc123" in name for _, name in every_name(run_names, ["us-east-1", "eu-west-1"]))


def test_names_of_a_run_are_those_the_recipe_used():
    run_names = derive_names("global-app-data", "abc123")
    assert run_names.topic_name == "global-app-data-abc123-alarms"
    assert run_names.restored_table_name == "global-app-data-abc123-restored"
    assert run_names.dashboard_name("eu-west-1") == "global-app-data-abc123-eu-west-1"
    assert (
        run_names.alarm_name("WriteThrottleEvents", "eu-west-1")
        == "global-app-data-abc123-WriteThrottleEvents-eu-west-1"
    )
    assert (
        run_names.alarm_name("ReplicationLatency", "eu-west-1", "us-east-1")
        == "global-app-data-abc123-ReplicationLatency-eu-west-1-to-us-east-1"
    )
    assert run_names.log_group_name == "/aws/lambda/global-table-test-abc123"
    assert run_names.backup_role_name == "GlobalTableBackupRole-abc123"
    assert run_names.backup_selection_name == "table-abc123"


def test_the_table_scaling_policy_carries_the_table_name_once():
    run_names = derive_names("t", "abc123")
    assert run_names.scaling_policy_name("table/t-abc123") == "t-abc123-write-table"
    assert run_names.scaling_policy_name("table/t-abc123/index/GSI1") == "t-abc123-write-GSI1"


# Where botocore's model of a service states a bound, our rule must not allow more than it.
MODEL_BOUNDS = [
    (DYNAMODB_TABLE, "dynamodb", "RestoreTableToPointInTime", "TargetTableName"),
    (CLOUDWATCH_ALARM, "cloudwatch", "PutMetricAlarm", "AlarmName"),
    (IAM_ROLE, "iam", "CreateRole", "RoleName"),
    (IAM_POLICY, "iam", "CreatePolicy", "PolicyName"),
    (KMS_ALIAS, "kms", "CreateAlias", "AliasName"),
    (LOG_GROUP, "logs", "CreateLogGroup", "logGroupName"),
    (SCALING_POLICY, "application-autoscaling", "PutScalingPolicy", "PolicyName"),
]


@pytest.mark.parametrize(("rule", "service", "operation", "member"), MODEL_BOUNDS)
def test_rules_stay_within_the_bounds_of_the_service_models(rule, service, operation, member):
    shape = (
        botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape.members[member]
    )
    assert rule.max_length <= shape.metadata["max"]
    assert rule.min_length >= shape.metadata.get("min", 0)


def test_the_backup_vault_rule_is_the_pattern_of_the_service_model():
    shape = (
        botocore.session.get_session()
        .get_service_model("backup")
        .operation_model("CreateBackupVault")
        .input_shape.members["BackupVaultName"]
    )
    assert shape.metadata["pattern"] == r"^[a-zA-Z0-9\-\_]{2,50}$"
    assert (BACKUP_VAULT.min_length, BACKUP_VAULT.max_length) == (2, 50)
