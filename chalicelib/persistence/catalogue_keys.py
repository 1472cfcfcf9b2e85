"""The index keys an image's own fields imply (README "DynamoDB access patterns").

One rule, used by every write: a put derives them in `Image.serialize`, an update
(`records.add_update`) sets or removes those its changes move, and the backfill
(`services/maintenance/catalogue_migration.py`) adds them to records written before.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.vocabulary import DONE, Access, ImageStatus

LISTED = "listed"             # the one partition of the whole catalogue's indexes
PENDING = "pending"
SERVABLE = "servable"
# Fields whose change can move an image in or out of an index (name and created never change)
SOURCES = ("access", "dc_bound", "status", "manifest_active")


def created_key(created: datetime, name: str) -> str:
    """Sorts as (created, name): a fixed-width UTC time, then the unique name."""
    return f"{created.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}#{name}"


def derived_keys(image: Any) -> dict[str, str | None]:
    """`image` is anything with the Image fields (a model, or a namespace of new values)."""
    listed = int(image.access) != int(Access.INTERNAL)  # internal images are never listed
    ready = int(image.status) == int(ImageStatus.OK) and \
        bool((image.manifest_active or {}).get("files"))
    return {
        "listed": LISTED if listed else None,
        "listed_dc": image.dc_bound if listed and image.dc_bound else None,
        "created_key": created_key(image.created, image.name) if image.created else None,
        "pending_image": PENDING if int(image.status) == int(ImageStatus.PENDING) else None,
        "servable": SERVABLE if ready else None,
    }


def stored_keys(image: Any) -> dict[str, str | None]:
    return {key: getattr(image, key, None) for key in derived_keys(image)}


TASK = "task"
ENDED_TRANSFER = "ended"      # the one partition of the sparse ended-transfer index


def task_keys(task: Any) -> dict[str, str | None]:
    """`ended_transfer`: only while an ended task still holds transfer state (what the
    cleanup removes); the by-creator index needs no key of its own (`creator`, `created_key`)."""
    return {"listed": TASK,
            "created_key": f"{task.created.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}#{task.task_id}"
            if task.created else None,
            "ended_transfer": ENDED_TRANSFER if task.state == DONE and task.transfer else None}
