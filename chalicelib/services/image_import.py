"""POST /image/<name>: import an image from a manifest URL (SPEC §4.3)."""
from __future__ import annotations

from typing import Any

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain import image_form as form
from chalicelib.domain.fields import image_name_error
from chalicelib.domain.image_view import STATUS_OK, STATUS_PENDING, render
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import dummy_task_id, new_task_id
from chalicelib.models import Datacenter, Image
from chalicelib.services import image_records as records
from chalicelib.services import tasklog
from chalicelib.services.image_common import (
    Outcome,
    active_user_exists,
    attach_log,
    callback_spec,
    check_order_by,
    create_record,
    find_dc,
    find_image,
    image_dc,
    image_server,
    now,
    require_image_admin,
    start_task,
    task_view,
)


def import_image(principal: Principal, name: str, data: dict[str, Any],
                 params: dict[str, str]) -> Outcome:
    from chalicelib.services import manifests  # network code: loaded only by imports

    require_image_admin(principal)
    check_order_by(data, params)
    if find_image(name) is not None:
        raise errors.AlreadyExists()

    dc = find_dc(data.get("dc") or settings().default_dc)
    if principal.is_super_admin:
        bound_raw = data.get("dc_bound", True)
    else:
        bound_raw = True  # only a SuperAdmin may import a DC-unbound image; others' value is dropped
        data = {key: value for key, value in data.items() if key != "dc_bound"}
        if dc.name not in principal.image_admin_dcs:
            raise errors.ObjectPermissionDenied()
    wants_bound = form.COERCERS["dc_bound"](bound_raw)[0] is not False
    if wants_bound and not principal.is_image_import_admin(dc.name):
        raise errors.ObjectPermissionDenied()

    errs = form.Errors()
    fetched = manifests.fetch_for_import(data, errs)

    name_error = image_name_error(name)
    if name_error:
        errs.add("name", name_error)
    values = {"alias": name, "access": 3, "owner": principal.username, "dc_bound": True}
    inputs = form.manifest_defaults(fetched.defaults) if fetched else {}
    inputs.update({key: data[key] for key in form.UPDATABLE if key in data})
    values.update(form.clean(inputs, form.UPDATABLE, errs))
    if not errs:
        _check_new_image(values, data, dc, principal, errs, uuid=fetched.defaults["uuid"])
    callback = callback_spec(data, errs)
    if errs:
        raise errors.ValidationFailed(errs)
    on_server = image_server("import")

    bound = dc.name if values["dc_bound"] else None
    image = Image(
        name, uuid=fetched.defaults["uuid"], alias=values["alias"], version=values["version"],
        owner=values["owner"], access=values["access"], desc=values["desc"],
        ostype=fetched.defaults["ostype"], size=fetched.defaults["size"],
        resize=values["resize"], deploy=values["deploy"], tags=values["tags"],
        status=STATUS_OK, created=now(), dc_bound=bound, dcs=[bound] if bound else [],
    )
    image.manifest = manifests.build_for(image, fetched.base)
    detail = {key: values[key] for key in form.UPDATABLE}
    detail.update(manifest_url=fetched.manifest_url, file_url=fetched.file_url)

    if on_server:
        from chalicelib.services import jobs
        task_id = new_task_id()
        image.status, image.task_id = STATUS_PENDING, task_id
        task = jobs.new_task(task_id=task_id, operation="import", image=image,
                             creator=principal.username, dc=image_dc(image),
                             request={"file_url": fetched.file_url,
                                      "manifest_url": fetched.manifest_url},
                             view=task_view("POST", name), callback=callback)
        create_record(image, jobs.pending_log(task, detail), errs,
                      extra=[("task", task), ("attach", attach_log(image, principal, task_id))])
        start_task(task)
        return Outcome(None, image_dc(image), task_id, status=201, pending=True)

    image.manifest_active = image.manifest
    task_id = dummy_task_id(principal.username)
    log = tasklog.entry(dc=image_dc(image), task_id=task_id, status="SUCCESS",
                        username=principal.username, owner=image.owner, name=name,
                        alias=image.alias, msg=tasklog.IMPORT_IMAGE, detail=detail)
    create_record(image, log, errs, extra=[("attach", attach_log(image, principal, task_id))])
    return Outcome(render(image), image_dc(image), task_id)


def _check_new_image(values: dict[str, Any], data: dict[str, Any], dc: Datacenter,
                     principal: Principal, errs: form.Errors, uuid: str) -> None:
    """Cross-field rules of a new image; they run only when every field is valid."""
    if values["owner"] != principal.username and not active_user_exists(values["owner"]):
        errs.add("owner", form.owner_missing(values["owner"]))
        return
    taken = records.guard_owners([records.uuid_guard(uuid),
                                  records.alias_guard(values["alias"], values["version"])])
    holder = taken.get(records.uuid_guard(uuid))
    if holder:
        errs.add("manifest_url", f'Image UUID is already registered by image "{holder}".')
    if records.alias_guard(values["alias"], values["version"]) in taken:
        errs.add("alias", form.ALIAS_IN_USE)
    if values["dc_bound"]:
        if dc.image_limit is not None and dc.image_count >= dc.image_limit:
            errs.add("non_field_errors", form.LIMIT_REACHED)
        elif not data.get("dc"):
            errs.add("dc_bound", form.DC_REQUIRED)
            errs.add("dc", form.DC_REQUIRED)
