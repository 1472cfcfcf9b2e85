"""Task ids in Danube Cloud's spirit: `<type><group>-<uuid4>`.

type `e` is a real (pollable) task, `d` the dummy id of a synchronous response; group `u`
means DC-unbound (all image views are). Ids only use `[0-9a-z-]`, so they are valid Step
Functions execution names (the execution name *is* the task id).
"""
from __future__ import annotations

import hashlib
import re
import uuid

_REAL = re.compile(r"^eu-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def new_task_id() -> str:
    return f"eu-{uuid.uuid4()}"


def dummy_task_id(username: str) -> str:
    """Sync responses: not pollable; the first group identifies the caller like Danube's."""
    tail = hashlib.md5(username.encode(), usedforsecurity=False).hexdigest()[-8:]
    rest = str(uuid.uuid4()).split("-", 1)[1]
    return f"du-{tail}-{rest}"


def is_dummy(task_id: str) -> bool:
    return task_id.startswith("du-")


def is_real(task_id: str) -> bool:
    """The shape of an id `new_task_id` makes (checked before any lookup)."""
    return bool(_REAL.match(task_id))
