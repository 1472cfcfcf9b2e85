"""The fence between a workflow step writing the image store and the rollback of its task.

A rollback claims its task (running -> rolling_back), then puts the store back. A step that
checked "still running" and then wrote could land its write after the rollback's, leaving in
the store what the rollback undid: an update's manifest over the restored one, while the record
says the update never happened (the soak under AWS faults found it). So the step that
writes manifests (store_steps.write_manifest) writes only while it holds its task's write
lease, taken by a conditional write that requires `state == running`; a rollback, once it
has claimed the task, waits until no lease is held.
Both are writes to the one task item, so DynamoDB orders them: either the lease came first (the
rollback waits for its release) or the claim did (the step may not write at all). The steps
that write new objects (a transfer, a copy, an ingest) need no lease: they check the task
after writing and remove what they wrote if it ended, and a rollback removes it otherwise.

A step that dies holding the lease lets it lapse: LEASE_SECONDS outlasts the longest life of a
step's Lambda (its timeout), so when a lease is over its holder surely runs no more.
"""
from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

from chalicelib.domain import errors
from chalicelib.domain.vocabulary import RUNNING
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import Task

# The budget (tests/domain/test_state_machines.py checks it against the committed files):
# a lease outlives the Lambda of the step holding it (its timeout, 60 s); a rollback waits
# WAIT_SECONDS per run (a cancel must answer within API Gateway's 29 s), and the workflow's
# Rollback state, retried, waits longer in all than a lease can live.
LEASE_SECONDS = 75
WAIT_SECONDS = 20.0
POLL_SECONDS = 0.1


class LeaseTaken(Exception):
    """Another run of the same step (a retry while the first still runs) holds the lease."""


def acquire(task_id: str) -> str | None:
    """The lease's token while the task runs; None when it no longer does."""
    now = datetime.now(UTC)
    token = secrets.token_hex(8)
    free = Task.store_writer.does_not_exist() | (Task.store_write_until < now)
    if conditional_update(Task(task_id), [
            Task.store_writer.set(token),
            Task.store_write_until.set(now + timedelta(seconds=LEASE_SECONDS))],
            (Task.state == RUNNING) & free):
        return token
    task = _read(task_id)
    if task is None or task.state != RUNNING:
        return None
    raise LeaseTaken(task_id)


def release(task_id: str, token: str) -> None:
    """Give the lease back (if it is still this holder's: a lapsed one may be someone's)."""
    conditional_update(Task(task_id), [Task.store_writer.remove(), Task.store_write_until.remove()],
                       Task.store_writer == token)


def wait_until_released(task_id: str) -> None:
    """Return once no step writes the task's store objects: released or lapsed.
    503 (retry shortly) when a holder keeps it past WAIT_SECONDS."""
    pause = threading.Event()  # never set: only its timed wait is used
    waited = 0.0
    while True:
        task = _read(task_id)
        if task is None or not task.store_writer or (
                task.store_write_until is not None and task.store_write_until < datetime.now(UTC)):
            return
        if waited >= WAIT_SECONDS:
            raise errors.DependencyUnavailable()
        pause.wait(POLL_SECONDS)
        waited += POLL_SECONDS


def _read(task_id: str) -> Task | None:
    try:
        return Task.get(task_id, consistent_read=True)
    except Task.DoesNotExist:
        return None
