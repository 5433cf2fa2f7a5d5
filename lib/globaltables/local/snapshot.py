"""Save the whole embedded AWS to a file, and restore it into a new server process.

A snapshot is every moto backend in use (each service's ``BackendDict``: account -> region ->
backend, pickled in one go so references between backends stay shared), this project's
global-tables state (replica groups with their consistency mode and MRSC witness, item versions,
replicated writes in flight *and held* for a paused, failed or isolated region, fault switches,
replication settings) and the backup extension's state
(selections, jobs, recovery points). A new server loads it before it answers its first request.

Saving first gives replicated writes in flight up to ``settle_s`` to land (those held for a paused or
failed region stay held and are saved, with the faults), then waits for a moment with no AWS request
in flight (``RequestGate``; new ones wait meanwhile) and pickles under the DynamoDB write lock, so
the snapshot is consistent. Monotonic deadlines (replica transitions, delayed deliveries) are saved
as time left. Not saved: the server's endpoint and port (the new server's own are used, and Lambda
functions get the new one), unzipped Lambda code (unzipped again on the first invocation), moto's
random generator. Size: the IAM backend of the ``aws``
partition, with the AWS managed policies, is most of a small snapshot (about 0.8 MB; the other
partitions' backends exist only once used, ``accounts``).

File: a magic line, one JSON header line (format version, moto version, payload size, SHA-256,
compression, counts), then the zlib-compressed pickle. A snapshot from another format version or
moto version is refused, as is one whose checksum does not match (truncated or modified). Pickle
runs code named in the file: restore only snapshots this project wrote.

| moto structure relied on | why |
|---|---|
| ``BackendDict._instances`` | the backend dicts that hold any account, i.e. every service in use; saved whole |
| ``BackendDict`` / ``AccountSpecificBackend`` are ``dict`` subclasses (account -> region -> backend), module globals named ``*_backends`` | restored *in place* (``dict.__setitem__``): request handlers look the backend up in the module global on every request, so they see the restored one; a reference from a model to a backend dict pickles as a name (module, global) and resolves to the live one |
| ``LambdaFunction.__getstate__`` | moto's own: drops the Docker client |
| ``LambdaStorage._arns`` (``WeakValueDictionary``), ``LambdaStorage._aliases`` (``defaultdict(lambda: {})``) | neither pickles: the first is rebuilt from its values, the second's factory is replaced by ``dict`` |
| KMS keys' ``private_key`` (``cryptography`` RSA/EC keys, as every moto KMS key has one) | pickled as DER, loaded back |

Only the reductions above (plus fresh locks for any lock) are added, and only to this module's own
pickler (no global ``copyreg`` change). ``missing_hooks`` checks they still hold at start-up.
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import io
import json
import pickle
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import moto
from moto.core.base_backend import AccountSpecificBackend, BackendDict, backend_lock

from globaltables.local.replication.models import WRITE_LOCK, GlobalTables

FORMAT_VERSION = 1
MAGIC = b"GLOBALTABLES-EMBEDDED-AWS-SNAPSHOT\n"
DEFAULT_SETTLE_S = 10.0
DEFAULT_QUIESCE_S = 30.0
# A lock pickles as a new, released lock (the snapshot is taken with no request in flight).
_LOCK_FACTORIES: dict[type, Callable[[], Any]] = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
}


class SnapshotError(RuntimeError):
    """A snapshot cannot be written or read; the message is one line, fit for a log or an exit message."""

    def __init__(self, message: str, status: int = 500):
        super().__init__(" ".join(str(message).split()))
        self.status = status


# ----- the request gate: a save sees no AWS request half done -----------------------------------


class RequestGate:
    """Counts AWS requests in flight; ``closed()`` waits for a moment with none and holds new ones off.

    It waits *without* closing first, so a request that a request in flight makes (a Lambda handler
    calling back into the embedded AWS) still gets through."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._in_flight = 0
        self._closed = False

    def enter(self) -> None:
        with self._condition:
            while self._closed:
                self._condition.wait()
            self._in_flight += 1

    def leave(self) -> None:
        with self._condition:
            self._in_flight -= 1
            self._condition.notify_all()

    @contextmanager
    def closed(self, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._closed or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SnapshotError(
                        f"AWS requests still in flight after {timeout:g}s ({self._in_flight}); "
                        "save when the embedded AWS is idle",
                        status=409,
                    )
                self._condition.wait(remaining)
            self._closed = True
        try:
            yield
        finally:
            with self._condition:
                self._closed = False
                self._condition.notify_all()


# ----- what moto structures need to pickle -------------------------------------------------------


def missing_hooks() -> list[str]:
    """The moto structures this module relies on (see the module docstring) that are not there."""
    missing = []
    if not isinstance(getattr(BackendDict, "_instances", None), list):
        missing.append("BackendDict._instances")
    for owner in (BackendDict, AccountSpecificBackend):
        if not issubclass(owner, dict):
            missing.append(f"{owner.__name__} as a dict")
    from moto.awslambda.models import LambdaFunction

    if "__getstate__" not in vars(LambdaFunction):
        missing.append("LambdaFunction.__getstate__")
    return missing


def _backend_dict_names() -> dict[int, tuple[str, str]]:
    """id(BackendDict) -> (module, global name), from the loaded moto modules."""
    names: dict[int, tuple[str, str]] = {}
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("moto.") or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, BackendDict):
                where = (module_name, attribute)
                # Prefer the module that defines the backend class (where the dict is made).
                if id(value) not in names or module_name == value.backend.__module__:
                    names[id(value)] = where
    return names


def _live_backend_dict(module: str, name: str) -> BackendDict[Any]:
    value = getattr(importlib.import_module(module), name, None)
    if not isinstance(value, BackendDict):
        raise SnapshotError(f"moto has no backend dict {module}.{name}")
    return value


def _live_account_backends(module: str, name: str, account_id: str) -> AccountSpecificBackend[Any]:
    return _live_backend_dict(module, name)[account_id]


def _weak_value_dictionary(items: dict[Any, Any]) -> weakref.WeakValueDictionary[Any, Any]:
    return weakref.WeakValueDictionary(items)


def _load_private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    return load_der_private_key(der, password=None)


def _private_key_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    return (
        rsa.RSAPrivateKey,
        ec.EllipticCurvePrivateKey,
        ed25519.Ed25519PrivateKey,
        ed448.Ed448PrivateKey,
    )


_EMPTY_FACTORIES = (dict, list, set, int, float, str, tuple)


class _Pickler(pickle.Pickler):
    """The standard pickler, plus the reductions the module docstring lists (cached per type)."""

    def __init__(self, file: io.BytesIO, backend_dict_names: dict[int, tuple[str, str]]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = backend_dict_names
        self._accounts: dict[int, tuple[str, str, str]] = {}
        for backend_dict in BackendDict._instances:
            where = backend_dict_names.get(id(backend_dict))
            if where:
                for account_id, account_backends in dict.items(backend_dict):
                    self._accounts[id(account_backends)] = (*where, account_id)
        self._key_types = _private_key_types()
        self._reducers: dict[type, Callable[[Any], Any] | None] = {}

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        try:
            reducer = self._reducers[kind]
        except KeyError:
            reducer = self._reducers[kind] = self._reducer_for(kind)
        return NotImplemented if reducer is None else reducer(obj)

    def _reducer_for(self, kind: type) -> Callable[[Any], Any] | None:
        if not isinstance(kind, type) or kind is type:
            return None
        if issubclass(kind, BackendDict):
            return self._reduce_backend_dict
        if issubclass(kind, AccountSpecificBackend):
            return self._reduce_account_backends
        if kind in _LOCK_FACTORIES:
            factory = _LOCK_FACTORIES[kind]
            return lambda lock: (factory, ())
        if issubclass(kind, weakref.WeakValueDictionary):
            return lambda mapping: (_weak_value_dictionary, (dict(mapping.items()),))
        if issubclass(kind, collections.defaultdict):
            return self._reduce_defaultdict
        if issubclass(kind, self._key_types):
            return self._reduce_private_key
        return None

    def _reduce_backend_dict(self, backend_dict: BackendDict[Any]) -> Any:
        where = self._names.get(id(backend_dict))
        if where is None:
            raise SnapshotError(f"the moto backend dict of {backend_dict.service_name} is no module global")
        return (_live_backend_dict, where)

    def _reduce_account_backends(self, account_backends: AccountSpecificBackend[Any]) -> Any:
        where = self._accounts.get(id(account_backends))
        if where is None:
            raise SnapshotError(f"moto backends of {account_backends.service_name} belong to no backend dict")
        return (_live_account_backends, where)

    @staticmethod
    def _reduce_defaultdict(mapping: collections.defaultdict[Any, Any]) -> Any:
        factory = mapping.default_factory
        name = getattr(factory, "__qualname__", "")
        if factory is None or not ("<lambda>" in name or "<locals>" in name):
            return NotImplemented
        # moto's ``defaultdict(lambda: {})``: a lambda does not pickle, the type it makes does.
        made = factory()
        if type(made) not in _EMPTY_FACTORIES or made != type(made)():
            raise SnapshotError(f"cannot snapshot a defaultdict whose factory {name} makes {made!r}")
        return (type(mapping), (type(made),), None, None, iter(mapping.items()))

    @staticmethod
    def _reduce_private_key(key: Any) -> Any:
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        return (_load_private_key, (key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()),))


# ----- save ------------------------------------------------------------------------------------


def _moto_state() -> list[dict[str, Any]]:
    names = _backend_dict_names()
    entries = []
    for backend_dict in list(BackendDict._instances):
        where = names.get(id(backend_dict))
        if where is None:
            raise SnapshotError(f"the moto backend dict of {backend_dict.service_name} is no module global")
        accounts = {
            account_id: {region: dict.__getitem__(backends, region) for region in dict.keys(backends)}
            for account_id, backends in dict.items(backend_dict)
        }
        entries.append({"module": where[0], "name": where[1], "accounts": accounts})
    return entries


def _pickle(state: dict[str, Any]) -> bytes:
    names = _backend_dict_names()
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, names).dump(state)
    except SnapshotError:
        raise
    except Exception as error:
        raise SnapshotError(f"cannot snapshot {_culprit(state, names)}: {type(error).__name__}: {error}") from None
    return buffer.getvalue()


def _culprit(state: dict[str, Any], names: dict[int, tuple[str, str]]) -> str:
    """Which part of the state does not pickle (for the error message)."""

    def fails(value: Any) -> bool:
        try:
            _Pickler(io.BytesIO(), names).dump(value)
            return False
        except Exception:
            return True

    for entry in state["moto"]:
        for account_id, regions in entry["accounts"].items():
            for region, backend in regions.items():
                if fails(backend):
                    return f"moto's {entry['name']}[{account_id}][{region}]"
    for part in ("global_tables", "backup"):
        if fails(state[part]):
            return f"the {part} extension state"
    return "the embedded AWS state"


def _counts(state: dict[str, Any]) -> dict[str, Any]:
    services = {
        entry["name"].removesuffix("_backends"): sorted(
            {f"{account}/{region}" for account, regions in entry["accounts"].items() for region in regions}
        )
        for entry in state["moto"]
    }
    tables = state["global_tables"]
    return {
        "services": services,
        "global_tables": len(tables["groups"]),
        "in_flight": len(tables["queue"]),
        "held": len(tables["held"]),
    }


def settle(model: GlobalTables, timeout: float) -> bool:
    """Wait until no replicated write is due to be delivered (held ones for a paused or failed region
    stay held: they are saved); True if that happened within ``timeout``."""
    deadline = time.monotonic() + timeout
    while model.deliveries_pending():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def dumps(model: GlobalTables) -> tuple[dict[str, Any], bytes]:
    """The header and the payload of a snapshot of this process's embedded AWS (call it quiesced)."""
    from globaltables.local.backup import models as backup_models

    with WRITE_LOCK:
        state = {
            "moto": _moto_state(),
            "global_tables": model.export_state(),
            "backup": dict(backup_models._STATES),
        }
        raw = _pickle(state)
    payload = zlib.compress(raw, 1)
    header = {
        "format": FORMAT_VERSION,
        "moto": moto.__version__,
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "compression": "zlib",
        "payload_bytes": len(payload),
        "pickle_bytes": len(raw),
        "sha256": hashlib.sha256(payload).hexdigest(),
        **_counts(state),
    }
    return header, payload


def write(path: Path, header: dict[str, Any], payload: bytes) -> int:
    """Write the snapshot atomically, readable by its owner only (it holds the KMS keys' private keys)."""
    from globaltables.state import write_atomically

    write_atomically(path, MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload, private=True)
    return path.stat().st_size


def save(
    path: str,
    model: GlobalTables,
    gate: RequestGate,
    settle_s: float = DEFAULT_SETTLE_S,
    quiesce_s: float = DEFAULT_QUIESCE_S,
) -> dict[str, Any]:
    started = time.monotonic()
    target = Path(path)
    if not target.is_absolute():
        raise ValueError(f"save needs an absolute path, not {path!r}")
    if not target.parent.is_dir():
        raise ValueError(f"cannot save to {path}: folder {target.parent} does not exist")
    settled = settle(model, settle_s)
    with gate.closed(quiesce_s):
        header, payload = dumps(model)
    size = write(target, header, payload)
    return {
        "saved": str(target),
        "bytes": size,
        "seconds": round(time.monotonic() - started, 3),
        "settled": settled,
        "in_flight": header["in_flight"],
        "held": header["held"],
        "paused_regions": sorted(model.paused_regions),
        "outage_regions": sorted(model.outage_regions),
        "isolated_regions": sorted(model.isolated_regions),
    }


# ----- restore ---------------------------------------------------------------------------------


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the unpickled state of a snapshot; SnapshotError says why it cannot be used."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {source} does not exist") from None
    except OSError as error:
        raise SnapshotError(f"cannot read snapshot {source}: {error.strerror or error}") from None
    if not data.startswith(MAGIC):
        raise SnapshotError(f"{source} is not an embedded-AWS snapshot (no {MAGIC.strip().decode()} line)")
    header_end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC) : header_end])
        if header_end < 0 or not isinstance(header, dict):
            raise ValueError("no header line")
    except ValueError:
        raise SnapshotError(f"snapshot {source} is corrupt: its header is unreadable") from None
    if header.get("format") != FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot {source} has format {header.get('format')}; this embedded AWS reads format {FORMAT_VERSION}"
        )
    if header.get("moto") != moto.__version__:
        raise SnapshotError(
            f"snapshot {source} was written with moto {header.get('moto')}; this embedded AWS runs moto "
            f"{moto.__version__} and cannot load it (start without --restore)"
        )
    payload = data[header_end + 1 :]
    if len(payload) != header.get("payload_bytes") or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise SnapshotError(
            f"snapshot {source} is corrupt: its content does not match its checksum (truncated or modified)"
        )
    try:
        state = pickle.loads(zlib.decompress(payload) if header.get("compression") == "zlib" else payload)
    except SnapshotError:
        raise
    except Exception as error:
        raise SnapshotError(f"snapshot {source} cannot be loaded: {type(error).__name__}: {error}") from None
    return header, state


def restore(snapshot: tuple[dict[str, Any], dict[str, Any]], model: GlobalTables) -> dict[str, Any]:
    """Put a snapshot (``read``'s answer) into this process's embedded AWS, before it serves: moto's
    backends are replaced in place, the global-tables and backup state too (replication settings and
    faults from the file)."""
    from globaltables.local.backup import models as backup_models

    header, state = snapshot
    with WRITE_LOCK, backend_lock:
        for entry in state["moto"]:
            backend_dict = _live_backend_dict(entry["module"], entry["name"])
            for account_id, regions in entry["accounts"].items():
                account_backends = backend_dict[account_id]
                dict.clear(account_backends)
                for region, backend in regions.items():
                    dict.__setitem__(account_backends, region, backend)
        backup_models._STATES.clear()
        backup_models._STATES.update(state["backup"])
        model.import_state(state["global_tables"])
    return header


def admin_routes(
    model: GlobalTables, gate: RequestGate
) -> dict[tuple[str, str], Callable[[dict[str, Any], bytes], tuple[int, Any]]]:
    """``POST state`` with ``{"save": "/abs/path"}`` (and optionally ``settle_s``): write a snapshot."""

    def state(environ: dict[str, Any], body: bytes) -> tuple[int, Any]:
        request = json.loads(body or b"{}")
        unknown = set(request) - {"save", "settle_s", "quiesce_s"}
        if unknown or not request.get("save"):
            raise ValueError('use {"save": "/absolute/path", "settle_s": seconds (optional)}')
        try:
            return 200, save(
                str(request["save"]),
                model,
                gate,
                float(request.get("settle_s", DEFAULT_SETTLE_S)),
                float(request.get("quiesce_s", DEFAULT_QUIESCE_S)),
            )
        except SnapshotError as error:
            return error.status, {"error": str(error)}
        except OSError as error:
            return 500, {"error": f"cannot write {request['save']}: {error.strerror or error}"}

    return {("POST", "state"): state}


__all__ = ["RequestGate", "SnapshotError", "admin_routes", "restore", "save"]
