"""What every workflow step shares: its task and image, the check that the task still runs,
throttled progress, and the retryable error a storage fault becomes.

Steps are idempotent: a retried step redoes its work (overwriting the same keys) or finds it
done. None of them ends the task except through `chalicelib.services.tasks.ending`.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.adapters import aws
from chalicelib.domain import task_texts
from chalicelib.domain.task_results import TransientError
from chalicelib.domain.vocabulary import RUNNING
from chalicelib.persistence.models import Image, Task, get_or_none
from chalicelib.services.tasks import lifecycle, store_writes


class TaskEnded(Exception):
    """The task was ended meanwhile (e.g. canceled): the step has nothing left to do."""


def load(event: dict[str, Any]) -> tuple[Task, Image]:
    """The running task of the step's event and the image it holds."""
    task = lifecycle.get(event["task_id"])
    if task is None or task.state != RUNNING:
        raise TaskEnded(event.get("task_id"))
    image = get_or_none(Image, task.image_name)
    if image is None:
        raise TaskEnded(event.get("task_id"))
    return task, image


def still_running(task_id: str) -> None:
    """A rollback may have run while the step was busy; its leftovers must not survive."""
    task = lifecycle.get(task_id)
    if task is None or task.state != RUNNING:
        raise TaskEnded(task_id)


@contextmanager
def writing_store(task_id: str) -> Iterator[None]:
    """Hold the task's store-write lease (store_writes) for the block: TaskEnded when the task
    no longer runs, a retry when another run of the step holds it."""
    try:
        token = store_writes.acquire(task_id)
    except store_writes.LeaseTaken:
        raise TransientError(task_texts.RC_INPUT,
                             task_texts.store_unavailable("written by another run")) from None
    if token is None:
        raise TaskEnded(task_id)
    try:
        yield
    finally:
        store_writes.release(task_id, token)


def store_unavailable(exc: Exception) -> TransientError:
    """S3/DynamoDB trouble is worth a retry; the state machine decides how often."""
    cause = aws.error_code(exc) or type(exc).__name__  # BadDigest, SlowDown, … where AWS says
    return TransientError(task_texts.RC_INPUT, task_texts.store_unavailable(cause))
