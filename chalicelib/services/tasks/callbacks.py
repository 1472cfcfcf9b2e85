"""Sending a task's final status to its callback (`cb_url`), once, signed, under the source URL
policy like any other outbound request. A failing receiver is logged, never retried for ever."""
from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.domain.callbacks import payload, sign
from chalicelib.persistence.models import Task, User, get_or_none

log = logging.getLogger("imageapi.callbacks")


def deliver(task: Task, status: str, result: Any) -> bool:
    from chalicelib.adapters import sources

    spec = task.callback or {}
    user = get_or_none(User, task.creator)
    key = (user.callback_key if user else None) or ""
    body = json.dumps(payload(task.task_id, status, result, key)).encode()
    try:
        with sources.new_session(sources.configured_policy()) as session:
            response = session.request(spec.get("method", "POST"), spec["url"], data=body,
                                       timeout=(5, 10), allow_redirects=False, headers={
                                           "Content-Type": "application/json",
                                           "ES-Signature": sign(body, key)})
        log.info("callback for task %s answered %s", task.task_id, response.status_code)
        return response.ok
    except Exception as exc:  # the receiver's trouble must not fail the task
        log.warning("callback for task %s failed: %s", task.task_id, type(exc).__name__)
        return False
