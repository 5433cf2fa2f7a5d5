import pytest
from globaltables.params import (
    DEFAULT_REGIONS,
    ParameterError,
    Params,
    load_params,
    parse_override,
    validate_params,
)

# Each bad input, the key the error must name, and words the fix must contain.
BAD_INPUTS = [
    ({"regoins": ["us-east-1", "eu-west-1"]}, "regoins", "did you mean 'regions'"),
    ({"regions": ["us-east-1", "us-east-1"]}, "regions", "listed twice"),
    ({"regions": ["us-east-1", "eu-west-1", "eu-west-1"]}, "regions", "listed twice"),
    ({"regions": ["us-east-1", "eu-wset-1"]}, "regions", "did you mean 'eu-west-1'"),
    ({"regions": ["us-east-1", "mars-north-1"]}, "regions", "unknown region"),
    ({"regions": ["us-east-1"]}, "regions", "2 to 6"),
    ({"regions": []}, "regions", "2 to 6"),
    (
        {"regions": ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3"]},
        "regions",
        "2 to 6",
    ),
    ({"table_name_prefix": "my table"}, "table_name_prefix", "3-255"),
    ({"table_name_prefix": "orders/2024"}, "table_name_prefix", "letters, digits"),
    ({"table_name_prefix": ""}, "table_name_prefix", "3-255"),
    ({"table_name_prefix": "x" * 249}, "table_name_prefix", "1-248"),
    ({"target": "aws"}, "confirm_costs", "confirm_costs: true"),
    ({"target": "aws", "confirm_costs": False}, "confirm_costs", "billable"),
    ({"target": "gcp"}, "target", "'local' or 'aws'"),
    ({"endpoint_url": "http://10.0.0.5:5000"}, "endpoint_url", "loopback"),
    ({"endpoint_url": "http://example.com:5000"}, "endpoint_url", "loopback"),
    ({"endpoint_url": "ftp://127.0.0.1:5000"}, "endpoint_url", "loopback"),
    ({"target": "aws", "confirm_costs": True, "endpoint_url": "http://127.0.0.1:5000"}, "endpoint_url", "local"),
    ({"run_id": "../escape"}, "run_id", "1-64 characters"),
    ({"run_id": "has space"}, "run_id", "1-64 characters"),
]


@pytest.mark.parametrize(("values", "key", "fix"), BAD_INPUTS)
def test_bad_parameter_is_refused_naming_key_value_and_fix(values, key, fix):
    with pytest.raises(ParameterError) as caught:
        validate_params(values)
    problem = next(p for p in caught.value.problems if p.key == key)
    assert fix in problem.allowed
    message = str(caught.value)
    assert f"parameter '{key}'" in message
    assert repr(problem.value) in message
    if key in values:
        assert problem.value == values[key]


def test_defaults_follow_the_recipe_regions():
    params = Params()
    assert params.target == "local"
    assert params.regions == DEFAULT_REGIONS == ["us-east-1", "eu-west-1", "ap-southeast-1"]
    assert params.primary_region == "us-east-1"
    assert params.replica_regions == ["eu-west-1", "ap-southeast-1"]


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:5000", "http://localhost:1234", "http://[::1]:80", None])
def test_loopback_endpoints_are_accepted(endpoint):
    assert validate_params(endpoint_url=endpoint).endpoint_url == endpoint


def test_aws_with_confirmation_is_accepted():
    params = validate_params(target="aws", confirm_costs=True, regions=["us-west-2", "eu-central-1"])
    assert params.target == "aws" and params.regions == ["us-west-2", "eu-central-1"]


def test_several_problems_are_reported_together():
    with pytest.raises(ParameterError) as caught:
        validate_params(regions=["us-east-1"], table_name_prefix="bad name", colour="blue")
    assert {p.key for p in caught.value.problems} == {"regions", "table_name_prefix", "colour"}
    assert str(caught.value).startswith("3 invalid parameters")


def test_overrides_parse_as_yaml():
    assert parse_override("regions=[us-east-1, eu-west-1]") == ("regions", ["us-east-1", "eu-west-1"])
    assert parse_override("confirm_costs=true") == ("confirm_costs", True)
    assert parse_override("table_name_prefix=orders") == ("table_name_prefix", "orders")
    with pytest.raises(ParameterError, match="key=value"):
        parse_override("regions")


def test_load_params_applies_overrides_over_the_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("target: local\nregions: [us-east-1, eu-west-1]\n")
    params = load_params(path, {"table_name_prefix": "orders"})
    assert params.regions == ["us-east-1", "eu-west-1"] and params.table_name_prefix == "orders"


def test_load_params_names_the_file_in_errors(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("regions: [us-east-1]\n")
    with pytest.raises(ParameterError, match=f"in {path}"):
        load_params(path)


@pytest.mark.parametrize(("content", "fix"), [("- a\n- b\n", "mapping"), ("a: [\n", "not valid YAML")])
def test_load_params_refuses_a_malformed_file(tmp_path, content, fix):
    path = tmp_path / "p.yaml"
    path.write_text(content)
    with pytest.raises(ParameterError, match=fix):
        load_params(path)


def test_load_params_refuses_a_missing_file(tmp_path):
    with pytest.raises(ParameterError, match="file not found"):
        load_params(tmp_path / "nope.yaml")


def test_shipped_parameter_files_are_valid_or_refused_for_the_right_reason():
    from globaltables.batch import PROJECT_DIR

    assert load_params(PROJECT_DIR / "params" / "local.yaml").target == "local"
    # The AWS example ships unconfirmed on purpose: it must be refused until the user opts in.
    with pytest.raises(ParameterError, match="confirm_costs"):
        load_params(PROJECT_DIR / "params" / "aws.example.yaml")
    assert load_params(PROJECT_DIR / "params" / "aws.example.yaml", {"confirm_costs": True}).target == "aws"
