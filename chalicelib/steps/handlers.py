"""The Lambda functions the state machines call, each a thin wrapper over a step of
`chalicelib.services.image_server`.

A step's permanent error is recorded on the task (esimg return code and message) and raised,
so the state machine's Catch rolls back; a `TransientError` is raised for its Retry. The
exception's class name is the error name Step Functions matches on.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from chalice.app import Blueprint

bp = Blueprint(__name__)
log = logging.getLogger("imageapi.steps")


def _run(step: Callable[..., Any], event: dict[str, Any], context: Any = None,
         **options: Any) -> Any:
    with _task_context(event, context):
        return _run_in_context(step, event, **options)


def _task_context(event: dict[str, Any], context: Any) -> AbstractContextManager[None]:
    from chalicelib.services.tasks.task_logging import task_context
    return task_context(event.get("task_id"), getattr(context, "aws_request_id", None))


def _run_in_context(step: Callable[..., Any], event: dict[str, Any], **options: Any) -> Any:
    from chalicelib.adapters import metrics
    from chalicelib.domain.task_results import StepError, TransientError
    from chalicelib.services.image_server.context import TaskEnded
    from chalicelib.services.tasks import lifecycle
    if _retry_count(event):  # the state machine passes $$.State.RetryCount as "retry_count"
        metrics.count("StepRetries", step=step.__name__)
    try:
        result = _aws_faults_retryable(step, event, **options)
    except TaskEnded:
        log.info("step %s: task %s already ended", step.__name__, event.get("task_id"))
        return {"skipped": True, "done": True}  # a step run in a loop ends the loop too
    except StepError as exc:
        log.warning("step %s of task %s: %s", step.__name__, event.get("task_id"), exc.message)
        try:
            lifecycle.record_failure(event["task_id"], exc.returncode, exc.message)
        except Exception:  # noqa: BLE001 - AWS failing here must not replace the step's error
            log.warning("could not record the failure of task %s", event.get("task_id"),
                        exc_info=True)
        metrics.count("StepFailures", step=step.__name__,
                      kind="transient" if isinstance(exc, TransientError) else "permanent")
        raise
    except Exception:  # a fault of ours or of the runtime: the state machine retries it
        metrics.count("StepFailures", step=step.__name__, kind="unexpected")
        raise
    _transfer_metrics(step.__name__, result)
    return result


def _aws_faults_retryable(step: Callable[..., Any], event: dict[str, Any],
                          **options: Any) -> Any:
    """Run the step; AWS still throttling or failing after the SDK's retries becomes a
    TransientError, which the state machine retries (any other unexpected error is caught
    and rolled back: a throttled DynamoDB read must not undo an update)."""
    from chalicelib.adapters.aws import transient
    from chalicelib.domain.task_results import StepError
    from chalicelib.services.image_server.context import TaskEnded, store_unavailable
    try:
        return step(event, **options)
    except (StepError, TaskEnded):
        raise
    except Exception as exc:
        if transient(exc):
            raise store_unavailable(exc) from exc
        raise


def _retry_count(event: dict[str, Any]) -> int:
    value = event.get("retry_count")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _transfer_metrics(step: str, result: Any) -> None:
    """Bytes and rate of a finished transfer (a file reused from the store moved nothing)."""
    from chalicelib.adapters import metrics
    if not isinstance(result, dict) or not result.get("done") or result.get("reused"):
        return
    moved = result["transfer"] if isinstance(result.get("transfer"), dict) else result
    size, seconds = moved.get("size"), moved.get("seconds")
    if not isinstance(size, int) or not isinstance(seconds, int | float):
        return
    figures: dict[str, tuple[float, str]] = {"BytesTransferred": (size, metrics.BYTES)}
    if seconds > 0:
        figures["TransferRate"] = (round(size / seconds, 1), metrics.BYTES_PER_SECOND)
    metrics.emit(figures, step=step)


def _remaining(context: Any) -> float:
    """Seconds until Lambda ends this run (a transfer stops at a part boundary before)."""
    return float(context.get_remaining_time_in_millis()) / 1000


@bp.lambda_function(name="step_import_file")
def step_import_file(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import importing
    return _run(importing.import_file, event, context, remaining_seconds=_remaining(context))


@bp.lambda_function(name="step_write_manifest")
def step_write_manifest(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import store_steps
    return _run(store_steps.write_manifest, event, context)


@bp.lambda_function(name="step_delete_objects")
def step_delete_objects(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import store_steps
    return _run(store_steps.delete_objects, event, context)


@bp.lambda_function(name="step_request_export")
def step_request_export(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import exporting
    return _run(exporting.request_export, event, context)


@bp.lambda_function(name="step_await_upload")
def step_await_upload(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import awaiting_upload
    return _run(awaiting_upload.await_upload, event, context)


@bp.lambda_function(name="step_ingest_upload")
def step_ingest_upload(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import ingesting
    return _run(ingesting.ingest_upload, event, context, remaining_seconds=_remaining(context))


@bp.lambda_function(name="step_finish")
def step_finish(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import outcome
    return _run(outcome.finish, event, context)


@bp.lambda_function(name="step_rollback")
def step_rollback(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import outcome
    with _task_context(event, context):
        return outcome.rollback(event)
