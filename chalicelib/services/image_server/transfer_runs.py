"""One step run of a transfer that may span many (SPEC §5.4): read the source from the task's
checkpoint, store parts until the run's budget is spent, save a checkpoint after every part,
and say whether the file is complete. The state machine runs the step again while it is not.

A source resumes with an HTTP `Range` request guarded by `If-Range` (the validator its first
answer gave). A source that cannot resume — it ignores Range, or its file changed and it sent
the whole file again — is read from the start in one run, if the file can still arrive in
the time that run has; otherwise the task fails with esimg's message for it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.adapters import store
from chalicelib.adapters import transfer as engine
from chalicelib.config import settings
from chalicelib.domain import task_texts
from chalicelib.domain.task_results import StepError
from chalicelib.domain.transfers import RunBudget, TransferState, fits_one_run, progress
from chalicelib.persistence.models import Task
from chalicelib.services.image_server.context import TaskEnded
from chalicelib.services.tasks import lifecycle

log = logging.getLogger("imageapi.transfers")


class Opened(Protocol):
    start: int
    validator: str | None
    accepts_ranges: bool

    def read_into(self, view: memoryview) -> int: ...
    def close(self) -> None: ...


class Source(Protocol):
    def open(self, start: int, validator: str | None) -> Opened: ...
    def resumes(self, opened: Opened) -> bool: ...


@dataclass
class Target:
    key: str                   # the store object being written
    expected_size: int | None  # the file's announced size (None: unknown)
    max_bytes: int             # more than this fails the transfer
    step: str                  # the progress step shown to clients


def run(task: Task, source: Source, target: Target, budget: RunBudget,
        clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """One run: {"done": False, "runs"} to be run again, or {"done": True, "size", "sha1",
    "sha256", "seconds", "runs"}. A TaskEnded (canceled meanwhile) aborts what this task stored."""
    state = TransferState.from_dict(task.transfer)
    state.runs += 1
    state.key = target.key
    checkpoint = engine.Checkpoint.from_dict(state.checkpoint) if state.checkpoint else None
    if checkpoint is not None and not checkpoint.resumable():
        # saved by a version that hashed SHA-1 only: the SHA-256 of the bytes stored so far
        # is lost, and every file gets both in one pass (SPEC §4.14), so the file starts over
        log.info("task %s: a checkpoint without a SHA-256 state; starting over", task.task_id)
        _abort(target.key, checkpoint)
        state.checkpoint, checkpoint = None, None
    try:
        return _Run(task, source, target, state, clock).go(checkpoint, budget)
    except TaskEnded:
        discard(target.key)  # canceled meanwhile: nothing of this task may outlive it
        raise


class _Run:
    def __init__(self, task: Task, source: Source, target: Target, state: TransferState,
                 clock: Callable[[], float]) -> None:
        self.task, self.source, self.target, self.state = task, source, target, state
        self.clock = clock
        self.started = clock()
        self.start_offset = 0

    def go(self, checkpoint: engine.Checkpoint | None, budget: RunBudget) -> dict[str, Any]:
        offset = checkpoint.offset if checkpoint else 0
        opened = self.source.open(offset, self.state.validator if offset else None)
        try:
            if offset and opened.start != offset:  # the whole file again: start over, once
                checkpoint = self._start_over(checkpoint, budget)
            elif not checkpoint:  # the first run: uploads of earlier attempts are dead
                engine.abort_incomplete_uploads(store.s3(), store.bucket(), self.target.key)
                self.state.validator = opened.validator
                self.state.resumable = self.source.resumes(opened) and engine.can_resume()
            self.start_offset = opened.start
            self._show(opened.start)  # the run has started: a person polling sees it at once
            resumable = self.state.resumable and engine.can_resume()
            outcome = engine.transfer(
                opened.read_into, s3=store.s3(), bucket=store.bucket(), key=self.target.key,
                part_size=settings().transfer_part_bytes, max_bytes=self.target.max_bytes,
                checkpoint=checkpoint, on_checkpoint=self._save,
                stop_at=self.started + budget.stop_after if resumable else None,
                on_progress=None if resumable else self._watch(budget))
        except engine.TransferTooLarge as exc:
            raise StepError(task_texts.RC_IMAGE_FILE,
                            task_texts.larger_than_announced(self.target.expected_size)) from exc
        finally:
            opened.close()
        return self._result(outcome)

    def _start_over(self, checkpoint: engine.Checkpoint | None,
                    budget: RunBudget) -> engine.Checkpoint | None:
        """The source ignored the range or its file changed: read it all in this run (a
        source whose validator does not hold cannot be resumed safely)."""
        log.info("task %s: the source sent the whole file again; starting over",
                 self.task.task_id)
        _abort(self.target.key, checkpoint)
        self.state.checkpoint, self.state.resumable, self.state.validator = None, False, None
        if not fits_one_run(self.target.expected_size, 0, self.state.rate, budget.hard_limit):
            raise StepError(task_texts.RC_URL, task_texts.NO_RESUME)
        return None

    def _save(self, checkpoint: engine.Checkpoint) -> None:
        """After every stored part: the checkpoint and the progress, while the task runs."""
        self.state.checkpoint = checkpoint.as_dict()
        self.state.rate = self._rate(checkpoint.offset)
        self._show(checkpoint.offset)

    def _show(self, done: int, total: int | None = None) -> None:
        """Save the state and the progress a person sees, while the task runs."""
        shown = progress(self.target.step, done, total or self.target.expected_size,
                         self.state.rate, self.state.runs)
        if not lifecycle.save_transfer(self.task.task_id, self.state.as_dict(), shown):
            raise TaskEnded(self.task.task_id)

    def _watch(self, budget: RunBudget) -> Callable[[int], None]:
        """A source that cannot resume must finish in this run: fail as soon as it cannot."""
        last_look = [self.started]

        def look(done: int) -> None:
            now = self.clock()
            if now - last_look[0] < 1.0:
                return
            last_look[0] = now
            elapsed = now - self.started
            if elapsed >= budget.hard_limit or not fits_one_run(
                    self.target.expected_size, done, self._rate(done),
                    budget.hard_limit - elapsed):
                raise StepError(task_texts.RC_URL, task_texts.NO_RESUME)

        return look

    def _rate(self, done: int) -> float | None:
        elapsed = self.clock() - self.started
        return (done - self.start_offset) / elapsed if elapsed > 0 else None

    def _result(self, outcome: engine.TransferResult) -> dict[str, Any]:
        self.state.seconds += self.clock() - self.started
        self.state.rate = self._rate(outcome.size) or self.state.rate
        self._show(outcome.size, outcome.size if outcome.done else None)
        if not outcome.done:
            return {"done": False, "runs": self.state.runs}
        return {"done": True, "size": outcome.size, "sha1": outcome.sha1,
                "sha256": outcome.sha256,
                "seconds": round(self.state.seconds, 3), "runs": self.state.runs}


def discard(key: str) -> None:
    """The object and every upload of it are gone (idempotent)."""
    engine.abort_incomplete_uploads(store.s3(), store.bucket(), key)
    store.delete_keys([key])


def abandon(saved: dict[str, Any] | None) -> None:
    """The upload a saved transfer state names is aborted (for the cleanup: a checkpoint left
    on an ended task; idempotent)."""
    state = TransferState.from_dict(saved)
    if state.key and state.checkpoint:
        _abort(state.key, engine.Checkpoint.from_dict(state.checkpoint))


def _abort(key: str, checkpoint: engine.Checkpoint | None) -> None:
    """Drop the upload a checkpoint names (the rollback also aborts every upload of the image:
    this is for a task that goes on, or gives up early)."""
    if checkpoint is not None and checkpoint.upload_id:
        upload = engine.MultipartUpload(store.s3(), store.bucket(), key, checkpoint.part_size,
                                        upload_id=checkpoint.upload_id)
        upload.abort()
