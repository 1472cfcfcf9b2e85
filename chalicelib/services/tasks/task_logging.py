"""The log context of work done for a task outside a request (a workflow step, an event):
its lines and metrics carry the task's id and image name."""
from __future__ import annotations

from contextlib import AbstractContextManager

from chalicelib.domain.taskids import is_real
from chalicelib.logs import log_context


def task_context(task_id: object, request_id: str | None) -> AbstractContextManager[None]:
    """`task_id` as the event carried it (anything); a lookup fault leaves the image name out:
    the work itself meets (and handles) the same fault."""
    from chalicelib.services.tasks import lifecycle
    real_id = task_id if isinstance(task_id, str) and is_real(task_id) else None
    try:
        task = lifecycle.get(real_id) if real_id else None
    except Exception:  # noqa: BLE001
        task = None
    return log_context(request_id=request_id, task_id=real_id,
                       image_name=task.image_name if task is not None else None)
