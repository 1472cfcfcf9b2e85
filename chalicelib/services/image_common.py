"""What the image operations share: the outcome views render, lookups, checks and the start
of an image-server task. Each operation lives in its own module (queries, import, changes)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from pynamodb.exceptions import DoesNotExist

from chalicelib.config import settings
from chalicelib.domain import errors
from chalicelib.domain import image_form as form
from chalicelib.domain.image_view import STATUS_OK, etag
from chalicelib.domain.ordering import parse_order_by
from chalicelib.domain.permissions import Principal
from chalicelib.models import Datacenter, Image, User, Vm
from chalicelib.services import image_records as records
from chalicelib.services import tasklog

IMAGE_ORDER = ("name", "created")
ETAG_MISMATCH = "Precondition failed (ETag does not match)"
LOST_RACE_ATTEMPTS = 40   # far more than concurrent writers of one record ever need
_Op = TypeVar("_Op", bound=Callable[..., Any])


@dataclass
class Outcome:
    """What a view renders: the result, the DC the request ended in, extra headers."""

    result: Any
    dc: str
    task_id: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pending: bool = False          # an async task was started: 201 PENDING


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
        raise errors.PreconditionFailed(ETAG_MISMATCH)


def now() -> datetime:
    return datetime.now(timezone.utc)


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


def task_view(method: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"view": "image_manage", "method": method, "name": name, **extra}


def attach_log(image: Image, principal: Principal, task_id: str) -> Any:
    """A DC-bound image is attached to its DC at once, logged like Danube's attach."""
    if not image.dc_bound:
        return None
    return tasklog.entry(dc=image.dc_bound, task_id=task_id, status="SUCCESS",
                         username=principal.username, owner=image.owner, name=image.name,
                         alias=image.alias, msg=tasklog.ADD_TO_DC,
                         detail={"dc": image.dc_bound}, seq=2)


def create_record(image: Image, log: Any, errs: form.Errors, extra: list | None = None,
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


class LostRace(Exception):
    """A write lost to a concurrent change of an image that is still ok: read it again."""


def explain_lost_update(name: str, conflict: records.Conflict, if_match: str | None) -> None:
    """The answer for a change whose transaction lost: the lock (417) when the winner left
    the image pending, 412 only when the client's If-Match named the version that is gone;
    otherwise LostRace, and `retry_lost_races` runs the request again on the new version."""
    if "alias" in conflict.reasons:
        raise errors.ValidationFailed({"alias": [form.ALIAS_IN_USE]})
    current = find_image(name)
    if current is None:
        raise errors.NotFound(errors.IMAGE_NOT_FOUND)
    if current.status != STATUS_OK:
        raise errors.ExpectationFailed(errors.IMAGE_STATUS_NOT_OK)
    if if_match:
        raise errors.PreconditionFailed(ETAG_MISMATCH)
    raise LostRace(name)


def retry_lost_races(operation: _Op) -> _Op:
    """Run a change again (from its first read) while it loses to concurrent synchronous
    changes, after a short random pause that spreads the losers out (each round has a
    winner, so N writers need at most N - 1 retries); an image changed that often for that
    long is treated as locked."""
    import random
    import time

    @functools.wraps(operation)
    def run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(LOST_RACE_ATTEMPTS):
            try:
                return operation(*args, **kwargs)
            except LostRace:
                time.sleep(random.uniform(0, min(0.05, 0.002 * 2 ** attempt)))
        raise errors.ExpectationFailed(errors.IMAGE_STATUS_NOT_OK)
    return run  # type: ignore[return-value]


def sent_detail(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {key: changes[key] for key in form.UPDATABLE if key in changes and key in data}
