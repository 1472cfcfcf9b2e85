"""The local stack's data outlives a restart: the emulator's state saved under `.devstack/`.

What is kept: DynamoDB (every table: images, tasks, the task log, users and their key hashes,
DCs, read models), S3 (the image store's objects and open multipart uploads), SQS (queues and
the messages still waiting in them) and Step Functions (state machines and executions with
their history). Rules, roles and Lambda functions are created anew at every start.

How: moto keeps each service in backend objects that pickle. A save holds every emulator lock
(`emulator_contract.quiesce`), so the saved services are one consistent point in time, and
writes:
- `blobs/<id>`: each S3 object's (or part's) bytes, once — object data never changes, so a
  later save only writes what is new, and blobs no longer referenced are removed after it;
- `emulator.pickle`: everything else, written to a temporary file, flushed to disk and renamed
  over the previous one, so a crash while saving leaves the previous save intact.
A saver thread saves within `interval` seconds of any change (nothing when idle) and once more
at a clean stop: a `kill -9` loses at most the changes of the last `interval` seconds.

Executions cannot be resumed in another process (their interpreter state is in threads). One
that was running when the stack stopped is restored as FAILED with the error
`LocalStackStopped`, and the reconciler ends its task at the next start, as the status-change
event and the cleanup do in AWS when an execution dies.
"""
from __future__ import annotations

import contextvars
import io
import logging
import os
import pickle
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from devstack import emulator_contract

log = logging.getLogger("devstack.saved_state")

SERVICES = ("dynamodb", "s3", "sqs", "stepfunctions")
STATE_FILE = "emulator.pickle"
BLOBS = "blobs"
FORMAT = 1
STOPPED_ERROR = "LocalStackStopped"
STOPPED_CAUSE = "The local stack stopped while this execution was running."
_COPY_CHUNK = 8 << 20


class SavedState:
    """The saved emulator state in `directory` (created on first save)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.blobs = self.directory / BLOBS
        self._saved_generation = -1
        self._save_lock = threading.Lock()

    @property
    def exists(self) -> bool:
        return (self.directory / STATE_FILE).is_file()

    def erase(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- saving ---------------------------------------------------------------------------------

    def save(self, *, force: bool = False) -> bool:
        """Write a consistent snapshot of the emulator; False when nothing changed since."""
        with self._save_lock:
            generation = emulator_contract.generation()
            if not force and generation == self._saved_generation:
                return False
            self.blobs.mkdir(parents=True, exist_ok=True)
            with emulator_contract.quiesce():
                generation = emulator_contract.generation()
                pickler_output = io.BytesIO()
                pickler = _Pickler(pickler_output, self.blobs)
                pickler.dump({"format": FORMAT, "services": _backends()})
            _replace_atomically(self.directory / STATE_FILE, pickler_output.getvalue())
            self._remove_unreferenced_blobs(pickler.referenced)
            self._saved_generation = generation
            return True

    def _remove_unreferenced_blobs(self, referenced: set[str]) -> None:
        for blob in self.blobs.iterdir():
            if blob.name not in referenced and not blob.name.startswith("."):
                blob.unlink(missing_ok=True)

    # --- restoring ------------------------------------------------------------------------------

    def restore(self) -> bool:
        """Put the saved services back into this process's emulator; False when there is no
        save. Call after the emulator started and before it serves a request."""
        if not self.exists:
            return False
        token = _BLOBS_DIR.set(self.blobs)
        try:
            with open(self.directory / STATE_FILE, "rb") as handle:
                saved = pickle.load(handle)
        finally:
            _BLOBS_DIR.reset(token)
        if saved.get("format") != FORMAT:
            raise RuntimeError(f"{self.directory / STATE_FILE} has an unknown format; "
                               "start with IMAGE_API_FRESH=1 to begin empty")
        for service, accounts in saved["services"].items():
            backends = _backend_dicts()[service]
            for account, regions in accounts.items():
                for region, backend in regions.items():
                    backends[account][region] = backend
        _index_buckets()
        self._saved_generation = emulator_contract.generation()
        return True


class Saver:
    """Saves within `interval` seconds of a change, and once more on stop."""

    def __init__(self, state: SavedState, interval: float = 2.0) -> None:
        self.state = state
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="state-saver")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.state.save()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.state.save()
            except Exception:
                log.exception("saving the local stack's state failed")


# --- what is pickled, and how ------------------------------------------------------------------

def _backend_dicts() -> dict[str, Any]:
    """moto's per-service registries (account -> region -> backend) of the saved services."""
    from moto.backends import get_backend
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    registries = {service: get_backend(service) for service in SERVICES}
    # executing state machines live in the parser's registry, not the plain one
    registries["stepfunctions"] = stepfunctions_parser_backends
    return registries


def _index_buckets() -> None:
    """moto finds a bucket's account through a registry outside the backends: refill it
    (without it, CreateBucket would silently replace a restored bucket with an empty one)."""
    from moto.s3.models import s3_backends
    for regions in dict.values(s3_backends):
        for backend in dict.values(regions):
            for bucket in backend.buckets.values():
                s3_backends.bucket_accounts[bucket.name] = (bucket.partition, bucket.account_id)


def _backends() -> dict[str, dict[str, dict[str, Any]]]:
    """service -> account -> region -> backend, without creating backends that do not exist."""
    return {service: {account: dict(dict.items(regions))
                      for account, regions in dict.items(registry)}
            for service, registry in _backend_dicts().items()}


def _lock_types() -> dict[type, Any]:
    return {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock,
            threading.Condition: threading.Condition, threading.Event: threading.Event}


class _Pickler(pickle.Pickler):
    """Object data goes to blob files; locks are recreated empty; executions lose their
    interpreter (threads) and keep their history."""

    def __init__(self, file: io.BytesIO, blobs: Path) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.blobs_dir = blobs
        self.referenced: set[str] = set()
        self._locks = _lock_types()

    def reducer_override(self, obj: Any) -> Any:
        # (create, args, state, None, None, set_state): the state is pickled after the object
        # is memoized, so the cycles between keys, uploads, machines and executions are fine
        from moto.s3.models import FakeKey
        from moto.stepfunctions.parser.backend.execution import Execution
        kind = type(obj)
        if kind in self._locks:
            return self._locks[kind], ()
        if isinstance(obj, FakeKey):
            return _new_object, (kind,), self._key_state(obj), None, None, _set_key_state
        if isinstance(obj, Execution):
            return (_new_object, (kind,), _execution_state(obj), None, None,
                    _set_execution_state)
        return NotImplemented

    def _blob_of(self, key: Any) -> str:
        name = getattr(key, "_devstack_blob", None)
        if name is None or not (self.blobs_dir / name).exists():
            name = name or uuid.uuid4().hex
            _write_blob(key, self.blobs_dir / name)
            key._devstack_blob = name
        self.referenced.add(name)
        return name

    def _key_state(self, key: Any) -> dict[str, Any]:
        state = {k: v for k, v in key.__dict__.items() if k not in ("_value_buffer", "lock")}
        state["_devstack_blob"] = self._blob_of(key)
        return state


_BLOBS_DIR: contextvars.ContextVar[Path] = contextvars.ContextVar("blobs")


def _new_object(kind: type) -> Any:
    return kind.__new__(kind)


def _write_blob(key: Any, path: Path) -> None:
    """Copy the object's bytes from its buffer (never all in memory at once)."""
    temporary = path.with_name("." + path.name + ".tmp")
    with key.lock, open(temporary, "wb") as out:
        key._value_buffer.seek(0)
        shutil.copyfileobj(key._value_buffer, out, _COPY_CHUNK)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _set_key_state(key: Any, state: dict[str, Any]) -> None:
    key.__dict__.update(state)
    key._value_buffer = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (the key owns it)
        max_size=key._max_buffer_size)
    with open(_BLOBS_DIR.get() / state["_devstack_blob"], "rb") as source:
        shutil.copyfileobj(source, key._value_buffer, _COPY_CHUNK)
    key.contentsize = key._value_buffer.tell()
    key.lock = threading.Lock()


def _execution_state(execution: Any) -> dict[str, Any]:
    from moto.stepfunctions.parser.api import ExecutionStatus
    state = dict(execution.__dict__)
    worker = state.pop("exec_worker", None)
    env = getattr(worker, "env", None)
    state["_devstack_history"] = (
        env.event_manager.get_event_history() if env is not None else [])
    if state.get("exec_status") == ExecutionStatus.RUNNING:
        import datetime
        state.update(exec_status=ExecutionStatus.FAILED, error=STOPPED_ERROR,
                     cause=STOPPED_CAUSE,
                     stop_date=datetime.datetime.now(tz=datetime.UTC))
    return state


def _set_execution_state(execution: Any, state: dict[str, Any]) -> None:
    execution.__dict__.update(state)
    execution.exec_worker = _EndedWorker(state.get("_devstack_history") or [])


class _EndedWorker:
    """What a restored execution answers for its history (its interpreter is gone)."""

    def __init__(self, history: list[Any]) -> None:
        self.env = self
        self.event_manager = self
        self._history = history

    def get_event_history(self) -> list[Any]:
        return list(self._history)

    def stop(self, **_: Any) -> None:
        pass


def _replace_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name("." + path.name + ".tmp")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
