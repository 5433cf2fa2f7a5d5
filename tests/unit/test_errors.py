"""One errors module: every error of the library under GlobalTablesError, AWS's error code read in one place."""

import importlib
import inspect
import pkgutil

import botocore.exceptions
import globaltables
import pytest
from globaltables.errors import ForeignResource, GlobalTablesError, KeyConflict, aws_error_code, aws_error_message
from globaltables.kinds import ResourceKind


def client_error(code, message="it went wrong"):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, "DescribeTable")


def test_aws_error_code_reads_a_client_errors_code():
    assert aws_error_code(client_error("ResourceNotFoundException")) == "ResourceNotFoundException"
    assert aws_error_message(client_error("X", "Requested resource not found")) == "Requested resource not found"


@pytest.mark.parametrize("error", [RuntimeError("boom"), TimeoutError(), KeyError("Error"), ValueError()])
def test_aws_error_code_is_none_for_any_other_exception(error):
    assert aws_error_code(error) is None
    assert aws_error_message(error) == ""


def test_aws_error_code_is_none_for_an_answer_without_an_error():
    assert aws_error_code(botocore.exceptions.ClientError({}, "ListTables")) is None


def test_a_foreign_resource_names_what_where_and_what_to_do():
    error = ForeignResource(ResourceKind.TABLE, "global-app-data-k3x9q2", "eu-west-1")
    assert str(error) == (
        "dynamodb:table global-app-data-k3x9q2 in eu-west-1 exists but is not this run's; pick another run id"
    )
    assert (error.kind, error.name, error.region) == ("dynamodb:table", "global-app-data-k3x9q2", "eu-west-1")
    assert isinstance(error, GlobalTablesError) and isinstance(error, RuntimeError)  # older except clauses


def test_a_global_foreign_resource_has_no_region_in_its_message():
    assert str(ForeignResource(ResourceKind.ROLE, "DynamoDBGlobalTableRole-k3x9q2")) == (
        "iam:role DynamoDBGlobalTableRole-k3x9q2 exists but is not this run's; pick another run id"
    )


def test_a_key_conflict_is_a_foreign_alias_naming_both_keys():
    error = KeyConflict("alias/dynamodb-global-k3x9q2-us-east-1", "us-east-1", "other-key", "our-key")
    assert isinstance(error, ForeignResource) and error.kind == ResourceKind.KMS_ALIAS
    assert "names key other-key, not this run's our-key" in str(error)
    assert str(error).endswith("pick another run id")


def test_every_error_the_library_defines_derives_from_the_base():
    """Each exception class defined in a client-library module (the embedded AWS aside) is a
    GlobalTablesError; the modules that raised them before still export them."""
    found = {}
    for module in pkgutil.iter_modules(globaltables.__path__):
        if module.name in {"local", "__main__"}:
            continue
        for name, value in vars(importlib.import_module(f"globaltables.{module.name}")).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("globaltables")
            ):
                found[f"{module.name}.{name}"] = value
    assert "cleanup.CleanupIncomplete" in found and "waiting.WaitTimeout" in found and "kms.KeyConflict" in found
    # VersionConflict (conflicts.py) and params' private _TargetProblem are other owners' to move.
    outside = {"conflicts.VersionConflict", "params._TargetProblem"}
    assert [name for name, cls in found.items() if not issubclass(cls, GlobalTablesError) and name not in outside] == []
