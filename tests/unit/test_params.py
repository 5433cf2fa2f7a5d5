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
    (
        {"table_name_prefix": "my table"},
        "table_name_prefix",
        "DynamoDB table name 'my table-xxxxxx', which contains ' '",
    ),
    ({"table_name_prefix": "orders/2024"}, "table_name_prefix", "remove '/': use only letters, digits, - and _"),
    ({"table_name_prefix": ""}, "table_name_prefix", "the prefix is empty; give 1 to 196"),
    ({"table_name_prefix": "a.b"}, "table_name_prefix", "SNS topic name 'a.b-xxxxxx-alarms'"),
    ({"table_name_prefix": "x" * 197}, "table_name_prefix", "use at most 196 characters"),
    ({"table_name_prefix": "x" * 249}, "table_name_prefix", "CloudWatch alarm name"),
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


# ----- strict types: YAML true is not 1, "5" is not 5 -------------------------------------------------


def _problem(values):
    with pytest.raises(ParameterError) as caught:
        validate_params(values)
    (problem,) = caught.value.problems
    assert "\n" not in str(problem)
    return problem


def test_boolean_is_not_a_count():
    _, value = parse_override("item_count=true")
    problem = _problem({"item_count": value})
    assert str(problem) == (
        "parameter 'item_count' = True: a whole number from 1 to 10000000; true/false is not a number"
    )


def test_quoted_number_is_text_not_a_count():
    _, value = parse_override('item_count="5"')
    assert value == "5"
    problem = _problem({"item_count": value})
    assert problem.key == "item_count" and "a whole number from 1 to 10000000" in problem.allowed
    assert "without quotes" in problem.allowed


def test_decimal_point_makes_a_number_that_is_not_a_count():
    assert "without a decimal point" in _problem({"writer_threads": 4.0}).allowed


@pytest.mark.parametrize("value", [True, False, "100"])
def test_boolean_or_text_is_not_a_rate(value):
    problem = _problem({"load_rate_per_s": value})
    assert problem.allowed.startswith("a number above 0 and at most 100000; ")


def test_a_whole_number_is_a_rate():
    params = validate_params(load_rate_per_s=100, load_duration_s=5, conflict_delays_ms=[0, 400])
    assert params.load_rate_per_s == 100.0 and isinstance(params.load_rate_per_s, float)
    assert params.conflict_delays_ms == [0.0, 400.0]


@pytest.mark.parametrize("key", ["confirm_costs", "confirm_cleanup"])
@pytest.mark.parametrize("value", ["yes", "true", 1, 0])
def test_a_switch_takes_only_true_or_false(key, value):
    assert _problem({key: value}).allowed.startswith("true or false; ")
    assert getattr(validate_params({key: True}), key) is True


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"conflict_delays_ms": [0, True]}, "item 2 (True) is refused: true/false is not a number"),
        ({"conflict_delays_ms": ["400"]}, "item 1 ('400') is refused: text is not a number"),
        ({"conflict_delays_ms": 400}, "write a list in brackets"),
        ({"regions": ["us-east-1", 2]}, "item 2 (2) is refused: YAML reads that as a number; quote it"),
        ({"regions": "us-east-1"}, "write a list in brackets"),
    ],
)
def test_list_items_have_the_right_type(values, words):
    (key,) = values
    problem = _problem(values)
    assert problem.key == key and words in problem.allowed


# ----- finite numbers with upper bounds ---------------------------------------------------------------

FLOAT_KEYS = [name for name, field in Params.model_fields.items() if field.annotation is float]
INT_KEYS = [name for name, field in Params.model_fields.items() if field.annotation is int]


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_number_is_refused(key, value):
    problem = _problem({key: value})
    assert problem.key == key and "it must be finite" in problem.allowed


def test_yaml_infinity_is_refused_as_a_timeout():
    _, value = parse_override("wait_timeout_s=.inf")
    assert "finite" in _problem({"wait_timeout_s": value}).allowed


def _upper_bound(key):
    return next(m.le for m in Params.model_fields[key].metadata if getattr(m, "le", None) is not None)


@pytest.mark.parametrize("key", FLOAT_KEYS + INT_KEYS)
def test_every_number_has_an_upper_bound_stated_in_its_description(key):
    bound = _upper_bound(key)
    written = str(int(bound)) if float(bound).is_integer() else f"{bound:g}"
    assert written in Params.model_fields[key].description


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("load_rate_per_s", 100_001, "a number above 0 and at most 100000"),
        ("wait_timeout_s", 86_401, "a number above 0 and at most 86400"),
        ("replication_alarm_ms", 3_600_001, "a number above 0 and at most 3600000"),
        ("throttle_alarm_events", 1_000_001, "a whole number from 0 to 1000000"),
        ("data_seed", 2**32, "a whole number from 0 to 4294967295"),
        ("data_seed", -1, "a whole number from 0 to 4294967295"),
    ],
)
def test_an_absurd_number_is_refused_naming_the_range(key, value, allowed):
    assert _problem({key: value}).allowed == allowed


def test_the_bounds_themselves_are_accepted():
    params = validate_params(
        load_rate_per_s=100_000,
        wait_timeout_s=86_400,
        replication_alarm_ms=3_600_000,
        throttle_alarm_events=1_000_000,
        data_seed=2**32 - 1,
        conflict_delays_ms=[0] * 9 + [60_000],
    )
    assert params.data_seed == 4294967295 and params.conflict_delays_ms[-1] == 60_000


@pytest.mark.parametrize(
    ("delays", "words"),
    [
        ([-400], "item 1 (-400) is out of range"),
        ([], "got 0"),
        ([0] * 11, "got 11"),
        ([0, 60_001], "item 2 (60001) is out of range"),
        ([0, float("inf")], "must be finite"),
    ],
)
def test_conflict_delays_are_one_to_ten_finite_delays_of_at_most_a_minute(delays, words):
    problem = _problem({"conflict_delays_ms": delays})
    assert problem.key == "conflict_delays_ms"
    assert problem.allowed.startswith("a list of 1 to 10 values, each a number from 0 to 60000; ")
    assert words in problem.allowed


# ----- files and overrides that cannot be read ----------------------------------------------------------


def _one_line_about(option, caught):
    (problem,) = caught.value.problems
    assert problem.key == option and "\n" not in problem.allowed
    assert "Traceback" not in str(caught.value)
    return problem.allowed


def test_params_naming_a_directory_is_refused_in_one_line(tmp_path):
    with pytest.raises(ParameterError) as caught:
        load_params(tmp_path)
    assert "is a directory; give a YAML file" in _one_line_about("--params", caught)


def test_unreadable_params_file_is_refused_in_one_line(tmp_path, monkeypatch):
    path = tmp_path / "p.yaml"
    path.write_text("target: local\n")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(path), "read_text", denied)
    with pytest.raises(ParameterError) as caught:
        load_params(path)
    assert "permission denied; make the file readable" in _one_line_about("--params", caught)


def test_params_file_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"target: \xff\xfe local\n")
    with pytest.raises(ParameterError) as caught:
        load_params(path)
    assert "not UTF-8 text" in _one_line_about("--params", caught)


def test_invalid_yaml_in_params_file_is_reported_in_one_line_with_its_place(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("regions: [us-east-1\n")
    with pytest.raises(ParameterError) as caught:
        load_params(path)
    assert "not valid YAML" in _one_line_about("--params", caught)
    assert "line 2, column 1" in str(caught.value)


def test_unclosed_list_in_override_is_refused_naming_the_option():
    with pytest.raises(ParameterError) as caught:
        parse_override("regions=[us-east-1")
    allowed = _one_line_about("-p regions", caught)
    assert "not valid YAML" in allowed and "e.g. -p regions=[us-east-1,eu-west-1]" in allowed
    assert "parameter '-p regions' = '[us-east-1'" in str(caught.value)


# ----- strong consistency (MRSC): three regions of one AWS region set ---------------------------------

STRONG = {"consistency": "strong"}
US_PAIR = ["us-east-1", "us-east-2"]
# Each strong refusal: the values, the key named, the words of the fix (the set of each region and a
# valid choice where the regions are the problem).
STRONG_REFUSALS = [
    (
        {**STRONG, "regions": US_PAIR},
        "regions",
        "exactly three regions: three in regions, or two in regions plus witness_region; got 2 regions and no "
        "witness; e.g. regions: [us-east-1, us-east-2], witness_region: us-west-2 "
        "(or regions: [us-east-1, us-east-2, us-west-2])",
    ),
    (
        {**STRONG, "regions": ["us-east-1", "us-east-2", "us-west-2"], "witness_region": "eu-west-1"},
        "regions",
        "got 3 regions and a witness",
    ),
    (
        {**STRONG, "regions": ["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"]},
        "regions",
        "got 4 regions and no witness; e.g. regions: [eu-west-1, eu-west-2], witness_region: eu-west-3",
    ),
    (
        {**STRONG},  # the default regions: us-east-1, eu-west-1, ap-southeast-1
        "regions",
        "here us-east-1 in the US set, eu-west-1 in the EU set, ap-southeast-1 in no MRSC region set; "
        "e.g. regions: [us-east-1, us-east-2, us-west-2]",
    ),
    (
        {**STRONG, "regions": ["us-east-1", "eu-west-1"], "witness_region": "us-west-2"},
        "regions",
        "us-east-1 in the US set, eu-west-1 in the EU set, us-west-2 in the US set; "
        "e.g. regions: [us-east-1, us-east-2], witness_region: us-west-2",
    ),
    (
        {**STRONG, "regions": ["us-west-1", "us-east-1"], "witness_region": "us-west-2"},
        "regions",
        "us-west-1 in no MRSC region set",
    ),
    (
        {**STRONG, "regions": US_PAIR, "witness_region": "eu-west-1"},
        "witness_region",
        "us-east-1 in the US set, us-east-2 in the US set, eu-west-1 in the EU set; "
        "e.g. regions: [us-east-1, us-east-2], witness_region: us-west-2",
    ),
    (
        {**STRONG, "regions": ["ap-northeast-1", "ap-northeast-2"], "witness_region": "ap-southeast-1"},
        "witness_region",
        "e.g. regions: [ap-northeast-1, ap-northeast-2], witness_region: ap-northeast-3",
    ),
    (
        {**STRONG, "regions": US_PAIR, "witness_region": "us-east-2"},
        "witness_region",
        "the witness is a third region, not one of the replicas' (regions: [us-east-1, us-east-2]); "
        "e.g. regions: [us-east-1, us-east-2], witness_region: us-west-2",
    ),
    (
        {"regions": US_PAIR, "witness_region": "us-west-2"},
        "witness_region",
        "a witness belongs to a strong (MRSC) table only: set consistency: strong",
    ),
    ({**STRONG, "regions": US_PAIR, "witness_region": "us-wset-2"}, "witness_region", "did you mean 'us-west-2'"),
    ({"consistency": "linearizable"}, "consistency", "'eventual' or 'strong'"),
]


@pytest.mark.parametrize(("values", "key", "fix"), STRONG_REFUSALS)
def test_a_strong_table_outside_one_mrsc_region_set_is_refused_naming_each_regions_set(values, key, fix):
    with pytest.raises(ParameterError) as caught:
        validate_params(values)
    (problem,) = caught.value.problems
    assert problem.key == key
    assert fix in problem.allowed
    assert "\n" not in str(problem)


@pytest.mark.parametrize(
    ("regions", "witness"),
    [
        (["us-east-1", "us-east-2"], "us-west-2"),
        (["us-west-2", "us-east-1", "us-east-2"], None),
        (["eu-central-1", "eu-west-3"], "eu-west-1"),
        (["eu-west-2", "eu-west-1", "eu-central-1"], None),
        (["ap-northeast-3", "ap-northeast-1"], "ap-northeast-2"),
    ],
)
def test_three_regions_of_one_set_make_a_strong_table(regions, witness):
    params = validate_params({**STRONG, "regions": regions, "witness_region": witness})
    assert params.member_regions == [*regions, *([witness] if witness else [])]
    assert params.replica_regions == regions[1:]


def test_a_replication_alarm_threshold_on_a_strong_table_is_refused_not_ignored():
    with pytest.raises(ParameterError, match="replication_alarm_ms.*publishes no ReplicationLatency"):
        validate_params({**STRONG, "regions": US_PAIR, "witness_region": "us-west-2", "replication_alarm_ms": 777})
    default = {**STRONG, "regions": US_PAIR, "witness_region": "us-west-2", "replication_alarm_ms": 1000}
    assert validate_params(default).consistency == "strong"
    assert validate_params({"replication_alarm_ms": 777}).replication_alarm_ms == 777


def test_an_empty_witness_is_no_witness():
    assert validate_params({"witness_region": ""}).witness_region is None
    assert validate_params({"regions": US_PAIR}).member_regions == US_PAIR


def test_every_mrsc_region_is_a_dynamodb_region():
    from globaltables.params import known_regions
    from globaltables.regions import MRSC_REGION_SETS, mrsc_region_set

    for name, members in MRSC_REGION_SETS.items():
        assert all(region in known_regions() and mrsc_region_set(region) == name for region in members)
    assert mrsc_region_set("us-west-1") is None


def test_a_manifest_recorded_under_other_region_sets_still_opens():
    from globaltables.params import RECORDED

    recorded = {**STRONG, "regions": ["us-east-1", "eu-west-1"], "witness_region": "us-west-2"}
    assert Params.model_validate(recorded, context={RECORDED: True}).consistency == "strong"
    with pytest.raises(ValueError, match="exactly three regions"):  # the shape is still checked
        Params.model_validate({**recorded, "witness_region": None}, context={RECORDED: True})


def test_the_shipped_strong_parameters_make_a_strong_table_with_a_witness():
    from globaltables.batch import PROJECT_DIR

    params = load_params(PROJECT_DIR / "params" / "strong.yaml")
    assert (params.target, params.consistency) == ("local", "strong")
    assert (params.regions, params.witness_region) == (["us-east-1", "us-east-2"], "us-west-2")


def test_consistency_and_witness_are_set_for_02_and_fixed_once_the_run_made_resources():
    from globaltables.params import FIXED_ONCE_CREATED, parameter_notebook

    assert parameter_notebook("consistency") == parameter_notebook("witness_region") == "02_table_replicas"
    assert {"consistency", "witness_region"} <= set(FIXED_ONCE_CREATED)


def test_the_readme_table_lists_the_mrsc_region_sets():
    from globaltables.params import parameter_table_markdown

    row = next(line for line in parameter_table_markdown().splitlines() if line.startswith("| `consistency`"))
    assert "US: us-east-1, us-east-2, us-west-2; EU: eu-west-1, eu-west-2, eu-west-3, eu-central-1" in row
    assert "| `eventual` | 00_setup, 02_table_replicas |" in row
