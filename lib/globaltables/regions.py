"""Whether the account may use the run's regions, checked in 00_setup before anything is created.

Regions launched after March 2019 (ap-east-1, me-south-1, af-south-1, eu-south-1, ap-southeast-3 and
later ones) are disabled until the account enables them, and every call there fails until then; a run
that discovers it in 02 leaves a half-built global table behind. So 00_setup asks first.

The question goes to the Account Management API (``GetRegionOptStatus``), not to EC2's
``DescribeRegions``: only the Account API tells a region that is still being enabled (``ENABLING``,
minutes to hours, unusable until ``ENABLED``) or disabled (``DISABLING``) apart from a usable one, and
its permission (``account:GetRegionOptStatus``) belongs to this question, while ``ec2:DescribeRegions``
would be the runbook's only EC2 permission. The Account API is global (one endpoint in us-east-1).

On the embedded AWS the check is skipped: it serves every region (opt-in is a setting of an AWS
account), moto implements no ``GetRegionOptStatus``, and its EC2 ``DescribeRegions`` reports af-south-1,
eu-south-1 and ap-southeast-3 as ``opt-in-not-required`` and no region as ``opted-in``, so asking it
would test nothing real.

It also holds AWS's multi-Region strong consistency (MRSC) region sets: a strong table's three regions
(replicas and witness) must all come from one of them, which params.py checks before any AWS call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import botocore.exceptions
from pydantic import BaseModel

from globaltables.errors import GlobalTablesError, RegionCheckDenied, aws_error_code, aws_error_message

if TYPE_CHECKING:  # params.py imports this module, and clients.py imports params.py
    from globaltables.clients import AwsClients

# RegionOptStatus values (Account Management API reference) under which the account can use a region.
USABLE = ("ENABLED", "ENABLED_BY_DEFAULT")
CONSOLE_PATH = "AWS console: your account name (top right) > Account > AWS Regions, select the Region, Enable"

# The region sets of multi-Region strong consistency, as AWS's API reference lists them
# (CreateGlobalTableWitnessGroupMemberAction; the developer guide's "How global tables work"): US East
# (N. Virginia), US East (Ohio), US West (Oregon); Europe (Ireland), (London), (Paris), (Frankfurt); Asia
# Pacific (Tokyo), (Seoul), (Osaka). An MRSC table cannot span two sets. The embedded AWS keeps its own
# copy of this table (it never imports the client library); a test compares the two.
MRSC_REGION_SETS: dict[str, tuple[str, ...]] = {
    "US": ("us-east-1", "us-east-2", "us-west-2"),
    "EU": ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
    "AP": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3"),
}


def mrsc_region_set(region: str) -> str | None:
    """The name of the MRSC region set ``region`` belongs to ("US", "EU", "AP"), or None."""
    return next((name for name, members in MRSC_REGION_SETS.items() if region in members), None)


class RegionStatus(BaseModel):
    region: str
    status: str  # ENABLED | ENABLING | DISABLING | DISABLED | ENABLED_BY_DEFAULT

    @property
    def usable(self) -> bool:
        return self.status in USABLE


class RegionCheck(BaseModel):
    """The outcome of ``check_regions_enabled``: each region's status, or why nothing was asked."""

    statuses: list[RegionStatus] = []
    skipped_because: str | None = None

    def __str__(self) -> str:
        if self.skipped_because:
            return f"region opt-in not checked: {self.skipped_because}"
        return "every region is enabled for the account: " + ", ".join(
            f"{s.region} ({s.status})" for s in self.statuses
        )


class RegionsNotEnabled(GlobalTablesError, RuntimeError):
    """Some regions of the run cannot be used by the account yet; carries their statuses and says,
    per region, what to do."""

    def __init__(self, statuses: list[RegionStatus]):
        self.statuses = statuses
        names = ", ".join(s.region for s in statuses)
        lines = [f"{names} cannot be used by this account yet; nothing has been created:"]
        lines += [f"  - {status.region}: {_what_to_do(status)}" for status in statuses]
        lines.append("  (or choose other regions: the regions parameter of 00_setup)")
        super().__init__("\n".join(lines))


def _what_to_do(status: RegionStatus) -> str:
    region = status.region
    check = f"`aws account get-region-opt-status --region-name {region}`"
    if status.status == "ENABLING":
        return (
            "being enabled (ENABLING): AWS is preparing the account there, which takes minutes and "
            f"sometimes hours, and the Region cannot be used until then; run again once {check} says ENABLED"
        )
    if status.status == "DISABLING":
        return (
            "being disabled (DISABLING): it can be enabled again only once that has finished "
            f"(DISABLED, see {check}); then enable it as for a disabled region"
        )
    return (
        f"not enabled ({status.status}): it is an opt-in Region. Enable it with "
        f"`aws account enable-region --region-name {region}` (needs account:EnableRegion) or in the "
        f"{CONSOLE_PATH}; enabling takes minutes, sometimes hours: run again once {check} says ENABLED"
    )


def region_opt_statuses(clients: AwsClients, regions: list[str]) -> list[RegionStatus]:
    """``GetRegionOptStatus`` of each region (the Account API's global endpoint; throttling is
    retried by the clients' standard retry mode)."""
    account = clients.client("account", regions[0])
    return [
        RegionStatus(region=region, status=account.get_region_opt_status(RegionName=region)["RegionOptStatus"])
        for region in regions
    ]


def check_regions_enabled(clients: AwsClients, regions: list[str]) -> RegionCheck:
    """On AWS, that the account can use every region of the run; on the embedded AWS, nothing.

    Raises RegionsNotEnabled naming each region that is DISABLED, ENABLING or DISABLING and what to
    do, and RegionCheckDenied when the caller may not read the status.
    """
    if clients.target == "local":
        return RegionCheck(skipped_because="the embedded AWS serves every region (opt-in is a setting of AWS accounts)")
    try:
        statuses = region_opt_statuses(clients, regions)
    except botocore.exceptions.ClientError as error:
        if aws_error_code(error) != "AccessDeniedException":
            raise
        raise RegionCheckDenied(regions, aws_error_message(error) or "access denied") from None
    unusable = [status for status in statuses if not status.usable]
    if unusable:
        raise RegionsNotEnabled(unusable)
    return RegionCheck(statuses=statuses)
