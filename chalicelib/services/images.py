"""The image operations: list, show, import, update, delete, and who uses an image.

Each operation follows the check order of SPEC §4 and ends in one conditional DynamoDB
transaction (`image_records`). Storage is reached through the models only.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import datetime, timezone
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain import image_form as form
from chalicelib.domain.fields import REQUIRED, image_name_error, parse_bool_param, to_int
from chalicelib.domain.image_view import (ACCESS_INTERNAL, STATUS_OK, STATUS_PENDING, etag, iso,
                                         render)
from chalicelib.domain.ordering import parse_order_by, sort_records
from chalicelib.domain.permissions import Principal
from chalicelib.domain.taskids import dummy_task_id, new_task_id
from chalicelib.models import Datacenter, Image, User, Vm
from chalicelib.services import image_records as records
from chalicelib.services import tasklog

IMAGE_ORDER = ("name", "created")
_MANIFEST_FIELDS = ("uuid", "alias", "version", "access", "ostype", "desc", "size", "tags",
                    "resize", "deploy", "created")


@dataclass
class Outcome:
    """What a view renders: the result, the DC the request ended in, extra headers."""

    result: Any
    dc: str
    task_id: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pending: bool = False          # an async task was started: 201 PENDING


# ---------------------------------------------------------------------------------------------
# Shared lookups and checks
# ---------------------------------------------------------------------------------------------
def require_image_admin(principal: Principal) -> None:
    if not principal.is_any_image_admin:
        raise errors.PermissionDenied()


def check_order_by(*sources: dict[str, Any]) -> list[tuple[str, bool]]:
    raw = next((src["order_by"] for src in sources if "order_by" in src), None)
    return parse_order_by(raw, IMAGE_ORDER, "name")


def find_image(name: str) -> Image | None:
    try:
        return Image.get(name)
    except DoesNotExist:
        return None


def load_image(principal: Principal, name: str) -> Image:
    """404 when missing, 403 when outside the caller's DCs (SPEC §2)."""
    image = find_image(name)
    if image is None:
        raise errors.NotFound(errors.IMAGE_NOT_FOUND)
    if not principal.can_manage_image(image.dc_bound):
        raise errors.ObjectPermissionDenied()
    return image


def image_dc(image: Image) -> str:
    return image.dc_bound or settings().default_dc


def find_dc(name: Any) -> Datacenter:
    if not isinstance(name, str) or not name:
        raise errors.NotFound(errors.DC_NOT_FOUND)
    try:
        return Datacenter.get(name)
    except DoesNotExist:
        raise errors.NotFound(errors.DC_NOT_FOUND)


def active_user_exists(username: str) -> bool:
    try:
        return bool(User.get(username).is_active)
    except DoesNotExist:
        return False


def check_if_match(image: Image, if_match: str | None) -> None:
    if if_match and if_match.strip() != "*" and \
            etag(image) not in [tag.strip() for tag in if_match.split(",")]:
        raise errors.PreconditionFailed("Precondition failed (ETag does not match)")


def now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------------------------
# GET /image
# ---------------------------------------------------------------------------------------------
def list_images(principal: Principal, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    order = check_order_by(params)
    full = parse_bool_param(params.get("full", False))
    extended = parse_bool_param(params.get("extended", False))
    limit, after = _page_params(params)

    condition = Image.access != ACCESS_INTERNAL
    if not principal.is_super_admin:
        condition &= Image.dc_bound.is_in(*sorted(principal.image_admin_dcs))
    items = sort_records(Image.scan(condition), order, _sort_key, tie="name")

    headers: dict[str, str] = {}
    if limit is not None:
        if after is not None:
            items = [item for item in items if _cursor_key(item, order) > after]  # exclusive
        if len(items) > limit:
            headers["es_next"] = _encode_cursor(items[limit - 1], order)
        items = items[:limit]

    result = [render(item, extended=extended) for item in items] if (full or extended) \
        else [item.name for item in items]
    return Outcome(result, settings().default_dc, headers=headers)


def _sort_key(image: Image, name: str) -> Any:
    return iso(image.created) if name == "created" else getattr(image, name)


def _cursor_key(image: Image, order: list[tuple[str, bool]]) -> tuple:
    """A position comparable in the listing's own order (descending fields inverted)."""
    parts: list[Any] = []
    for name, descending in order:
        value = _sort_key(image, name) or ""
        parts.append(_Desc(value) if descending else value)
    parts.append(image.name)
    return tuple(parts)


class _Desc(str):
    """A string that sorts backwards, so one tuple comparison serves mixed directions."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__lt__(self, other)


def _encode_cursor(image: Image, order: list[tuple[str, bool]]) -> str:
    raw = json.dumps({"o": [[n, d] for n, d in order],
                      "k": [str(p) for p in _cursor_key(image, order)]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _page_params(params: dict[str, str]) -> tuple[int | None, tuple | None]:
    errs = form.Errors()
    limit = None
    if params.get("limit") not in (None, ""):
        limit, error = to_int(params["limit"])
        if error or limit is None or not 1 <= limit <= 10000:
            errs.add("limit", error or "Ensure this value is between 1 and 10000.")
    after = None
    if params.get("cursor"):
        after = _decode_cursor(params["cursor"], check_order_by(params))
        if after is None:
            errs.add("cursor", "Invalid value.")
    if errs:
        raise errors.ValidationFailed(errs)
    return limit, after


def _decode_cursor(raw: str, order: list[tuple[str, bool]]) -> tuple | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if [tuple(pair) for pair in data["o"]] != [(n, d) for n, d in order]:
            return None  # a cursor only makes sense under the sort that produced it
        keys = [str(k) for k in data["k"]]
        if len(keys) != len(order) + 1:
            return None
    except (ValueError, KeyError, TypeError):
        return None
    parts: list[Any] = [(_Desc(k) if d else k) for k, (_, d) in zip(keys, order)]
    parts.append(keys[-1])
    return tuple(parts)


# ---------------------------------------------------------------------------------------------
# GET /image/<name>
# ---------------------------------------------------------------------------------------------
def get_image(principal: Principal, name: str, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    check_order_by(params)
    image = load_image(principal, name)
    extended = parse_bool_param(params.get("extended", False))
    return Outcome(render(image, extended=extended), image_dc(image), headers={"ETag": etag(image)})


# ---------------------------------------------------------------------------------------------
# GET /image/<name>/vm
# ---------------------------------------------------------------------------------------------
def image_vms(principal: Principal, name: str, params: dict[str, str]) -> Outcome:
    require_image_admin(principal)
    order = parse_order_by(params.get("order_by"), ("hostname",), "hostname")
    image = load_image(principal, name)
    vms = sort_records(vms_using(image), order, lambda vm, n: getattr(vm, n), tie="uuid")
    full = parse_bool_param(params.get("full", False))
    extended = parse_bool_param(params.get("extended", False))
    result = [render_vm(vm) for vm in vms] if (full or extended) else [vm.hostname for vm in vms]
    return Outcome(result, image_dc(image))


def vms_using(image: Image) -> list[Vm]:
    """VMs in a DC the image is attached to with a disk from this image (SPEC §4.5)."""
    if not image.dcs:
        return []
    condition = Vm.image_uuids.contains(image.uuid) & Vm.dc.is_in(*image.dcs)
    return list(Vm.scan(condition))


def render_vm(vm: Vm) -> dict[str, Any]:
    return {
        "hostname": vm.hostname, "uuid": vm.uuid, "dc": vm.dc, "owner": vm.owner,
        "status": vm.status, "ostype": int(vm.ostype),
        "disks": [{"image_uuid": d.image_uuid, "size": int(d.size)} for d in vm.disks or []],
    }


# ---------------------------------------------------------------------------------------------
# POST /image/<name>  (import from a manifest URL)
# ---------------------------------------------------------------------------------------------
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
    dc_name = dc.name if wants_bound else settings().default_dc

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
                             view=_view("POST", name), callback=callback)
        _create(image, jobs.pending_log(task, detail), errs,
                extra=[("task", task), ("attach", _attach_log(image, principal, task_id))])
        start_task(task)
        return Outcome(None, image_dc(image), task_id, status=201, pending=True)

    image.manifest_active = image.manifest
    task_id = dummy_task_id(principal.username)
    log = tasklog.entry(dc=image_dc(image), task_id=task_id, status="SUCCESS",
                        username=principal.username, owner=image.owner, name=name,
                        alias=image.alias, msg=tasklog.IMPORT_IMAGE, detail=detail)
    _create(image, log, errs, extra=[("attach", _attach_log(image, principal, task_id))])
    return Outcome(render(image), image_dc(image), task_id)


def _view(method: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"view": "image_manage", "method": method, "name": name, **extra}


def _attach_log(image: Image, principal: Principal, task_id: str) -> Any:
    """A DC-bound image is attached to its DC at once, logged like Danube's attach."""
    if not image.dc_bound:
        return None
    return tasklog.entry(dc=image.dc_bound, task_id=task_id, status="SUCCESS",
                         username=principal.username, owner=image.owner, name=image.name,
                         alias=image.alias, msg=tasklog.ADD_TO_DC,
                         detail={"dc": image.dc_bound}, seq=2)


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


def _create(image: Image, log: Any, errs: form.Errors, extra: list | None = None,
            also: Any = None) -> None:
    """Insert; a lost race maps back to the same answers the checks above give."""
    try:
        records.create(image, log, extra or [], also)
    except records.Conflict as conflict:
        if "name" in conflict.reasons:
            raise errors.AlreadyExists()
        if "uuid" in conflict.reasons:
            holder = records.guard_owners([records.uuid_guard(image.uuid)]).get(
                records.uuid_guard(image.uuid), "?")
            errs.add("manifest_url", f'Image UUID is already registered by image "{holder}".')
        if "alias" in conflict.reasons:
            errs.add("alias", form.ALIAS_IN_USE)
        if "limit" in conflict.reasons:
            errs.add("non_field_errors", form.LIMIT_REACHED)
        raise errors.ValidationFailed(errs)


def image_server(operation: str) -> bool:
    """True when the operation runs on the image server; 428 when it is configured but unusable."""
    cfg = settings()
    if not cfg.image_server_enabled:
        return False
    if not cfg.state_machine_arns.get(operation):
        raise errors.PreconditionRequired(errors.IMAGE_SERVER_NOT_AVAILABLE)
    return True


def callback_spec(data: dict[str, Any], errs: form.Errors) -> dict[str, str] | None:
    """Optional `cb_url`/`cb_method` of an async call (SPEC §4.8)."""
    from chalicelib.domain.urlpolicy import check_url_syntax
    url, method = data.get("cb_url"), data.get("cb_method", "POST")
    if url in (None, ""):
        return None
    if not isinstance(url, str) or check_url_syntax(url):
        errs.add("cb_url", "Enter a valid URL.")
    if not isinstance(method, str) or method.upper() not in ("GET", "POST", "PUT", "DELETE"):
        errs.add("cb_method", f"Select a valid choice. {method} is not one of the available "
                              "choices.")
        return None
    return {"url": url, "method": method.upper()} if isinstance(url, str) else None


def start_task(task: Any, payload: dict[str, Any] | None = None) -> None:
    """Start the execution of a task whose records are written; a failure is rolled back."""
    from chalicelib.services import jobs
    try:
        jobs.start_execution(task, payload or {})
    except Exception:
        raise errors.ValidationFailed("Image operation could not be started; it was rolled back.")


# ---------------------------------------------------------------------------------------------
# PUT /image/<name>
# ---------------------------------------------------------------------------------------------
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
        return _update_on_server(principal, image, apply, data, changes, callback)
    task_id = dummy_task_id(principal.username)
    if apply:
        log = tasklog.entry(dc=image_dc(image), task_id=task_id, status="SUCCESS",
                            username=principal.username, owner=image.owner, name=name,
                            alias=image.alias, msg=tasklog.UPDATE_IMAGE,
                            detail=_sent_detail(data, changes))
        try:
            records.update(image, apply, expected_rev=image.rev, log=log)
        except records.Conflict as conflict:
            _explain_lost_update(name, conflict)
        image = _with(image, apply)
        image.rev = (image.rev or 0) + 1
    return Outcome(render(image), image_dc(image), task_id, headers={"ETag": etag(image)})


def _update_on_server(principal: Principal, image: Image, apply: dict[str, Any],
                      data: dict[str, Any], changes: dict[str, Any],
                      callback: dict[str, str] | None) -> Outcome:
    """Back up the old values, lock the image and let the workflow rewrite the manifest."""
    from chalicelib.services import jobs
    task_id = new_task_id()
    backup = {key: getattr(image, key) for key in apply if key in form.UPDATABLE}
    apply = dict(apply)
    apply.pop("manifest_active", None)  # the active manifest changes only when the store does
    apply.update(status=STATUS_PENDING, task_id=task_id, backup=backup)
    task = jobs.new_task(task_id=task_id, operation="update", image=image,
                         creator=principal.username, dc=image_dc(image), request={},
                         view=_view("PUT", image.name), callback=callback)
    try:
        records.update(image, apply, expected_rev=image.rev,
                       log=jobs.pending_log(task, _sent_detail(data, changes)),
                       extra=[("task", task)])
    except records.Conflict as conflict:
        _explain_lost_update(image.name, conflict)
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


def _sent_detail(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {key: changes[key] for key in form.UPDATABLE if key in changes and key in data}


def _explain_lost_update(name: str, conflict: records.Conflict) -> None:
    if "alias" in conflict.reasons:
        raise errors.ValidationFailed({"alias": [form.ALIAS_IN_USE]})
    current = find_image(name)
    if current is None:
        raise errors.NotFound(errors.IMAGE_NOT_FOUND)
    if current.status != STATUS_OK:
        raise errors.ExpectationFailed(errors.IMAGE_STATUS_NOT_OK)
    raise errors.PreconditionFailed("Precondition failed (image was modified concurrently)")


# ---------------------------------------------------------------------------------------------
# DELETE /image/<name>
# ---------------------------------------------------------------------------------------------
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
                             view=_view("DELETE", name), callback=callback)
        try:
            records.update(image, {"status": STATUS_PENDING, "task_id": task_id},
                           expected_rev=image.rev, log=jobs.pending_log(task, {}),
                           extra=[("task", task)])
        except records.Conflict as conflict:
            _explain_lost_update(name, conflict)
        start_task(task)
        return Outcome(None, image_dc(image), task_id, status=201, pending=True)

    task_id = dummy_task_id(principal.username)
    log = tasklog.entry(dc=image_dc(image), task_id=task_id, status="SUCCESS",
                        username=principal.username, owner=image.owner, name=name,
                        alias=image.alias, msg=tasklog.DELETE_IMAGE, detail="")
    try:
        records.delete(image, expected_rev=image.rev, log=log)
    except records.Conflict as conflict:
        _explain_lost_update(name, conflict)
    return Outcome(None, image_dc(image), task_id)


# re-exported for views: "This field is required." for a missing manifest_url etc.
__all__ = ["REQUIRED", "Outcome", "list_images", "get_image", "import_image", "update_image",
           "delete_image", "image_vms"]
