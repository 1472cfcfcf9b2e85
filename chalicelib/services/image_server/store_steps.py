"""The steps that write or remove an image's objects in the store: its manifest, and all of
it when the image is deleted."""
from __future__ import annotations

from typing import Any

from chalicelib.domain import task_texts
from chalicelib.domain.task_results import StepError
from chalicelib.domain.vocabulary import UPDATE
from chalicelib.services.image_server.context import (
    TaskEnded,
    load,
    store_unavailable,
    writing_store,
)
from chalicelib.services.tasks import lifecycle


def write_manifest(event: dict[str, Any]) -> dict[str, Any]:
    """Write the record's manifest into the store; an update needs the image to be there."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.adapters import store

    task, image = load(event)
    manifest = dict(image.manifest or {})
    if event.get("file"):
        manifest["files"] = [event["file"]]
    try:
        with writing_store(task.task_id):  # a rollback of the task waits for this write
            if task.operation == UPDATE and not store.has_object(store.manifest_key(image.uuid)):
                raise StepError(task_texts.RC_IMAGE_DIR, task_texts.IMAGE_DIR_MISSING)
            store.put_manifest(image.uuid, manifest)
    except (BotoCoreError, ClientError) as exc:
        raise store_unavailable(exc) from exc
    return {"written": store.manifest_key(image.uuid)}


def delete_objects(event: dict[str, Any]) -> dict[str, Any]:
    """Remove the image's objects: past this point the delete is completed, never undone."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.adapters import store

    task, image = load(event)
    if not lifecycle.mark_irrevocable(task.task_id):
        raise TaskEnded(task.task_id)  # canceled first: nothing is deleted
    try:
        store.delete_image_objects(image.uuid)  # nothing there is fine: the work is done
    except (BotoCoreError, ClientError) as exc:
        raise store_unavailable(exc) from exc
    return {"deleted": image.uuid}
