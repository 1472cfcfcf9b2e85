"""The backfill of the catalogue's index keys (`./imagectl --aws migrate`; the local stack runs
it at start): images and tasks written before the indexes gain the keys their fields imply;
every VM of the read model gains its image-use items.

- idempotent: a record already carrying its keys is not written again;
- resumable: the scan position is saved after every page (a guard item), a second run goes on
  from there;
- without downtime: until the run has finished (the `done` mark), listings read the table as
  before (`catalogue.scan_walk`), so a record not yet backfilled is still listed; a write in
  between sets the keys itself (`records.add_update`), and a backfill write that loses to it
  (its condition on `rev`) leaves the newer record alone.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.persistence import catalogue_keys
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import Guard, Image, ImageUse, Task, Vm, get_or_none

# v2: tasks gained `ended_transfer` (a deployment marked v1 reads by Scan until it reruns)
MARK = "schema#catalogue-indexes-v2"        # image_name "done" once the backfill finished
PROGRESS = MARK + "#progress"               # image_name: JSON {"table": ..., "after": key}
PAGE = 500
_done_seen = False                          # once done, done for good: cached per container


@dataclass
class Report:
    images_read: int = 0
    images_updated: int = 0
    vms_read: int = 0
    uses_written: int = 0
    tasks_read: int = 0
    tasks_updated: int = 0
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def backfilled() -> bool:
    """Whether listings may use the indexes (one GetItem until it is so)."""
    global _done_seen
    if not _done_seen:
        mark = get_or_none(Guard, MARK)
        _done_seen = mark is not None and mark.image_name == "done"
    return _done_seen


def forget_cached_mark() -> None:
    global _done_seen
    _done_seen = False


def migrate(progress: Callable[[str], None] = lambda line: None,
            connection: Any = None) -> Report:
    global _done_seen
    report = Report()
    steps: list[tuple[str, Any, Callable[[Any, Report], None]]] = [
        ("images", Image, _backfill_image),
        ("vms", Vm, lambda vm, r: _backfill_uses(vm, r, connection)),
        ("tasks", Task, _backfill_task),
    ]
    saved = get_or_none(Guard, PROGRESS)
    state = json.loads(saved.image_name) if saved else {"table": "images", "after": None}
    report.resumed = saved is not None
    names = [name for name, _, _ in steps]
    for name, model, each in steps[names.index(str(state["table"])):]:
        _pages(model, state if state["table"] == name else {"table": name, "after": None},
               report, progress, each)
    Guard(MARK, image_name="done").save()
    Guard(PROGRESS).delete()
    _done_seen = True
    progress(f"done: {report.images_updated} of {report.images_read} images updated, "
             f"{report.uses_written} image uses written for {report.vms_read} VMs, "
             f"{report.tasks_updated} of {report.tasks_read} tasks updated")
    return report


def _pages(model: Any, state: dict[str, Any], report: Report,
           progress: Callable[[str], None], each: Callable[[Any, Report], None]) -> None:
    after = state["after"]
    while True:
        scan = model.scan(limit=PAGE, last_evaluated_key=after, page_size=PAGE)
        for item in scan:
            each(item, report)
        after = scan.last_evaluated_key
        progress(f"{state['table']}: {report.images_read} images, {report.vms_read} VMs, "
                 f"{report.tasks_read} tasks read")
        if after is None:
            return
        Guard(PROGRESS, image_name=json.dumps({"table": state["table"], "after": after})).save()


def _backfill_image(image: Image, report: Report) -> None:
    report.images_read += 1
    wanted = catalogue_keys.derived_keys(image)
    if wanted == catalogue_keys.stored_keys(image):
        return
    actions = [getattr(Image, key).set(value) if value is not None
               else getattr(Image, key).remove() for key, value in wanted.items()]
    # `rev` unchanged since the read, else a newer write already set the keys its own fields
    # imply (the condition is PynamoDB's version condition, written out once)
    if conditional_update(image, actions, Image.rev == image.rev, add_version_condition=False):
        report.images_updated += 1


def _backfill_uses(vm: Vm, report: Report, connection: Any) -> None:
    report.vms_read += 1
    if vm.deleted or not vm.image_uuids:
        return
    try:
        with TransactWrite(connection=connection or _connection()) as tx:
            # the read model's version unchanged: a newer event wrote the uses itself
            tx.condition_check(Vm, vm.uuid, condition=Vm.event_version == vm.event_version)
            for image_uuid in sorted(set(vm.image_uuids)):
                tx.save(ImageUse(image_uuid, vm.uuid, dc=vm.dc))
        report.uses_written += len(set(vm.image_uuids))
    except TransactWriteError:
        pass


def _backfill_task(task: Task, report: Report) -> None:
    report.tasks_read += 1
    wanted = catalogue_keys.task_keys(task)
    if all(getattr(task, key) == value for key, value in wanted.items()):
        return
    # a task's creation time, DC and id never change; `ended_transfer` follows its state and
    # transfer, so it is written only if those are still what was read (else the newer write
    # has set it: Task.update, lifecycle.remove_ended_transfer)
    actions = [getattr(Task, key).set(value) if value is not None
               else getattr(Task, key).remove() for key, value in wanted.items()]
    unchanged = (Task.state == task.state) & (Task.transfer.exists() if task.transfer
                                              else Task.transfer.does_not_exist())
    if conditional_update(task, actions, Task.task_id.exists() & unchanged):
        report.tasks_updated += 1


def _connection() -> Any:
    from pynamodb.connection import Connection
    return Connection(region=Image.Meta.region, host=Image.Meta.host)
