"""POST /image/<name> with `upload: true` (SPEC §4.13): the manifest the caller sends (a JSON
object, or its exact JSON text, checked like a fetched one, §6, under `manifest`), and the
upload opened for it: the record pending, its task, the multipart upload under the upload
prefix, the workflow waiting for its completion until the upload deadline."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import errors, field_texts, http_texts, limits
from chalicelib.domain import manifest as imgmanifest
from chalicelib.domain.fields import to_bool
from chalicelib.domain.image_form import Errors
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import new_task_id
from chalicelib.domain.vocabulary import UPLOAD, ImageStatus
from chalicelib.persistence import audit
from chalicelib.persistence.models import Image
from chalicelib.services.images.access import image_dc
from chalicelib.services.images.conflicts import create_record
from chalicelib.services.images.new_manifest import Fetched
from chalicelib.services.images.outcome import Outcome
from chalicelib.services.tasks import lifecycle

FIELD = "manifest"
SWITCH = "upload"


def requested(data: dict[str, Any], errs: Errors) -> bool:
    """Whether the request asks for an upload (`upload`: a boolean as §1 reads them)."""
    raw = data.get(SWITCH)
    if raw is None:
        return False
    value, error = to_bool(raw)
    if error:
        errs.add(SWITCH, error)
        return False
    return bool(value)


def given_manifest(data: dict[str, Any], errs: Errors) -> Fetched | None:
    """The checked manifest of `data["manifest"]`; errors go into `errs`."""
    value = data.get(FIELD)
    if value is None or value == "":
        errs.add(FIELD, field_texts.REQUIRED)
        return None
    if not isinstance(value, str | dict):
        errs.add(FIELD, field_texts.MANIFEST_PARSE_ERROR)
        return None
    cfg = settings()
    raw = value.encode() if isinstance(value, str) else json.dumps(value).encode()
    if len(raw) > cfg.manifest_max_bytes:
        errs.add(FIELD, field_texts.manifest_too_large(cfg.manifest_max_bytes))
        return None
    try:
        manifest = imgmanifest.parse_manifest(raw, max_file_size=cfg.file_max_bytes)
    except imgmanifest.ManifestError as exc:
        errs.add(FIELD, str(exc))
        return None
    base = imgmanifest.base_manifest(manifest)
    if not limits.stored_manifest_fits(base):
        errs.add(FIELD, field_texts.manifest_too_large(limits.MAX_STORED_MANIFEST_BYTES))
        return None
    return Fetched("", "", manifest, base, imgmanifest.defaults_from(manifest),
                   raw=raw if isinstance(value, str) else None)


def open_upload(principal: Principal, image: Image, detail: dict[str, Any],
                callback: dict[str, str] | None, errs: Errors, on_server: bool) -> Outcome:
    """The record pending with its task, the multipart upload open, the workflow started."""
    from chalicelib.adapters import store
    if not on_server:  # the file has nowhere to go
        raise errors.PreconditionRequired(http_texts.IMAGE_SERVER_NOT_AVAILABLE)
    cfg = settings()
    task_id = new_task_id()
    image.status, image.task_id = int(ImageStatus.PENDING), task_id
    upload_id = store.start_upload(task_id, store.PART_CHECKSUM)
    task = lifecycle.new_task(
        task_id=task_id, operation=UPLOAD, image=image, creator=principal.username,
        dc=image_dc(image), callback=callback, request={"upload_id": upload_id},
        view=lifecycle.image_task_view("POST", image.name))
    # the wait may last the upload deadline; the reconciler must not end it before
    task.deadline = task.created + timedelta(seconds=cfg.upload_timeout_seconds
                                             + cfg.task_deadline_seconds)
    try:
        create_record(image, lifecycle.pending_log(task, {**detail, SWITCH: True}), errs,
                      extra=[("task", task),
                             ("attach", audit.attach_entry(image, principal.username, task_id))],
                      source_field=FIELD)
    except BaseException:
        store.delete_upload(task_id)  # no record holds it: nothing may be left open
        raise
    lifecycle.start(task, {"timeouts": {"upload": cfg.upload_timeout_seconds}})
    return Outcome(None, image_dc(image), task_id, status=201, pending=True)
