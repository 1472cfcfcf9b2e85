"""A task's final status to its callback (`cb_url`): once, signed, under the source URL policy
like any other outbound request, and never on the path of the request or step that ended the
task — the ending announces it (`announce`), the "Task Ended" event's handler sends it
(`deliver`). A receiver gets a total deadline and its answer is never read: a slow or
hostile receiver costs one short-lived handler run, nothing else."""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from chalicelib.domain import names
from chalicelib.domain.callbacks import payload, sign
from chalicelib.domain.vocabulary import DONE
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import Task, get_or_none

log = logging.getLogger("imageapi.callbacks")
TOTAL_SECONDS = 10.0  # connect, send and the status line, all together


def announce(task: Task) -> None:
    """Ask for the callback of a task that has just ended (a failure is logged: the task's
    end stands whatever its callback does)."""
    from chalicelib.adapters import aws
    try:
        answer = aws.client("events").put_events(Entries=[{
            "Source": names.TASK_EVENT_SOURCE, "DetailType": names.TASK_ENDED,
            "Detail": json.dumps({"task_id": task.task_id})}])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(str(answer.get("Entries")))
    except Exception as exc:  # noqa: BLE001 (see above)
        log.warning("callback of task %s not announced: %s", task.task_id, exc)


def deliver(task_id: str) -> bool:
    """Send the callback of an ended task unless it was sent already; True when the receiver
    answered 2xx. Claiming it first makes a duplicate event (or a forged one) send nothing."""
    from chalicelib.adapters import sources
    from chalicelib.services.identity import accounts

    task = get_or_none(Task, task_id)
    if task is None or task.state != DONE or not task.callback or not _claim(task_id):
        return False
    spec = task.callback
    try:
        key = accounts.callback_key(task.creator)
    except accounts.AccountError:  # the creator is gone: nobody to sign for
        log.warning("callback for task %s not sent: its creator is gone", task.task_id)
        return False
    body = json.dumps(payload(task.task_id, task.status, task.result, key)).encode()
    try:
        with sources.total_deadline(TOTAL_SECONDS), \
                sources.new_session(sources.configured_policy()) as session:
            response = session.request(
                spec.get("method", "POST"), spec["url"], data=body, stream=True,
                timeout=(5, 5), allow_redirects=False,
                headers={"Content-Type": "application/json", "ES-Signature": sign(body, key)})
            response.close()  # the answer's body is not read: only its status counts
        log.info("callback for task %s answered %s", task.task_id, response.status_code)
        return response.ok
    except Exception as exc:  # noqa: BLE001 (the receiver's trouble is only logged)
        log.warning("callback for task %s failed: %s", task.task_id, type(exc).__name__)
        return False


def _claim(task_id: str) -> bool:
    return conditional_update(Task(task_id), [Task.callback_sent.set(datetime.now(UTC))],
                              Task.callback_sent.does_not_exist() & Task.task_id.exists())
