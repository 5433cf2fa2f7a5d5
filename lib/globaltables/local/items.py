"""moto's item construction, with the 400 KB check summed once instead of once per attribute.

moto 5.2.5 builds every item it stores (PutItem, each item of a BatchWriteItem, a replicated
write, a projection) in ``Item.__init__``, one attribute at a time into a ``LimitedSizeDict``.
That dict's ``__setitem__`` refuses an item larger than 405,000 bytes (moto's measure: the UTF-8
length of each name plus ``DynamoType.size()`` of each value); to do so it measures again every
attribute already there, so building an item of n attributes measured n(n+1)/2 values. A profile
of the runbook's seeder found a third of a source put there.

| hook | why there |
|---|---|
| ``Item.__init__`` | the one place a whole item is built from fresh values, which nothing changes while it is built: a running total of the same measures gives the same sum at each attribute, so the same attribute raises the same ``ItemSizeTooLarge`` (AWS's ValidationException, "Item size has exceeded the maximum allowed size") |

``LimitedSizeDict.__setitem__`` itself is left as it is: an item's attributes are changed in place
later (UpdateItem, nested values), where a running total could go stale. Every other refusal
(attribute value limits, empty values, key sizes, the size of an update) happens elsewhere, before
or after, and is untouched.

The replacement repeats moto's code, so ``missing_hooks`` checks the code itself: the source of
``Item.__init__`` and of ``LimitedSizeDict.__setitem__`` must be moto 5.2.5's (``PINNED_SOURCE``);
an upgrade that changes either fails at start-up.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

# ``LimitedSizeDict.__setitem__``'s limit, in its measure (moto found AWS's between 409 and 410 KB).
ITEM_SIZE_LIMIT = 405_000

HOOKS: list[tuple[type, str]] = [(Item, "__init__"), (LimitedSizeDict, "__setitem__")]
# SHA-256 of moto 5.2.5's source of each function this module repeats.
PINNED_SOURCE = {
    "Item.__init__": "d9c12b62cb921831aab9b2eb22ac24fbd600689064a0219ae3ffbe057ae4be74",
    "LimitedSizeDict.__setitem__": "d979580fdbe14f79f3216564e1385c4b3485db82bc88193326c467a037331e81",
}


def source_digest(function: Any) -> str:
    """SHA-256 of a function's source, as moto has it (under any replacement installed here)."""
    return hashlib.sha256(inspect.getsource(inspect.unwrap(function)).encode()).hexdigest()


def missing_hooks() -> list[str]:
    missing = []
    for owner, name in HOOKS:
        qualified = f"{owner.__name__}.{name}"
        function = getattr(owner, name, None)
        if not callable(function):
            missing.append(qualified)
            continue
        try:
            digest = source_digest(function)
        except (OSError, TypeError):
            digest = None
        if digest != PINNED_SOURCE[qualified]:
            missing.append(f"{qualified} (changed)")
    return missing


def build_item(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's ``Item.__init__``, each attribute measured once (module docstring)."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = built = LimitedSizeDict()
    size = 0
    for key, value in attrs.items():
        value = DynamoType(value)
        size += bytesize(key) + value.size()
        if size > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(built, key, value)


def install() -> None:
    original = Item.__init__
    if getattr(original, "__globaltables_hook__", False):
        return
    build_item.__wrapped__ = original  # type: ignore[attr-defined]  # moto's, for missing_hooks
    build_item.__globaltables_hook__ = True  # type: ignore[attr-defined]
    Item.__init__ = build_item  # type: ignore[method-assign]
