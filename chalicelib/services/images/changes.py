"""PUT and DELETE /image/<name> (SPEC §4.4, §4.5): DB-only, or through the image server."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from chalicelib.domain import errors, field_texts, http_texts
from chalicelib.domain import image_form as form
from chalicelib.domain.callbacks import callback_from
from chalicelib.domain.fields import image_name_error
from chalicelib.domain.image_view import etag, render
from chalicelib.domain.manifest import record_manifest
from chalicelib.domain.operations import rules
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import dummy_task_id, new_task_id
from chalicelib.domain.vocabulary import DELETE, SUCCESS, UPDATE, ImageStatus
from chalicelib.persistence import audit, records
from chalicelib.persistence.models import Image
from chalicelib.services.images.access import (
    active_user_exists,
    check_if_match,
    check_order_by,
    image_dc,
    in_use,
    load_image,
    require_image_admin,
)
from chalicelib.services.images.conflicts import explain_lost_update, retry_lost_races
from chalicelib.services.images.outcome import Outcome
from chalicelib.services.tasks import lifecycle

_MANIFEST_FIELDS = ("uuid", "alias", "version", "access", "ostype", "desc", "size", "tags",
                    "resize", "deploy", "created")


def _image_to_change(principal: Principal, name: str, data: dict[str, Any],
                     params: dict[str, str], if_match: str | None) -> Image:
    """The checks before any change (PUT or DELETE), in SPEC §4's order: rights, order_by,
    the image (404/403), its If-Match version (412)."""
    require_image_admin(principal)
    check_order_by(data, params)
    image = load_image(principal, name)
    check_if_match(image, if_match)
    return image


@retry_lost_races
def update_image(principal: Principal, name: str, data: dict[str, Any], params: dict[str, str],
                 if_match: str | None = None) -> Outcome:
    image = _image_to_change(principal, name, data, params, if_match)
    changes, callback = _validated_changes(principal, image, data)
    sent = set(changes) | ({"name"} if "name" in data else set())
    manifest_changed = not sent <= form.DB_ONLY
    on_server = manifest_changed and lifecycle.runs_on_image_server(UPDATE)
    _require_ok(image)
    apply = _record_changes(image, changes, manifest_changed)
    if on_server and apply:
        return _update_on_server(principal, image, apply, form.sent_fields(data, changes),
                                 callback, if_match)
    task_id = dummy_task_id(principal.username)
    if apply:
        log = audit.entry(dc=image_dc(image), task_id=task_id, status=SUCCESS,
                          username=principal.username, owner=image.owner, name=name,
                          alias=image.alias, msg=rules(UPDATE).log_text,
                          detail=form.sent_fields(data, changes),
                          unbound=_unbound_before_or_after(image, apply))
        try:
            records.update(image, apply, expected_rev=image.rev, log=log)
        except records.Conflict as conflict:
            explain_lost_update(name, conflict, if_match)
        for key, value in apply.items():  # the transaction already counted `rev` up
            setattr(image, key, value)
    return Outcome(render(image), image_dc(image), task_id, headers={"ETag": etag(image)})


def _validated_changes(principal: Principal, image: Image, data: dict[str, Any]
                       ) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The clean values of the sent fields and the callback; every field error at once."""
    errs = form.Errors()
    changes = form.clean(data, form.UPDATABLE, errs)
    name_error = image_name_error(data["name"]) if isinstance(data.get("name"), str) else None
    if name_error:
        errs.add("name", name_error)  # validated, never applied
    if "dc_bound" in changes:
        _check_dc_bound_change(principal, image, changes, errs)
    owner = changes.get("owner", image.owner)
    if owner != image.owner and image.task_id:
        errs.add("owner", field_texts.PENDING_TASKS)
    elif owner != image.owner and not active_user_exists(owner):
        errs.add("owner", field_texts.owner_missing(owner))
    if not errs.keys() & {"alias", "version"}:
        _check_alias_free(image, changes, errs)
    callback = callback_from(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    return changes, callback


def _record_changes(image: Image, changes: dict[str, Any],
                    manifest_changed: bool) -> dict[str, Any]:
    """What changes in the record: the sent values that differ, `dc_bound` as a DC name, and
    the manifest those values imply."""
    if "dc_bound" in changes:
        changes = {**changes, "dc_bound": _new_binding(image, changes["dc_bound"])}
    apply = {key: value for key, value in changes.items() if getattr(image, key) != value}
    if manifest_changed and apply:
        preview = SimpleNamespace(**{key: getattr(image, key) for key in _MANIFEST_FIELDS})
        preview.__dict__.update({k: v for k, v in apply.items() if k in _MANIFEST_FIELDS})
        apply["manifest"] = record_manifest(preview, image.manifest_active or {})
        apply["manifest_active"] = apply["manifest"]
    return apply


def _unbound_before_or_after(image: Image, apply: dict[str, Any]) -> bool:
    """An update that binds or unbinds an image is hidden as an unbound image would be."""
    return not image.dc_bound or not apply.get("dc_bound", image.dc_bound)


def _update_on_server(principal: Principal, image: Image, apply: dict[str, Any],
                      detail: dict[str, Any], callback: dict[str, str] | None,
                      if_match: str | None) -> Outcome:
    """Back up the old values, lock the image and let the workflow rewrite the manifest; the
    previous alias stays reserved until the task ends (it may roll back)."""
    task_id = new_task_id()
    backup = {key: getattr(image, key) for key in apply if key in form.UPDATABLE}
    apply = dict(apply)
    apply.pop("manifest_active", None)  # the active manifest changes only when the store does
    apply.update(status=int(ImageStatus.PENDING), task_id=task_id, backup=backup)
    task = lifecycle.new_task(task_id=task_id, operation=UPDATE, image=image,
                              creator=principal.username, dc=image_dc(image), request={},
                              view=lifecycle.image_task_view("PUT", image.name),
                              callback=callback, unbound=_unbound_before_or_after(image, apply))
    try:
        records.update(image, apply, expected_rev=image.rev,
                       log=lifecycle.pending_log(task, detail), extra=[("task", task)],
                       alias_guards=records.HOLD)
    except records.Conflict as conflict:
        explain_lost_update(image.name, conflict, if_match)
    lifecycle.start(task)
    return Outcome(None, image_dc(image), task_id, status=201, pending=True)


def _check_dc_bound_change(principal: Principal, image: Image, changes: dict[str, Any],
                           errs: form.Errors) -> None:
    wanted = changes["dc_bound"]
    if wanted == (image.dc_bound is not None):
        return  # sending the current value is a no-op
    if not principal.is_super_admin:
        errs.add("dc_bound", field_texts.DC_BOUND_FORBIDDEN)
    elif wanted:
        if len(image.dcs or []) > 1:
            errs.add("dc_bound", field_texts.ATTACHED_TO_MANY)
        elif not image.dcs:
            errs.add("dc_bound", field_texts.ATTACHED_TO_NONE)


def _new_binding(image: Image, wanted: bool) -> str | None:
    current = str(image.dc_bound) if image.dc_bound is not None else None
    if wanted == (current is not None):
        return current
    return str(image.dcs[0]) if wanted else None


def _check_alias_free(image: Image, changes: dict[str, Any], errs: form.Errors) -> None:
    key = records.alias_guard(changes.get("alias", image.alias),
                              changes.get("version", image.version))
    if key == records.alias_guard(image.alias, image.version):
        return
    if records.guard_owners([key]).get(key) not in (None, image.name):
        errs.add("alias", field_texts.ALIAS_IN_USE)


def _require_ok(image: Image) -> None:
    if image.status != ImageStatus.OK:
        raise errors.ExpectationFailed(http_texts.IMAGE_STATUS_NOT_OK)


@retry_lost_races
def delete_image(principal: Principal, name: str, data: dict[str, Any], params: dict[str, str],
                 if_match: str | None = None) -> Outcome:
    image = _image_to_change(principal, name, data, params, if_match)
    if in_use(image):
        raise errors.PreconditionRequired(http_texts.IMAGE_USED_BY_VMS)
    errs = form.Errors()
    callback = callback_from(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    on_server = lifecycle.runs_on_image_server(DELETE)
    _require_ok(image)
    if on_server:
        return _delete_on_server(principal, image, callback, if_match)
    task_id = dummy_task_id(principal.username)
    log = audit.entry(dc=image_dc(image), task_id=task_id, status=SUCCESS,
                      username=principal.username, owner=image.owner, name=name,
                      alias=image.alias, msg=rules(DELETE).log_text, detail="",
                      unbound=not image.dc_bound)
    try:
        records.delete(image, expected_rev=image.rev, log=log)
    except records.Conflict as conflict:
        explain_lost_update(name, conflict, if_match)
    return Outcome(None, image_dc(image), task_id)


def _delete_on_server(principal: Principal, image: Image, callback: dict[str, str] | None,
                      if_match: str | None) -> Outcome:
    task_id = new_task_id()
    task = lifecycle.new_task(task_id=task_id, operation=DELETE, image=image,
                              creator=principal.username, dc=image_dc(image), request={},
                              view=lifecycle.image_task_view("DELETE", image.name),
                              callback=callback)
    try:
        records.update(image, {"status": int(ImageStatus.PENDING), "task_id": task_id},
                       expected_rev=image.rev, log=lifecycle.pending_log(task, {}),
                       extra=[("task", task)])
    except records.Conflict as conflict:
        explain_lost_update(image.name, conflict, if_match)
    lifecycle.start(task)
    return Outcome(None, image_dc(image), task_id, status=201, pending=True)
