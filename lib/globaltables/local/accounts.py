"""Which account a request acts in: moto's lookup, without making IAM backends nobody asked for.

moto 5.2.5 answers "whose access key is this?" (``get_account_id_from``, on every request that
carries credentials) by looking in the IAM backend of each of the six partitions of each known
account, and reading ``account[partition]`` *creates* a missing backend: the first request made
six IAM backends, each loading the ~1,600 AWS managed policies (a second of start-up; six times
the memory; and most of every embedded-AWS snapshot, which pickles them all, after every notebook
of a batch run). Here a partition whose backend does not exist yet is skipped: it holds no access
key, so the answer is the same; it is made, as before, when something in that partition is used.

| hook | why there |
|---|---|
| ``moto.iam.models.get_account_id_from`` | the one lookup that walks every partition; moto's request handler imports it from that module on each call, so replacing the module attribute is enough |

The replacement repeats moto's loop, so ``missing_hooks`` checks moto's source (``PINNED_SOURCE``).
"""

from __future__ import annotations

import hashlib
import inspect

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam import models as iam_models
from moto.utilities.utils import PARTITION_NAMES

HOOKS = [(iam_models, "get_account_id_from")]
# SHA-256 of moto 5.2.5's ``get_account_id_from``.
PINNED_SOURCE = "83d4b96f7c5b4fc5ba728e9cd9e87bb5fbfdbe69be952769892fe63f75d77f5e"


def account_of_access_key(access_key: str) -> str:
    """moto's ``get_account_id_from``, reading only the IAM backends that exist (module docstring)."""
    for account_id, account in list(iam_models.iam_backends.items()):
        for partition in PARTITION_NAMES:
            backend = dict.get(account, partition)  # not account[partition]: that would create it
            if backend is not None and access_key in backend.access_keys:
                return account_id
    return DEFAULT_ACCOUNT_ID


def missing_hooks() -> list[str]:
    function = getattr(iam_models, "get_account_id_from", None)
    if not callable(function):
        return ["moto.iam.models.get_account_id_from"]
    original = getattr(function, "__wrapped__", function)
    if hashlib.sha256(inspect.getsource(original).encode()).hexdigest() != PINNED_SOURCE:
        return ["moto.iam.models.get_account_id_from (changed)"]
    return []


def install() -> None:
    original = iam_models.get_account_id_from
    if original is account_of_access_key:
        return
    account_of_access_key.__wrapped__ = original  # type: ignore[attr-defined]  # moto's, for missing_hooks
    iam_models.get_account_id_from = account_of_access_key
