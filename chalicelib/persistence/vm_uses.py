"""A VM's state and its image-use items (`ImageUse`), written together: "which VMs use this
image" (the delete guard, GET /image/<name>/vm) is then one Query of the uses, not a Scan of
every VM.

The VM's update is conditioned on the `event_version` read just before (not only on being
older than the event), so two events of one VM racing cannot leave the uses of the loser
behind: the later commit sees a changed version, reads again and starts over.
"""
from __future__ import annotations

import functools
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.persistence.models import ImageUse, Vm, get_or_none

ATTEMPTS = 8  # each lost round means another event of this VM was applied meanwhile


@functools.lru_cache(maxsize=1)
def _connection() -> Connection:
    return Connection(region=Vm.Meta.region, host=Vm.Meta.host)


def apply(vm_uuid: str, image_uuids: list[str], dc: str, actions: list[Any],
          version: int) -> bool:
    """Apply `actions` and `version` to the VM and make its uses `image_uuids` (in `dc`).
    False when the stored VM is already as new as the event (a duplicate or late event)."""
    for _ in range(ATTEMPTS):
        current = get_or_none(Vm, vm_uuid)
        if current is not None and current.event_version >= version:
            return False
        before: set[str] = {str(u) for u in current.image_uuids or []} if current else set()
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.update(Vm(vm_uuid), actions=actions + [Vm.event_version.set(version)],
                          condition=_unchanged(current))
                for image_uuid in sorted(set(image_uuids)):
                    tx.save(ImageUse(image_uuid, vm_uuid, dc=dc))
                for gone in sorted(before - set(image_uuids)):
                    tx.delete(ImageUse(gone, vm_uuid))
            return True
        except TransactWriteError:
            continue  # the VM changed since it was read: read it again
    raise RuntimeError(f"VM {vm_uuid}: its events kept changing it ({ATTEMPTS} rounds)")


def _unchanged(current: Vm | None) -> Any:
    if current is None:
        return Vm.uuid.does_not_exist()
    if not current.event_version:
        return Vm.event_version.does_not_exist() | (Vm.event_version == 0)
    return Vm.event_version == current.event_version


def using(image_uuid: str, dcs: list[str]) -> list[ImageUse]:
    """The uses of an image by VMs in `dcs` (one Query; the DC filter applies to its items)."""
    if not dcs:
        return []
    return list(ImageUse.query(image_uuid, filter_condition=ImageUse.dc.is_in(*dcs)))
