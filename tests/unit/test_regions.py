"""The opt-in check of 00_setup, against the Account API's own answers (botocore's Stubber checks
each request and each answer against the Account service model) and against the embedded AWS."""

import pytest
from botocore.stub import Stubber
from globaltables.clients import AwsClients
from globaltables.regions import (
    RegionCheckDenied,
    RegionsNotEnabled,
    RegionStatus,
    check_regions_enabled,
)


@pytest.fixture
def aws_account():
    """Clients for target aws whose Account API answers come from a Stubber (no call leaves the machine)."""
    clients = AwsClients("aws")
    account = clients.client("account", "us-east-1")
    with Stubber(account) as stub:
        yield clients, stub
        stub.assert_no_pending_responses()


def answer(stub, region, status):
    stub.add_response(
        "get_region_opt_status",
        {"RegionName": region, "RegionOptStatus": status},
        {"RegionName": region},
    )


def test_enabled_and_default_regions_pass_with_their_status(aws_account):
    clients, stub = aws_account
    answer(stub, "us-east-1", "ENABLED_BY_DEFAULT")
    answer(stub, "ap-east-1", "ENABLED")
    check = check_regions_enabled(clients, ["us-east-1", "ap-east-1"])
    assert [(s.region, s.status) for s in check.statuses] == [
        ("us-east-1", "ENABLED_BY_DEFAULT"),
        ("ap-east-1", "ENABLED"),
    ]
    assert "ap-east-1 (ENABLED)" in str(check)


def test_disabled_and_enabling_regions_are_refused_naming_each_and_the_fix(aws_account):
    clients, stub = aws_account
    answer(stub, "us-east-1", "ENABLED_BY_DEFAULT")
    answer(stub, "me-south-1", "DISABLED")
    answer(stub, "af-south-1", "ENABLING")
    with pytest.raises(RegionsNotEnabled) as caught:
        check_regions_enabled(clients, ["us-east-1", "me-south-1", "af-south-1"])
    assert [s.region for s in caught.value.statuses] == ["me-south-1", "af-south-1"]
    message = str(caught.value)
    assert message.startswith("me-south-1, af-south-1 cannot be used by this account yet; nothing has been created")
    assert "us-east-1" not in message
    assert "`aws account enable-region --region-name me-south-1`" in message
    assert "Account > AWS Regions" in message
    # ENABLING is not usable yet: the fix is to wait, not to enable again.
    af_line = next(line for line in message.splitlines() if "af-south-1:" in line)
    assert "ENABLING" in af_line and "enable-region" not in af_line
    assert "get-region-opt-status --region-name af-south-1" in af_line


def test_a_region_being_disabled_is_refused_with_its_own_advice():
    message = str(RegionsNotEnabled([RegionStatus(region="eu-south-1", status="DISABLING")]))
    assert "eu-south-1: being disabled (DISABLING)" in message
    assert "only once that has finished" in message


def test_a_caller_without_the_read_permission_is_told_which_one(aws_account):
    clients, stub = aws_account
    stub.add_client_error(
        "get_region_opt_status",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:iam::123456789012:user/u is not authorized to perform: account:GetRegionOptStatus",
        http_status_code=403,
        expected_params={"RegionName": "us-east-1"},
    )
    with pytest.raises(RegionCheckDenied) as caught:
        check_regions_enabled(clients, ["us-east-1", "eu-west-1"])
    assert "Allow the read-only action account:GetRegionOptStatus" in str(caught.value)
    assert "us-east-1, eu-west-1" in str(caught.value)


def test_on_the_embedded_aws_the_check_is_skipped_and_says_why(clients):
    # moto has no GetRegionOptStatus: a call would fail, so passing proves none was made.
    check = check_regions_enabled(clients, ["us-east-1", "af-south-1"])
    assert check.statuses == []
    assert str(check) == (
        "region opt-in not checked: the embedded AWS serves every region (opt-in is a setting of AWS accounts)"
    )
