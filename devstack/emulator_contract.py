"""Make the embedded emulator keep AWS's documented concurrency contract.

moto's server handles requests on parallel threads, and its backends take no locks: two
`TransactWriteItems` with the same condition can both succeed (a failed transaction restores a
snapshot of whole tables, undoing a concurrent commit), scans raise "dictionary changed size
during iteration", an SQS message being deleted while another is sent can vanish, and an S3
listing of uploads can fail while an upload starts. AWS promises none of that can happen.

`install()` patches moto's classes in this process (the local stack runs moto in-process):

- DynamoDB: every request runs under one lock, so each request is atomic and the history of
  requests is linearizable; a transaction is isolated from every other request.
- S3: bucket and upload bookkeeping runs under an S3 lock; part and object *data* is copied
  outside it, so parallel part uploads stay parallel. A completed multipart upload drops its
  parts (AWS keeps no separate part data either; moto kept a second copy in memory).
- SQS: sending, receiving and deleting messages are atomic per request; a long poll waits
  outside the lock.
- Step Functions and EventBridge: their backend calls run under one lock each (start with the
  same name twice, executions listed while one starts, rules listed while one is added).
  `StopExecution` ends the execution at once (ABORTED), as in AWS; moto let it run until its
  current state returned. Listeners registered with `on_execution_end()` hear of every
  execution that ends, however it ends (the local stack turns that into the status-change
  event AWS publishes, without polling).

Every service has its own lock, so DynamoDB traffic never waits for an S3 transfer.
`quiesce()` takes every lock at once (in a fixed order) for a consistent snapshot, and
`generation()` counts the requests that changed state (the snapshot writer saves only then).

`DEVSTACK_EMULATOR_CONTRACT=off` leaves moto's locking as it is (only the execution-end
notice stays): for showing that the concurrency tests fail without these patches.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

DYNAMODB_LOCK = threading.RLock()
S3_LOCK = threading.RLock()
SQS_LOCK = threading.RLock()
SFN_LOCK = threading.RLock()
EVENTS_LOCK = threading.RLock()
# quiesce() takes the locks in this order; a request holding one may take a later one only
# (an S3 upload notifies EventBridge, which sends to SQS)
_ORDER = (DYNAMODB_LOCK, SFN_LOCK, S3_LOCK, EVENTS_LOCK, SQS_LOCK)

# DynamoDB actions that never change a table (everything else counts as a change)
_DYNAMODB_READS = frozenset((
    "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable",
    "ListTables", "DescribeTimeToLive", "DescribeContinuousBackups", "ListTagsOfResource",
    "DescribeEndpoints", "DescribeLimits",
))

_execution_listeners: list[Callable[[Any], None]] = []
_changes = itertools.count(1)
_generation = 0
_installed = False


def enabled() -> bool:
    return os.environ.get("DEVSTACK_EMULATOR_CONTRACT", "on").strip().lower() not in (
        "off", "0", "false", "no")


def generation() -> int:
    """Grows whenever a request changed the emulator's state."""
    return _generation


def changed() -> None:
    global _generation
    _generation = next(_changes)


@contextlib.contextmanager
def quiesce() -> Iterator[None]:
    """Hold every service lock: no request changes anything until the block ends."""
    with contextlib.ExitStack() as stack:
        for lock in _ORDER:
            stack.enter_context(lock)
        yield


def install() -> None:
    """Patch moto's classes (idempotent). Call before the server handles requests."""
    global _installed
    if _installed:
        return
    _installed = True
    _execution_end()
    if enabled():
        _dynamodb()
        _s3()
        _sqs()
        _stepfunctions()
        _events()


def on_execution_end(listener: Callable[[Any], None]) -> Callable[[], None]:
    """`listener(execution)` runs once when an execution ends; it must return quickly.
    Returns the function that unsubscribes it."""
    _execution_listeners.append(listener)
    return lambda: _execution_listeners.remove(listener)


def _execution_ended(execution: Any) -> None:
    changed()
    for listener in list(_execution_listeners):
        listener(execution)


def _locked(lock: threading.RLock, method: Callable[..., Any], *,
            mutates: bool = True) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with lock:
            result = method(*args, **kwargs)
            if mutates:
                changed()
            return result
    return wrapper


def _lock_methods(cls: type, lock: threading.RLock, mutating: tuple[str, ...],
                  reading: tuple[str, ...] = ()) -> None:
    for name in mutating:
        setattr(cls, name, _locked(lock, getattr(cls, name)))
    for name in reading:
        setattr(cls, name, _locked(lock, getattr(cls, name), mutates=False))


# --- DynamoDB -----------------------------------------------------------------------------------

def _dynamodb() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        # The body is parsed before this point; only the table work is serialized.
        with DYNAMODB_LOCK:
            result = original(self)
            if self.get_endpoint_name(self.headers) not in _DYNAMODB_READS:
                changed()
            return result

    DynamoHandler.call_action = call_action


# --- S3 -----------------------------------------------------------------------------------------

def _s3() -> None:
    from moto.s3.models import S3Backend

    _lock_methods(S3Backend, S3_LOCK, mutating=(
        "create_bucket", "delete_bucket", "put_object", "copy_object", "delete_object",
        "delete_objects", "create_multipart_upload", "abort_multipart_upload",
        "upload_part_copy", "put_object_tagging", "put_object_acl",
        "put_bucket_notification_configuration",
    ), reading=(
        "get_object", "head_object", "list_objects", "list_objects_v2", "list_parts",
        "is_truncated", "get_bucket",
    ))
    S3Backend.upload_part = _upload_part
    S3Backend.list_multipart_uploads = _list_multipart_uploads
    original_complete = S3Backend.complete_multipart_upload

    def complete_multipart_upload(self: Any, bucket_name: str, multipart_id: str,
                                  body: Any) -> Any:
        with S3_LOCK:
            multipart = self.get_bucket(bucket_name).multiparts.get(multipart_id)
            key = original_complete(self, bucket_name, multipart_id, body)
            if key is not None and multipart is not None:
                multipart.dispose()  # the object holds the data now
                multipart.parts = {}
            changed()
            return key

    S3Backend.complete_multipart_upload = complete_multipart_upload


def _list_multipart_uploads(self: Any, bucket_name: str) -> dict[str, Any]:
    """A copy: the response is rendered after the lock is released."""
    with S3_LOCK:
        return dict(self.get_bucket(bucket_name).multiparts)


def _upload_part(self: Any, bucket_name: str, multipart_id: str, part_id: int,
                 value: bytes) -> Any:
    """The part's bytes are copied outside the lock; only attaching the part is serialized,
    and a part that arrives after its upload was aborted or completed is refused."""
    from moto.s3.exceptions import NoSuchUpload
    from moto.s3.models import FakeKey

    if part_id < 1:
        raise NoSuchUpload(upload_id=multipart_id)
    with S3_LOCK:
        multipart = self.get_bucket(bucket_name).multiparts.get(multipart_id)
        if multipart is None:
            raise NoSuchUpload(upload_id=multipart_id)
    part = FakeKey(part_id, value, account_id=multipart.account_id,  # type: ignore[arg-type]
                   region_name=multipart.region_name, encryption=multipart.sse_encryption,
                   kms_key_id=multipart.kms_key_id)
    with S3_LOCK:
        if self.get_bucket(bucket_name).multiparts.get(multipart_id) is not multipart:
            part.dispose()
            raise NoSuchUpload(upload_id=multipart_id)
        previous = multipart.parts.get(part_id)
        multipart.parts[part_id] = part
        if previous is not None:
            previous.dispose()
        if part_id not in multipart.partlist:
            from bisect import insort
            insort(multipart.partlist, part_id)
        changed()
    return part


# --- SQS ----------------------------------------------------------------------------------------

def _sqs() -> None:
    from moto.sqs.models import Queue, SQSBackend

    _lock_methods(Queue, SQS_LOCK, mutating=("add_message", "delete_message"))
    _lock_methods(SQSBackend, SQS_LOCK, mutating=(
        "create_queue", "delete_queue", "change_message_visibility", "purge_queue",
        "set_queue_attributes",
    ))
    original = SQSBackend.receive_message

    def receive_message(self: Any, queue_name: str, count: int, wait_seconds_timeout: int,
                        visibility_timeout: int,
                        message_attribute_names: list[str] | None = None) -> list[Any]:
        """One atomic pass over the queue at a time; the long poll waits without the lock."""
        import time
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with SQS_LOCK:
                result = original(self, queue_name, count, 0, visibility_timeout,
                                  message_attribute_names)
                if result:
                    changed()
                    return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return result
            self.get_queue(queue_name).wait_for_messages(min(remaining, 1.0))

    SQSBackend.receive_message = receive_message


# --- Step Functions and EventBridge -------------------------------------------------------------

def _stepfunctions() -> None:
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    for cls in (StepFunctionBackend, StepFunctionsParserBackend):
        names = [n for n in ("create_state_machine", "update_state_machine",
                             "delete_state_machine", "start_execution", "stop_execution",
                             "send_task_success", "send_task_failure", "send_task_heartbeat")
                 if n in vars(cls)]
        reads = [n for n in ("describe_execution", "list_executions", "get_execution_history",
                             "describe_state_machine", "list_state_machines")
                 if n in vars(cls)]
        _lock_methods(cls, SFN_LOCK, tuple(names), tuple(reads))


def _execution_end() -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )

    original_stop = Execution.stop
    original_terminated = BaseExecutionWorkerCommunication.terminated

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original_stop(self, stop_date, error, cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            # AWS: ABORTED at once; whatever the running state returns later is discarded
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
            _execution_ended(self)

    def terminated(self: Any) -> None:
        if self.execution.exec_status == ExecutionStatus.ABORTED:
            return  # stopped earlier and reported then
        original_terminated(self)
        _execution_ended(self.execution)

    Execution.stop = stop
    BaseExecutionWorkerCommunication.terminated = terminated


def _events() -> None:
    from moto.events.models import EventsBackend

    _lock_methods(EventsBackend, EVENTS_LOCK, mutating=(
        "put_rule", "delete_rule", "put_targets", "remove_targets", "put_events",
    ), reading=("list_rules", "list_targets_by_rule"))
