"""Who is calling: STS caller identity, checked before anything is created."""

from __future__ import annotations

from pydantic import BaseModel

from globaltables.clients import AwsClients


class CallerIdentity(BaseModel):
    account: str
    arn: str
    user_id: str


def caller_identity(clients: AwsClients, region: str) -> CallerIdentity:
    """STS GetCallerIdentity in ``region``; raises botocore's error when credentials are missing or bad."""
    response = clients.client("sts", region).get_caller_identity()
    return CallerIdentity(account=response["Account"], arn=response["Arn"], user_id=response["UserId"])
