"""The Lambda functions the state machines call, each a thin wrapper over a step of
`chalicelib.services.image_server`.

A step's permanent error is recorded on the task (esimg return code and message) and raised,
so the state machine's Catch rolls back; a `TransientError` is raised for its Retry. The
exception's class name is the error name Step Functions matches on.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint

bp = Blueprint(__name__)
log = logging.getLogger("imageapi.steps")


def _run(step: Callable[..., Any], event: dict[str, Any], **options: Any) -> Any:
    from chalicelib.domain.task_results import StepError
    from chalicelib.services.image_server.context import TaskEnded
    from chalicelib.services.tasks import lifecycle
    try:
        return step(event, **options)
    except TaskEnded:
        log.info("step %s: task %s already ended", step.__name__, event.get("task_id"))
        return {"skipped": True, "done": True}  # a step run in a loop ends the loop too
    except StepError as exc:
        log.warning("step %s of task %s: %s", step.__name__, event.get("task_id"), exc.message)
        lifecycle.record_failure(event["task_id"], exc.returncode, exc.message)
        raise


def _remaining(context: Any) -> float:
    """Seconds until Lambda ends this run (a transfer stops at a part boundary before)."""
    return float(context.get_remaining_time_in_millis()) / 1000


@bp.lambda_function(name="step_import_file")
def step_import_file(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import importing
    return _run(importing.import_file, event, remaining_seconds=_remaining(context))


@bp.lambda_function(name="step_write_manifest")
def step_write_manifest(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import store_steps
    return _run(store_steps.write_manifest, event)


@bp.lambda_function(name="step_delete_objects")
def step_delete_objects(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import store_steps
    return _run(store_steps.delete_objects, event)


@bp.lambda_function(name="step_request_export")
def step_request_export(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import exporting
    return _run(exporting.request_export, event)


@bp.lambda_function(name="step_ingest_upload")
def step_ingest_upload(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import exporting
    return _run(exporting.ingest_upload, event, remaining_seconds=_remaining(context))


@bp.lambda_function(name="step_finish")
def step_finish(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import outcome
    return _run(outcome.finish, event)


@bp.lambda_function(name="step_rollback")
def step_rollback(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.services.image_server import outcome
    return outcome.rollback(event)
