from globaltables.clients import AwsClients
from globaltables.identity import caller_identity
from globaltables.params import validate_params


def test_one_cached_client_per_service_and_region(clients):
    assert clients.client("dynamodb", "us-east-1") is clients.client("dynamodb", "us-east-1")
    assert clients.client("dynamodb", "us-east-1") is not clients.client("dynamodb", "eu-west-1")
    assert clients.client("dynamodb", "eu-west-1").meta.region_name == "eu-west-1"


def test_local_clients_use_dummy_credentials_standard_retries_and_the_endpoint(clients, embedded_aws):
    client = clients.client("sts", "ap-southeast-1")
    assert client.meta.endpoint_url == embedded_aws.endpoint
    assert client._request_signer._credentials.access_key == "testing"
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.connect_timeout == 5


def test_caller_identity_answers_on_the_embedded_aws(clients):
    identity = caller_identity(clients, "us-east-1")
    assert identity.account == "123456789012"
    assert identity.arn.startswith("arn:aws:")


def test_clients_for_params_follow_the_endpoint_parameter(embedded_aws):
    params = validate_params(endpoint_url=embedded_aws.endpoint)
    assert AwsClients.for_params(params).endpoint_url == embedded_aws.endpoint


def test_aws_target_uses_no_endpoint_override():
    clients = AwsClients("aws")
    client = clients.client("dynamodb", "eu-west-1")
    assert clients.endpoint_url is None
    assert client.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"
