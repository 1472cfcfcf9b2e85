"""Writes of image records that must hold under concurrency.

Uniqueness (name, uuid, alias+version), the DC image limit and the status lock are enforced by
DynamoDB conditions in one TransactWriteItems call, never by read-then-write. The audit entry
rides in the same transaction, so a change and its log line exist together or not at all.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.vocabulary import ImageStatus
from chalicelib.persistence import catalogue_keys
from chalicelib.persistence.models import Datacenter, Guard, Image, TaskLogEntry

STATUS_OK = int(ImageStatus.OK)


def uuid_guard(uuid: str) -> str:
    return f"uuid#{uuid}"


def alias_guard(alias: str, version: str) -> str:
    return f"alias#{alias.lower()}#{version}"


@functools.lru_cache(maxsize=1)
def _connection() -> Connection:
    return Connection(region=Image.Meta.region, host=Image.Meta.host)


class Conflict(Exception):
    """A transaction lost a condition; `reasons` names the labels of the failed operations."""

    def __init__(self, reasons: set[str]) -> None:
        self.reasons = reasons
        super().__init__(", ".join(sorted(reasons)))


@dataclass
class _Op:
    kind: str        # delete, put, update (DynamoDB reports reasons in this order)
    label: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Tx:
    """Collects labelled operations so that cancellation reasons map back to their meaning."""

    def __init__(self) -> None:
        self.ops: list[_Op] = []

    def put(self, label: str, model: Any, **kw: Any) -> None:
        self.ops.append(_Op("put", label, (model,), kw))

    def update(self, label: str, model: Any, actions: list[Any], **kw: Any) -> None:
        self.ops.append(_Op("update", label, (model, actions), kw))

    def delete(self, label: str, model: Any, **kw: Any) -> None:
        self.ops.append(_Op("delete", label, (model,), kw))

    def check(self, label: str, model_cls: Any, hash_key: Any, condition: Any) -> None:
        """A condition on another item, written nothing: the transaction needs it to hold."""
        self.ops.append(_Op("condition_check", label, (model_cls, hash_key),
                            {"condition": condition}))

    def commit(self) -> None:
        order = {"condition_check": 0, "delete": 1, "put": 2, "update": 3}
        ordered = sorted(self.ops, key=lambda op: order[op.kind])  # stable: PynamoDB's order
        try:
            with TransactWrite(connection=_connection()) as tx:
                for op in self.ops:
                    getattr(tx, {"put": "save"}.get(op.kind, op.kind))(*op.args, **op.kwargs)
        except TransactWriteError as exc:
            reasons = getattr(exc, "cancellation_reasons", None) or []
            failed = {op.label for op, reason in zip(ordered, reasons, strict=False)
                      if reason is not None and getattr(reason, "code", None)}
            if not failed:
                raise
            raise Conflict(failed) from exc


def _image_condition(require_status: int | None, expected_rev: int | None,
                     require_task: str | None) -> Any:
    condition = Image.name.exists()
    if require_status is not None:
        condition &= Image.status == require_status
    if expected_rev is not None:
        condition &= Image.rev == expected_rev
    if require_task is not None:
        condition &= Image.task_id == require_task
    return condition


def add_create(tx: Tx, image: Image) -> None:
    """Insert a new image with its guards and bump its DC's image count under the limit."""
    tx.put("name", image, condition=Image.name.does_not_exist())
    tx.put("uuid", Guard(uuid_guard(image.uuid), image_name=image.name),
           condition=Guard.key.does_not_exist())
    tx.put("alias", Guard(alias_guard(image.alias, image.version), image_name=image.name),
           condition=Guard.key.does_not_exist())
    if image.dc_bound:
        tx.update("limit", Datacenter(image.dc_bound), [Datacenter.image_count.add(1)],
                  condition=Datacenter.name.exists() & (
                      Datacenter.image_limit.does_not_exist()
                      | (Datacenter.image_count < Datacenter.image_limit)))


MOVE, HOLD, RETURN = "move", "hold", "return"


def add_update(tx: Tx, image: Image, changes: dict[str, Any], *,
               require_status: int | None = STATUS_OK, expected_rev: int | None = None,
               require_task: str | None = None, alias_guards: str = MOVE) -> None:
    """Apply `changes`, moving guards and DC counts as the change requires.

    `image` is the record as read; its alias/version/dc_bound are the "before" values. When the
    alias+version changes, `alias_guards` says what happens to the guards:
    - MOVE: release the current guard, claim the new one (a change that is final at once);
    - HOLD: claim the new one and keep the current one (an update whose task may still roll
      back: nobody can take the old alias meanwhile; `release_alias` frees it on success);
    - RETURN: release the current guard; the target one is still held (that rollback).
    """
    changes = {**changes, **_index_key_changes(image, changes)}
    actions = [getattr(Image, key).set(value) if value is not None else getattr(Image, key).remove()
               for key, value in changes.items()]
    tx.update("status", image, actions, add_version_condition=False,
              condition=_image_condition(require_status, expected_rev, require_task))

    new_alias = changes.get("alias", image.alias)
    new_version = changes.get("version", image.version)
    if alias_guard(new_alias, new_version) != alias_guard(image.alias, image.version):
        if alias_guards in (MOVE, RETURN):
            release_alias(tx, image.alias, image.version, image.name)
        if alias_guards in (MOVE, HOLD):
            tx.put("alias", Guard(alias_guard(new_alias, new_version), image_name=image.name),
                   condition=Guard.key.does_not_exist())

    if "dc_bound" in changes and changes["dc_bound"] != image.dc_bound:
        if image.dc_bound:
            tx.update("old-dc", Datacenter(image.dc_bound), [Datacenter.image_count.add(-1)],
                      condition=Datacenter.name.exists())
        if changes["dc_bound"]:
            tx.update("new-dc", Datacenter(changes["dc_bound"]), [Datacenter.image_count.add(1)],
                      condition=Datacenter.name.exists())


def _index_key_changes(image: Image, changes: dict[str, Any]) -> dict[str, Any]:
    """The index keys that the change moves (or that a record from before the indexes lacks)."""
    after = SimpleNamespace(**{key: changes.get(key, getattr(image, key))
                               for key in (*catalogue_keys.SOURCES, "name", "created")})
    stored = catalogue_keys.stored_keys(image)
    return {key: value for key, value in catalogue_keys.derived_keys(after).items()
            if value != stored[key]}


def release_alias(tx: Tx, alias: str, version: str, image_name: str) -> None:
    tx.delete("old-alias", Guard(alias_guard(alias, version)),
              condition=Guard.image_name == image_name)


def add_delete(tx: Tx, image: Image, *, require_status: int | None = STATUS_OK,
               expected_rev: int | None = None, require_task: str | None = None) -> None:
    """Remove an image, its guards and its count on the owning DC."""
    tx.delete("status", image, add_version_condition=False,
              condition=_image_condition(require_status, expected_rev, require_task))
    tx.delete("uuid-guard", Guard(uuid_guard(image.uuid)), condition=Guard.image_name == image.name)
    tx.delete("alias-guard", Guard(alias_guard(image.alias, image.version)),
              condition=Guard.image_name == image.name)
    if image.dc_bound:
        tx.update("dc", Datacenter(image.dc_bound), [Datacenter.image_count.add(-1)],
                  condition=Datacenter.name.exists())


def _commit(tx: Tx, extra: Iterable[tuple[str, Any]] = (),
            also: Callable[[Tx], None] | None = None) -> None:
    for label, model in extra:
        if model is not None:
            tx.put(label, model)
    if also is not None:
        also(tx)
    tx.commit()


def create(image: Image, log: TaskLogEntry | None, extra: Iterable[tuple[str, Any]] = (),
           also: Callable[[Tx], None] | None = None) -> None:
    """`extra` items are put in the same transaction; `also` may add any other operation."""
    tx = Tx()
    add_create(tx, image)
    _commit(tx, [("log", log), *extra], also)


def update(image: Image, changes: dict[str, Any], *, require_status: int | None = STATUS_OK,
           expected_rev: int | None = None, log: TaskLogEntry | None = None,
           extra: Iterable[tuple[str, Any]] = (), alias_guards: str = MOVE) -> None:
    tx = Tx()
    add_update(tx, image, changes, require_status=require_status, expected_rev=expected_rev,
               alias_guards=alias_guards)
    _commit(tx, [("log", log), *extra])


def delete(image: Image, *, require_status: int | None = STATUS_OK,
           expected_rev: int | None = None, log: TaskLogEntry | None = None) -> None:
    tx = Tx()
    add_delete(tx, image, require_status=require_status, expected_rev=expected_rev)
    _commit(tx, [("log", log)])


def guard_owners(keys: Iterable[str]) -> dict[str, str]:
    """key -> image name for the guards that exist (one BatchGetItem)."""
    return {guard.key: guard.image_name for guard in Guard.batch_get(list(dict.fromkeys(keys)))}
