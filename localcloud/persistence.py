"""localcloud's state on disk: snapshots of every service's records, written atomically, read back whole.

With a data dir, the server writes `<data dir>/state/snapshot` every few seconds while anything
changes, and once more on a graceful stop; at start it reads it back before serving. What the
snapshot holds is moto's backends (S3 objects, IAM, SNS/SQS, EventBridge, CloudWatch, Logs,
CloudFormation, SageMaker, ...) pickled whole: moto keeps every record as plain Python objects,
so one pickle is the faithful copy. Job folders and model files already live in the data dir.

Guarantees:

- atomic: the snapshot is written to a temporary file, flushed to disk and renamed over the old
  one; a kill -9 at any moment leaves either the previous snapshot or the new one, never a mix;
- checked: a header names the snapshot format, the moto and Python versions and the payload's
  SHA-256; a snapshot from an incompatible version, or one whose bytes do not match, is refused
  with a message saying so, before anything is loaded, and is left where it is;
- whole: the payload is unpickled completely before any backend is replaced, so a failure
  never leaves half the state loaded.

A hard kill loses what changed since the last snapshot: at most `interval` seconds of changes.
Things that were running (jobs, executions, stack operations) cannot resume in a new process;
each backend's `restored()` marks them Failed or Stopped with a reason that says localcloud
restarted, and brings InService endpoints back up.
"""

from __future__ import annotations

import _thread
import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import pickle
import sys
import tempfile
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import moto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto.backends import get_backend
from moto.iam.models import AWSManagedPolicy, IAMBackend

log = logging.getLogger("localcloud.persistence")

FORMAT = 1
"""Bump when a change to localcloud's own pickled classes makes older snapshots unreadable."""
MAGIC = b"localcloud-snapshot\n"
MODULES = ("s3", "iam", "sts", "ssm", "kms", "sns", "sqs", "events", "cloudwatch", "logs", "cloudformation",
           "awslambda", "applicationautoscaling", "sagemaker", "sagemakerruntime")
"""moto's modules of the services localcloud serves, in the order they are restored."""

State = dict[str, dict[str, dict[str, Any]]]
"""moto module -> account -> region -> backend."""


class SnapshotError(Exception):
    """A snapshot that cannot be loaded; the message says why and what to do."""


def _compatibility() -> dict[str, Any]:
    return {"format": FORMAT, "moto": moto.__version__, "python": f"{sys.version_info.major}.{sys.version_info.minor}"}


# ------------------------------------------------------------------------------- pickling
def _spooled(data: bytes, max_size: int) -> Any:
    buffer = tempfile.SpooledTemporaryFile(max_size)  # noqa: SIM115 (it is the S3 object's storage: it lives on)
    buffer.write(data)
    buffer.seek(0)
    return buffer


_SYNC: dict[type, Callable[[], Any]] = {
    _thread.LockType: threading.Lock,
    type(threading.RLock()): threading.RLock,
    threading.Condition: threading.Condition,
    threading.Event: threading.Event,
}


# AWS's managed policies (1,500 of them, per partition) are data moto ships, not state: a snapshot
# keeps only those something is attached to, and a restore loads the rest as moto does at start.
_AWS_POLICIES = ("aws_managed_policies", "managed_policies")


def _iam_has_state(backend: IAMBackend) -> bool:
    if any(value for name, value in vars(backend).items()
           if isinstance(value, dict | list) and name not in _AWS_POLICIES):
        return True
    return any(not isinstance(p, AWSManagedPolicy) or p.attachment_count for p in backend.managed_policies.values())


def _proxy(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


def _blank(cls: type) -> Any:
    return object.__new__(cls)


def _reduce_iam(backend: IAMBackend) -> Any:
    state = vars(backend).copy()
    kept = {arn: p for arn, p in backend.managed_policies.items()
            if not isinstance(p, AWSManagedPolicy) or p.attachment_count}
    state["managed_policies"] = kept
    state["aws_managed_policies"] = [p for p in backend.aws_managed_policies if p.arn in kept]
    return _blank, (type(backend),), state


def _reload_aws_policies(backend: IAMBackend) -> None:
    shipped = backend._init_aws_policies()
    kept = backend.managed_policies
    backend.aws_managed_policies = [kept.get(p.arn, p) for p in shipped]
    backend.managed_policies = {p.arn: p for p in backend.aws_managed_policies} | kept


def _nested_defaultdict(inner: Callable[[], Any], items: dict[Any, Any]) -> defaultdict[Any, Any]:
    nested: defaultdict[Any, Any] = defaultdict(functools.partial(defaultdict, inner))
    nested.update(items)
    return nested


def _plain_defaultdict(inner: Callable[[], Any], items: dict[Any, Any]) -> defaultdict[Any, Any]:
    plain: defaultdict[Any, Any] = defaultdict(inner)
    plain.update(items)
    return plain


def _subclassed_defaultdict(cls: type, factory: Callable[[], Any] | None) -> Any:
    mapping: Any = defaultdict.__new__(cls)
    defaultdict.__init__(mapping, factory)
    return mapping


def _reduce_defaultdict(mapping: defaultdict[Any, Any]) -> Any:
    """moto's `defaultdict(lambda: defaultdict(dict))` (SSM's tags) and `defaultdict(lambda: {})` (Lambda's
    aliases): a lambda does not pickle, its meaning does."""
    sample = mapping.default_factory() if mapping.default_factory is not None else None
    if isinstance(sample, defaultdict) and sample.default_factory in (dict, list, set):
        return _nested_defaultdict, (sample.default_factory, dict(mapping))
    if type(sample) in (dict, list, set) and not sample:
        return _plain_defaultdict, (type(sample), dict(mapping))
    raise pickle.PicklingError(f"a defaultdict whose default is made by {mapping.default_factory!r} cannot be "
                               f"saved; localcloud's persistence needs to learn it")


def _weak_values(items: dict[Any, Any]) -> weakref.WeakValueDictionary:
    return weakref.WeakValueDictionary(items)


def _private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def _reduce_private_key(key: Any) -> Any:
    """KMS's asymmetric keys (cryptography's key objects do not pickle; their PEM does)."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return _private_key, (pem,)


class _StatePickler(pickle.Pickler):
    """Pickles moto's records; what belongs to this process (locks, temp files) is made anew on load."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is defaultdict and getattr(obj.default_factory, "__name__", "") == "<lambda>":
            return _reduce_defaultdict(obj)
        if isinstance(obj, defaultdict) and type(obj) is not defaultdict:
            # moto's subclasses (SSM's ParameterDict) take other arguments than defaultdict's
            return _subclassed_defaultdict, (type(obj), obj.default_factory), vars(obj), None, iter(obj.items())
        if isinstance(obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            return _reduce_private_key(obj)
        if type(obj) is IAMBackend:
            return _reduce_iam(obj)
        if type(obj) is MappingProxyType:
            return _proxy, (dict(obj),)
        if type(obj) is weakref.WeakValueDictionary:  # Lambda's ARN index; its values are pickled elsewhere too
            return _weak_values, (dict(obj),)
        factory = _SYNC.get(type(obj))
        if factory is not None:
            return factory, ()
        if isinstance(obj, tempfile.SpooledTemporaryFile):  # an S3 object's bytes
            position = obj.tell()
            obj.seek(0)
            data = obj.read()
            obj.seek(position)
            return _spooled, (data, getattr(obj, "_max_size", 0))  # its roll-over size, as moto chose it
        return NotImplemented


def _backends(module: str) -> Any:
    """moto's BackendDict of `module` (moto types `get_backend` per literal module name)."""
    return cast(Any, get_backend)(module)


def _capture() -> State:
    state: State = {}
    for module in MODULES:
        backends = _backends(module)
        accounts = {account: {region: backend for region, backend in list(regions.items())
                              if not isinstance(backend, IAMBackend) or _iam_has_state(backend)}
                    for account, regions in list(backends.items())}
        if any(accounts.values()):
            state[module] = accounts
    return state


def _dump(state: State) -> bytes:
    buffer = io.BytesIO()
    _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    return buffer.getvalue()


# ------------------------------------------------------------------------------- the file
def write_snapshot(path: Path, payload: bytes) -> None:
    """Write header and payload to `path` atomically (temporary file, fsync, rename, fsync of the folder)."""
    header = {**_compatibility(), "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload),
              "written": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC)
            out.write(json.dumps(header).encode() + b"\n")
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_snapshot(path: Path) -> State:
    """The state in `path`, checked and unpickled whole. Raises `SnapshotError`."""
    refuse = f"localcloud: cannot restore {path}"
    keep = "The file is left as it is; move it away to start with an empty state."
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SnapshotError(f"{refuse}: {e.strerror or e}. {keep}") from None
    if not raw.startswith(MAGIC):
        raise SnapshotError(f"{refuse}: it is not a localcloud snapshot. {keep}")
    line_end = raw.find(b"\n", len(MAGIC))
    try:
        header = json.loads(raw[len(MAGIC):line_end]) if line_end > 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise SnapshotError(f"{refuse}: its header is damaged. {keep}")
    wanted = _compatibility()
    different = {k: header.get(k) for k in wanted if header.get(k) != wanted[k]}
    if different:
        theirs = ", ".join(f"{k} {v}" for k, v in different.items())
        ours = ", ".join(f"{k} {wanted[k]}" for k in different)
        raise SnapshotError(f"{refuse}: it was written by an incompatible version ({theirs}; this localcloud has "
                            f"{ours}). {keep}")
    payload = raw[line_end + 1:]
    if len(payload) != header.get("bytes") or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise SnapshotError(f"{refuse}: its contents do not match its checksum (the file is damaged). {keep}")
    try:
        state = pickle.loads(payload)
    except Exception as e:  # a checksummed payload that does not load: a bug of ours, said plainly
        raise SnapshotError(f"{refuse}: it could not be read ({type(e).__name__}: {e}). {keep}") from None
    if not isinstance(state, dict):
        raise SnapshotError(f"{refuse}: it holds no localcloud state. {keep}")
    return state


def install(state: State) -> None:
    """Put restored backends in moto's place, then let each finish its restart (see module docstring)."""
    for module in MODULES:
        backends = _backends(module)
        for account, regions in state.get(module, {}).items():
            for region, backend in regions.items():
                backends[account][region] = backend
    for module in MODULES:
        for regions in state.get(module, {}).values():
            for backend in regions.values():
                if isinstance(backend, IAMBackend):
                    _reload_aws_policies(backend)
                restored = getattr(backend, "restored", None)
                if restored is not None:
                    restored()


# ------------------------------------------------------------------------------- the writer
class Traffic:
    """Counts API requests under way, so a snapshot can hold new ones back and let these finish.

    Holding back is bounded by `drain_timeout`: a request that itself calls localcloud (and so
    waits on a request held back) must not wedge the server; the snapshot then goes ahead.
    """

    def __init__(self, drain_timeout: float = 2.0):
        self.drain_timeout = drain_timeout
        self._cond = threading.Condition()
        self._under_way = 0
        self._paused = False
        self.requests = 0
        """API requests begun since start: a snapshot is due when this moved."""

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._paused, timeout=self.drain_timeout)
            self._under_way += 1
            self.requests += 1
        try:
            yield
        finally:
            with self._cond:
                self._under_way -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        with self._cond:
            self._paused = True
            self._cond.wait_for(lambda: self._under_way == 0, timeout=self.drain_timeout)
        try:
            yield
        finally:
            with self._cond:
                self._paused = False
                self._cond.notify_all()


@dataclass
class SnapshotTiming:
    capture_seconds: float
    write_seconds: float
    bytes: int


class Snapshots:
    """Writes the state to `path` every `interval` seconds while it changes, and on `close`.

    The state changes through API requests (`traffic` counts them, and holds them back while a
    snapshot is taken, so none is seen half-applied) and through work running in the background
    (`busy`: while any runs, every interval writes); a record that background work changes while
    it is pickled makes the pickler fail, and the snapshot is taken again.
    """

    def __init__(self, path: Path, interval: float, traffic: Traffic, busy: Callable[[], bool]):
        self.path = path
        self.interval = interval
        self.traffic = traffic
        self._busy = busy
        self._saved_requests = -1
        self.saved_at: float | None = None
        self.error: str | None = None
        """Why the last snapshot failed (None once one succeeds again): the health answer shows it."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="snapshots", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self.traffic.requests != self._saved_requests or self._busy():
                try:
                    self.save()
                except Exception:  # a snapshot that fails must not stop the server; the previous one stays
                    log.exception("snapshot to %s failed; the previous one is kept", self.path)

    def status(self) -> dict[str, Any]:
        return {"snapshot": str(self.path), "interval_seconds": self.interval, "saved_at": self.saved_at,
                "error": self.error}

    def save(self) -> SnapshotTiming:
        try:
            timing = self._save()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            raise
        self.error, self.saved_at = None, time.time()
        return timing

    def _save(self) -> SnapshotTiming:
        with self._lock:
            requests = self.traffic.requests
            started = time.perf_counter()
            payload = b""
            for attempt in range(5):
                with self.traffic.quiet():
                    try:
                        payload = _dump(_capture())
                        break
                    except RuntimeError as e:  # a record changed size under the pickler: take it again
                        if attempt == 4:
                            raise
                        log.debug("state changed while it was pickled (%s); again", e)
            captured = time.perf_counter()
            write_snapshot(self.path, payload)
            self._saved_requests = requests
            timing = SnapshotTiming(captured - started, time.perf_counter() - captured, len(payload))
            log.debug("snapshot: %d bytes, pickled in %.0f ms, written in %.0f ms", timing.bytes,
                      timing.capture_seconds * 1000, timing.write_seconds * 1000)
            return timing

    def close(self) -> None:
        """Stop the timer and write the final snapshot (graceful stop: nothing is lost)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        timing = self.save()
        log.info("state saved to %s: %.1f MB, pickled in %.0f ms, written in %.0f ms", self.path,
                 timing.bytes / 2**20, timing.capture_seconds * 1000, timing.write_seconds * 1000)
