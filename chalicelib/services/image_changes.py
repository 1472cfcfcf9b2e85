"""PUT and DELETE /image/<name> (SPEC §4.4, §4.5): DB-only, or through the image server."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from chalicelib.domain import errors
from chalicelib.domain import image_form as form
from chalicelib.domain.fields import image_name_error
from chalicelib.domain.image_view import STATUS_OK, STATUS_PENDING, etag, render
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import dummy_task_id, new_task_id
from chalicelib.models import Image
from chalicelib.services import image_records as records
from chalicelib.services import tasklog
from chalicelib.services.image_common import (
    Outcome,
    active_user_exists,
    callback_spec,
    check_if_match,
    check_order_by,
    explain_lost_update,
    image_dc,
    image_server,
    load_image,
    require_image_admin,
    retry_lost_races,
    sent_detail,
    start_task,
    task_view,
    vms_using,
)

_MANIFEST_FIELDS = ("uuid", "alias", "version", "access", "ostype", "desc", "size", "tags",
                    "resize", "deploy", "created")


@retry_lost_races
def update_image(principal: Principal, name: str, data: dict[str, Any], params: dict[str, str],
                 if_match: str | None = None) -> Outcome:
    from chalicelib.services import manifests

    require_image_admin(principal)
    check_order_by(data, params)
    image = load_image(principal, name)
    check_if_match(image, if_match)

    errs = form.Errors()
    changes = form.clean(data, form.UPDATABLE, errs)
    if "name" in data and isinstance(data["name"], str) and image_name_error(data["name"]):
        errs.add("name", image_name_error(data["name"]))  # validated, never applied
    if "dc_bound" in changes:
        _check_dc_bound_change(principal, image, changes, errs)
    if "owner" in changes and "owner" not in errs:
        if changes["owner"] != image.owner and image.task_id:
            errs.add("owner", form.PENDING_TASKS)
        elif changes["owner"] != image.owner and not active_user_exists(changes["owner"]):
            errs.add("owner", form.owner_missing(changes["owner"]))
    if not errs:
        _check_alias_free(image, changes, errs)
    callback = callback_spec(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    sent = set(changes) | ({"name"} if "name" in data else set())
    manifest_changed = not sent <= form.DB_ONLY
    on_server = manifest_changed and image_server("update")
    if image.status != STATUS_OK:
        raise errors.ExpectationFailed(errors.IMAGE_STATUS_NOT_OK)

    # store the new dc_bound as a DC name
    if "dc_bound" in changes:
        changes["dc_bound"] = _new_binding(image, changes["dc_bound"])
    apply = {key: value for key, value in changes.items() if getattr(image, key) != value}
    if manifest_changed and apply:
        preview = SimpleNamespace(**{key: getattr(image, key) for key in _MANIFEST_FIELDS})
        preview.__dict__.update({k: v for k, v in apply.items() if k in _MANIFEST_FIELDS})
        apply["manifest"] = manifests.build_for(preview, image.manifest_active or {})
        apply["manifest_active"] = apply["manifest"]

    if on_server and apply:
        return _update_on_server(principal, image, apply, data, changes, callback, if_match)
    task_id = dummy_task_id(principal.username)
    if apply:
        log = tasklog.entry(dc=image_dc(image), task_id=task_id, status="SUCCESS",
                            username=principal.username, owner=image.owner, name=name,
                            alias=image.alias, msg=tasklog.UPDATE_IMAGE,
                            detail=sent_detail(data, changes))
        try:
            records.update(image, apply, expected_rev=image.rev, log=log)
        except records.Conflict as conflict:
            explain_lost_update(name, conflict, if_match)
        image = _with(image, apply)  # the committed transaction already counted `rev` up
    return Outcome(render(image), image_dc(image), task_id, headers={"ETag": etag(image)})


def _update_on_server(principal: Principal, image: Image, apply: dict[str, Any],
                      data: dict[str, Any], changes: dict[str, Any],
                      callback: dict[str, str] | None, if_match: str | None) -> Outcome:
    """Back up the old values, lock the image and let the workflow rewrite the manifest."""
    from chalicelib.services import jobs
    task_id = new_task_id()
    backup = {key: getattr(image, key) for key in apply if key in form.UPDATABLE}
    apply = dict(apply)
    apply.pop("manifest_active", None)  # the active manifest changes only when the store does
    apply.update(status=STATUS_PENDING, task_id=task_id, backup=backup)
    task = jobs.new_task(task_id=task_id, operation="update", image=image,
                         creator=principal.username, dc=image_dc(image), request={},
                         view=task_view("PUT", image.name), callback=callback)
    try:
        records.update(image, apply, expected_rev=image.rev,
                       log=jobs.pending_log(task, sent_detail(data, changes)),
                       extra=[("task", task)], alias_guards=records.HOLD)
    except records.Conflict as conflict:
        explain_lost_update(image.name, conflict, if_match)
    start_task(task)
    return Outcome(None, image_dc(image), task_id, status=201, pending=True)


def _check_dc_bound_change(principal: Principal, image: Image, changes: dict[str, Any],
                           errs: form.Errors) -> None:
    wanted = changes["dc_bound"]
    if wanted == (image.dc_bound is not None):
        return  # sending the current value is a no-op
    if not principal.is_super_admin:
        errs.add("dc_bound", form.DC_BOUND_FORBIDDEN)
    elif wanted:
        if len(image.dcs or []) > 1:
            errs.add("dc_bound", form.ATTACHED_TO_MANY)
        elif not image.dcs:
            errs.add("dc_bound", form.ATTACHED_TO_NONE)


def _new_binding(image: Image, wanted: bool) -> str | None:
    if wanted == (image.dc_bound is not None):
        return image.dc_bound
    return image.dcs[0] if wanted else None


def _check_alias_free(image: Image, changes: dict[str, Any], errs: form.Errors) -> None:
    alias = changes.get("alias", image.alias)
    version = changes.get("version", image.version)
    key = records.alias_guard(alias, version)
    if key == records.alias_guard(image.alias, image.version):
        return
    if records.guard_owners([key]).get(key) not in (None, image.name):
        errs.add("alias", form.ALIAS_IN_USE)


def _with(image: Image, changes: dict[str, Any]) -> Image:
    for key, value in changes.items():
        setattr(image, key, value)
    return image


@retry_lost_races
def delete_image(principal: Principal, name: str, data: dict[str, Any], params: dict[str, str],
                 if_match: str | None = None) -> Outcome:
    require_image_admin(principal)
    check_order_by(data, params)
    image = load_image(principal, name)
    check_if_match(image, if_match)
    if vms_using(image):
        raise errors.PreconditionRequired(errors.IMAGE_USED_BY_VMS)
    errs = form.Errors()
    callback = callback_spec(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    on_server = image_server("delete")
    if image.status != STATUS_OK:
        raise errors.ExpectationFailed(errors.IMAGE_STATUS_NOT_OK)

    if on_server:
        from chalicelib.services import jobs
        task_id = new_task_id()
        task = jobs.new_task(task_id=task_id, operation="delete", image=image,
                             creator=principal.username, dc=image_dc(image), request={},
                             view=task_view("DELETE", name), callback=callback)
        try:
            records.update(image, {"status": STATUS_PENDING, "task_id": task_id},
                           expected_rev=image.rev, log=jobs.pending_log(task, {}),
                           extra=[("task", task)])
        except records.Conflict as conflict:
            explain_lost_update(name, conflict, if_match)
        start_task(task)
        return Outcome(None, image_dc(image), task_id, status=201, pending=True)

    task_id = dummy_task_id(principal.username)
    log = tasklog.entry(dc=image_dc(image), task_id=task_id, status="SUCCESS",
                        username=principal.username, owner=image.owner, name=name,
                        alias=image.alias, msg=tasklog.DELETE_IMAGE, detail="")
    try:
        records.delete(image, expected_rev=image.rev, log=log)
    except records.Conflict as conflict:
        explain_lost_update(name, conflict, if_match)
    return Outcome(None, image_dc(image), task_id)


# re-exported for views: "This field is required." for a missing manifest_url etc.
