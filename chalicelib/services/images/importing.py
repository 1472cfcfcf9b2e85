"""POST /image/<name>: import an image from a manifest URL (SPEC §4.3), or open the upload of
the caller's own file for a manifest it sends (`upload: true`, SPEC §4.13)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.config import settings
from chalicelib.domain import errors, field_texts
from chalicelib.domain import image_form as form
from chalicelib.domain.callbacks import callback_from
from chalicelib.domain.fields import image_name_error
from chalicelib.domain.image_view import render
from chalicelib.domain.manifest import record_manifest
from chalicelib.domain.operations import rules
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import dummy_task_id, new_task_id
from chalicelib.domain.vocabulary import IMPORT, SUCCESS, UPLOAD, ImageStatus
from chalicelib.persistence import audit, records
from chalicelib.persistence.models import Datacenter, Image, get_or_none
from chalicelib.services.images import uploading
from chalicelib.services.images.access import (
    active_user_exists,
    check_order_by,
    find_dc,
    image_dc,
    require_image_admin,
)
from chalicelib.services.images.conflicts import create_record
from chalicelib.services.images.outcome import Outcome
from chalicelib.services.tasks import lifecycle

if TYPE_CHECKING:
    from chalicelib.services.images.manifest_fetch import Fetched


def import_image(principal: Principal, name: str, data: dict[str, Any],
                 params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    check_order_by(data, params)
    if get_or_none(Image, name) is not None:
        raise errors.AlreadyExists()
    dc = find_dc(data.get("dc") or settings().default_dc)
    data = _check_import_rights(principal, dc, data)

    errs = form.Errors()
    upload = uploading.requested(data, errs)
    source_field = uploading.FIELD if upload else "manifest_url"
    if upload:
        fetched = uploading.given_manifest(data, errs)
    else:
        # network code (requests) loads with the first import, not with every cold start
        from chalicelib.services.images.manifest_fetch import fetch_for_import
        fetched = fetch_for_import(data, errs)
    values = _field_values(principal, name, data, fetched, errs)
    if fetched is not None and not errs.keys() & {"alias", "version"}:
        _check_unique(values, fetched.defaults["uuid"], errs, source_field)
    _check_binding(values, data, dc, errs)
    callback = callback_from(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    assert fetched is not None  # a missing manifest is a field error
    on_server = lifecycle.runs_on_image_server(UPLOAD if upload else IMPORT)
    image = _new_image(name, values, fetched, dc)
    detail = {key: values[key] for key in form.UPDATABLE}
    if upload:
        return uploading.open_upload(principal, image, detail, callback, errs, on_server)
    detail.update(manifest_url=fetched.manifest_url, file_url=fetched.file_url)
    if on_server:
        return _import_on_server(principal, image, fetched, detail, callback, errs)
    image.manifest_active = image.manifest
    task_id = dummy_task_id(principal.username)
    log = audit.entry(dc=image_dc(image), task_id=task_id, status=SUCCESS,
                      username=principal.username, owner=image.owner, name=name,
                      alias=image.alias, msg=rules(IMPORT).log_text, detail=detail,
                      unbound=not image.dc_bound)
    create_record(image, log, errs,
                  extra=[("attach", audit.attach_entry(image, principal.username, task_id))])
    return Outcome(render(image), image_dc(image), task_id)


def _check_import_rights(principal: Principal, dc: Datacenter,
                         data: dict[str, Any]) -> dict[str, Any]:
    """Only a SuperAdmin may import a DC-unbound image; others' `dc_bound` is dropped."""
    if principal.is_super_admin:
        bound_raw = data.get("dc_bound", True)
    else:
        bound_raw = True
        data = {key: value for key, value in data.items() if key != "dc_bound"}
        if dc.name not in principal.image_admin_dcs:
            raise errors.ObjectPermissionDenied()
    wants_bound = form.COERCERS["dc_bound"](bound_raw)[0] is not False
    if wants_bound and not principal.is_image_import_admin(dc.name):
        raise errors.ObjectPermissionDenied()
    return data


def _field_values(principal: Principal, name: str, data: dict[str, Any],
                  fetched: Fetched | None, errs: form.Errors) -> dict[str, Any]:
    """The new image's fields: manifest defaults, overridden by what the request sent."""
    name_error = image_name_error(name)
    if name_error:
        errs.add("name", name_error)
    values: dict[str, Any] = {"alias": name, "access": 3, "owner": principal.username,
                              "dc_bound": True}
    inputs = form.manifest_defaults(fetched.defaults) if fetched else {}
    inputs.update({key: data[key] for key in form.UPDATABLE if key in data})
    values.update(form.clean(inputs, form.UPDATABLE, errs))
    owner = values["owner"]
    if "owner" not in errs and owner != principal.username and not active_user_exists(owner):
        errs.add("owner", field_texts.owner_missing(owner))
    return values


def _check_unique(values: dict[str, Any], uuid: str, errs: form.Errors,
                  source_field: str) -> None:
    """The uuid and the alias+version are free (the transaction checks again)."""
    alias_key = records.alias_guard(values["alias"], values["version"])
    taken = records.guard_owners([records.uuid_guard(uuid), alias_key])
    holder = taken.get(records.uuid_guard(uuid))
    if holder:
        errs.add(source_field, field_texts.uuid_registered(holder))
    if alias_key in taken:
        errs.add("alias", field_texts.ALIAS_IN_USE)


def _check_binding(values: dict[str, Any], data: dict[str, Any], dc: Datacenter,
                   errs: form.Errors) -> None:
    if not values.get("dc_bound") or "dc_bound" in errs:
        return
    if dc.image_limit is not None and dc.image_count >= dc.image_limit:
        errs.add("non_field_errors", field_texts.LIMIT_REACHED)
    elif not data.get("dc"):
        errs.add("dc_bound", field_texts.DC_REQUIRED)
        errs.add("dc", field_texts.DC_REQUIRED)


def _new_image(name: str, values: dict[str, Any], fetched: Fetched, dc: Datacenter) -> Image:
    bound = dc.name if values["dc_bound"] else None
    image = Image(
        name, uuid=fetched.defaults["uuid"], alias=values["alias"], version=values["version"],
        owner=values["owner"], access=values["access"], desc=values["desc"],
        ostype=fetched.defaults["ostype"], size=fetched.defaults["size"],
        resize=values["resize"], deploy=values["deploy"], tags=values["tags"],
        status=int(ImageStatus.OK), created=datetime.now(UTC), dc_bound=bound,
        dcs=[bound] if bound else [],
    )
    image.manifest = record_manifest(image, fetched.base)
    return image


def _import_on_server(principal: Principal, image: Image, fetched: Fetched,
                      detail: dict[str, Any], callback: dict[str, str] | None,
                      errs: form.Errors) -> Outcome:
    """The record is created pending with its task; the workflow fetches the file."""
    task_id = new_task_id()
    image.status, image.task_id = int(ImageStatus.PENDING), task_id
    task = lifecycle.new_task(
        task_id=task_id, operation=IMPORT, image=image, creator=principal.username,
        dc=image_dc(image), callback=callback,
        request={"file_url": fetched.file_url, "manifest_url": fetched.manifest_url},
        view=lifecycle.image_task_view("POST", image.name))
    create_record(image, lifecycle.pending_log(task, detail), errs,
                  extra=[("task", task),
                         ("attach", audit.attach_entry(image, principal.username, task_id))])
    lifecycle.start(task)
    return Outcome(None, image_dc(image), task_id, status=201, pending=True)
