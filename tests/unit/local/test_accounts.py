"""The account lookup reads only the IAM backends that exist, and answers as moto's does."""

from globaltables.local import accounts
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam import models as iam_models
from moto.iam.models import iam_backends


def test_an_access_key_is_found_in_its_account_and_no_other_partition_is_made():
    account = "111122223333"
    iam_backends[account]["aws-cn"].access_keys["AKIAACCOUNTSTEST0001"] = object()
    try:
        assert accounts.account_of_access_key("AKIAACCOUNTSTEST0001") == account
        assert accounts.account_of_access_key("AKIANOBODYHASTHIS001") == DEFAULT_ACCOUNT_ID
        assert set(dict.keys(iam_backends[account])) == {"aws-cn"}  # moto's lookup would have made all six
        # moto's own lookup gives the same answers (and makes the other partitions' backends).
        original = getattr(iam_models.get_account_id_from, "__wrapped__", iam_models.get_account_id_from)
        assert original("AKIAACCOUNTSTEST0001") == account
        assert original("AKIANOBODYHASTHIS001") == DEFAULT_ACCOUNT_ID
    finally:
        del iam_backends[account]


def test_the_hook_is_pinned_to_motos_source():
    assert accounts.missing_hooks() == []
    accounts.install()
    assert iam_models.get_account_id_from is accounts.account_of_access_key
    assert accounts.missing_hooks() == []  # checks moto's source under the replacement
