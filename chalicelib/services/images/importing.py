"""POST /image/<name>: import an image from a manifest URL (SPEC §4.3), or open the upload of
the caller's own file for a manifest it sends (`upload: true`, SPEC §4.13)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.config import settings
from chalicelib.domain import errors, field_texts
from chalicelib.domain import image_form as form
from chalicelib.domain.callbacks import callback_from
from chalicelib.domain.image_view import render
from chalicelib.domain.manifest import record_manifest
from chalicelib.domain.manifest_signer import SIGNED_BY
from chalicelib.domain.operations import rules
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import dummy_task_id, new_task_id
from chalicelib.domain.vocabulary import IMPORT, SUCCESS, UPLOAD, ImageStatus
from chalicelib.persistence import audit
from chalicelib.persistence.models import Datacenter, Image, get_or_none
from chalicelib.services.images import new_image, signatures, uploading
from chalicelib.services.images.access import (
    check_order_by,
    find_dc,
    image_dc,
    require_image_admin,
)
from chalicelib.services.images.conflicts import create_record
from chalicelib.services.images.outcome import Outcome
from chalicelib.services.tasks import lifecycle

if TYPE_CHECKING:
    from chalicelib.services.images.new_manifest import Fetched


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
    signatures.check(dc, data, fetched, errs, upload=upload)
    values = _field_values(principal, name, data, fetched, errs)
    bound = bool(values.get("dc_bound")) and "dc_bound" not in errs
    room = new_image.check(principal, name, values, errs, dc=dc if bound else None,
                           uuid=fetched.defaults["uuid"] if fetched else None,
                           unique=fetched is not None, source_field=source_field)
    if bound and room and not data.get("dc"):
        errs.add("dc_bound", field_texts.DC_REQUIRED)
        errs.add("dc", field_texts.DC_REQUIRED)
    callback = callback_from(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    assert fetched is not None  # a missing manifest is a field error
    on_server = lifecycle.runs_on_image_server(UPLOAD if upload else IMPORT)
    image = _new_image(name, values, fetched, dc)
    detail = {key: values[key] for key in form.UPDATABLE}
    signer = signatures.signed_by(fetched)
    if signer:
        detail[SIGNED_BY] = signer  # the task log's detail names the signer as the tag does
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
    values: dict[str, Any] = {**new_image.defaults(principal, name), "dc_bound": True}
    inputs = form.manifest_defaults(fetched.defaults) if fetched else {}
    inputs.update({key: data[key] for key in form.UPDATABLE if key in data})
    values.update(form.clean(inputs, form.UPDATABLE, errs))
    return values


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
