"""Stream records as moto 5.2.5 builds them, with the table's region, and what is costly left to the
first read: most records are never read (no stream consumer, no Lambda event source mapping), and a
global table writes one per replica for every item."""

from __future__ import annotations

import contextlib
import datetime
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.moto_api._internal import mock_random

# The record of a change is read by few (a stream consumer, a Lambda event source mapping), often
# never: what is costly and can wait waits for the first read. ``SizeBytes`` always; the event id and
# the new image when the new image is a private snapshot nothing changes later (``snapshot_images``:
# the replication's copy of a captured write, or the delivery a replica stores); the creation time is
# taken at once, as a float, and becomes moto's naive UTC datetime at the read.
_PENDING = "_globaltables_pending"
_PENDING_LOCK = threading.Lock()
_clock = time.time


class _Snapshots(threading.local):
    """The item a write is about to store and its private, never-changed copy (see ``snapshot_images``)."""

    stored: Any = None
    snapshot: Any = None


_snapshots = _Snapshots()


@contextlib.contextmanager
def snapshot_images(stored: Any, snapshot: Any) -> Iterator[None]:
    """While this holds, a stream record whose new image is ``stored`` takes ``snapshot`` (equal to it,
    never changed by anyone) as its new image, and turns it into JSON only when the record is read."""
    previous = _snapshots.stored, _snapshots.snapshot
    _snapshots.stored, _snapshots.snapshot = stored, snapshot
    try:
        yield
    finally:
        _snapshots.stored, _snapshots.snapshot = previous


def stream_record_init(self: Any, table: Any, stream_type: str, event_name: str, old: Any, new: Any, seq: int) -> None:
    """moto 5.2.5's ``StreamRecord.__init__``, with the table's region, and ``SizeBytes``, the event id
    and a snapshot's new image left to ``to_json``. Other images are taken now, as moto takes them:
    update_item changes the stored item in place afterwards. ``tests/unit/local/test_stream_records.py``
    compares it with moto's own."""
    rec = old if old is not None else new
    keys = {table.hash_key_attr: rec.hash_key.to_json()}
    if table.range_key_attr is not None and rec is not None:
        keys[table.range_key_attr] = rec.range_key.to_json()

    self.record = {
        "eventID": None,  # the first read draws it (moto: a random uuid4)
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.0",
        "awsRegion": table.region_name,
        "dynamodb": {
            "StreamViewType": stream_type,
            "ApproximateCreationDateTime": None,  # the first read converts the time taken below
            "SequenceNumber": str(seq),
            "SizeBytes": 1,  # moto dumps the record with this placeholder in place to measure it
            "Keys": keys,
        },
    }
    lazy_new = None
    if stream_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and new is not None:
        if new is _snapshots.stored and _snapshots.snapshot is not None:
            lazy_new = _snapshots.snapshot
            self.record["dynamodb"]["NewImage"] = None
        else:
            self.record["dynamodb"]["NewImage"] = new.to_json()["Attributes"]
    if stream_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and old is not None:
        self.record["dynamodb"]["OldImage"] = old.to_json()["Attributes"]
    setattr(self, _PENDING, (_clock(), lazy_new))


def make_record_init(original: Callable[..., Any]) -> Callable[..., Any]:
    def init(self: Any, table: Any, stream_type: str, event_name: str, old: Any, new: Any, seq: int) -> None:
        stream_record_init(self, table, stream_type, event_name, old, new, seq)

    return init


def _complete(record: dict[str, Any], created: float, lazy_new: Any) -> None:
    record["eventID"] = mock_random.uuid4().hex
    dynamodb = record["dynamodb"]
    dynamodb["ApproximateCreationDateTime"] = datetime.datetime.fromtimestamp(created, datetime.UTC).replace(
        tzinfo=None
    )
    if lazy_new is not None:
        dynamodb["NewImage"] = lazy_new.to_json()["Attributes"]
    # moto's measure ("a substantial overestimate"): the record's dynamodb part as JSON.
    dynamodb["SizeBytes"] = len(dynamo_json_dump(dynamodb))


def make_record_to_json(original: Callable[..., Any]) -> Callable[..., Any]:
    def to_json(self: Any) -> dict[str, Any]:
        if _PENDING in self.__dict__:
            with _PENDING_LOCK:  # two readers at once: neither sees a placeholder
                pending = self.__dict__.pop(_PENDING, None)
                if pending is not None:
                    _complete(self.record, *pending)
        return original(self)

    return to_json
