"""The tasks' remaining access patterns by index (issue 17): the cleanup's finished transfers
from the sparse `ended-transfer-index`, `imagectl task list --user` from `tasks-creator-index`
(newest first), and the backfill that gives existing tasks their keys.

Tasks are seeded straight into the table (through the model, which derives the index keys as
every write does); what the emulator read is measured by its read meter."""
from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.persistence.models import Guard, Task
from chalicelib.services.maintenance import catalogue_migration as migration
from chalicelib.services.maintenance import cleanup
from cli import imagectl
from devstack import ddb_meter
from tests.integration.test_imagectl import without_log_lines

BASE = datetime(2025, 4, 1, tzinfo=UTC)
USERS = ("alice", "bob", "carol")
LEFTOVER = {"key": "images/gone/file", "runs": 1}   # transfer state without an open upload


def seed_tasks(count: int, **fields: Any) -> list[Task]:
    tasks = [Task(f"t-{i:04d}", operation="import", creator=USERS[i % 3], owner="admin",
                  dc="eu" if i % 2 else "main", image_name=f"img-{i}",
                  created=BASE + timedelta(seconds=(i * 7) % count), state="done",
                  status="SUCCESS") for i in range(count)]
    for task in tasks:
        for name, value in fields.items():
            setattr(task, name, value)
    with Task.batch_write() as batch:
        for task in tasks:
            batch.save(task)
    return tasks


def newest_first(tasks: list[Task]) -> list[str]:
    return [task.task_id for task in sorted(tasks, key=lambda t: (t.created, t.task_id),
                                            reverse=True)]


@contextlib.contextmanager
def restored_mark():
    """The backfill's mark removed for the test (listings read by Scan), written back after."""
    Guard(migration.MARK).delete()
    migration.forget_cached_mark()
    try:
        yield
    finally:
        migration.migrate()


# ---------------------------------------------------------------------------------------------
# The cleanup's finished transfers
# ---------------------------------------------------------------------------------------------
def metered_job(job: str) -> tuple[cleanup.CleanupReport, ddb_meter.Reads]:
    """A cleanup run, with what the emulator read during `job` alone (the other jobs, such
    as the expiry's Scan, are not this pattern's cost)."""
    stack = contextlib.ExitStack()
    reads: list[ddb_meter.Reads] = []

    def progress(name: str, result: Any) -> None:
        if name == job and result is None:
            reads.append(stack.enter_context(ddb_meter.window()))
        elif name == job:
            stack.close()

    with stack:
        report = cleanup.run(progress=progress)
    return report, reads[0]


def test_the_cleanup_reads_only_ended_tasks_with_transfer_state(clean):
    seed_tasks(90)                                       # ended, nothing left over
    Task("run-1", operation="import", creator="bob", owner="admin", dc="main",
         image_name="img-r", created=BASE, state="running", status="PENDING",
         transfer=LEFTOVER).save()                       # running: its transfer is live
    Task("put-1", operation="import", creator="bob", owner="admin", dc="main",
         image_name="img-p", created=BASE, state="done", status="FAILURE",
         transfer=LEFTOVER).save()                       # written with its leftover (a put)
    Task("t-0003").update(actions=[Task.transfer.set(LEFTOVER)])  # a hand edit (UpdateItem)
    assert Task.get("t-0003").ended_transfer == "ended"
    assert Task.get("run-1").ended_transfer is None

    report, reads = metered_job("checkpoints_removed")

    assert sorted(report.checkpoints_removed) == ["put-1", "t-0003"]
    assert reads.ops("-tasks") == {"query": 1}, reads.calls   # no Scan of the tasks table
    assert reads.items_of("-tasks") == 2, reads.items_at      # a Scan would read 93
    for task_id in ("put-1", "t-0003"):
        task = Task.get(task_id)
        assert task.transfer is None and task.ended_transfer is None
    assert Task.get("run-1").transfer == LEFTOVER
    assert cleanup.run().checkpoints_removed == []


def test_before_the_backfill_the_cleanup_still_finds_them(clean):
    """A record written before the index (no `ended_transfer`) is found by the Scan the
    cleanup keeps until the backfill has finished, and the backfill indexes it."""
    seed_tasks(10)
    Task("t-0004").update(actions=[Task.transfer.set(LEFTOVER), Task.ended_transfer.remove()])
    assert Task.get("t-0004").ended_transfer is None     # as an earlier version left it
    with restored_mark():
        assert cleanup.run(dry_run=True).checkpoints_removed == ["t-0004"]
        report = migration.migrate()
        assert report.tasks_read == 10 and report.tasks_updated == 1
        assert Task.get("t-0004").ended_transfer == "ended"
        assert migration.migrate().tasks_updated == 0    # idempotent
        _, reads = metered_job("checkpoints_removed")
        assert reads.ops("-tasks") == {"query": 1}


def test_the_backfill_gives_old_tasks_every_key(clean):
    """Tasks from before any task index (no `listed`, `created_key`, `ended_transfer`) are
    listed per user and cleaned once backfilled; a second run writes nothing."""
    tasks = seed_tasks(12)
    for task in tasks:
        Task(task.task_id).update(actions=[Task.listed.remove(), Task.created_key.remove(),
                                           Task.ended_transfer.remove()])
    Task("t-0005").update(actions=[Task.transfer.set(LEFTOVER), Task.ended_transfer.remove()])
    with restored_mark():
        report = migration.migrate()
        assert (report.tasks_read, report.tasks_updated) == (12, 12)
        assert migration.migrate().tasks_updated == 0
        stored = Task.get("t-0005")
        assert stored.created_key and stored.listed == "task"
        assert stored.ended_transfer == "ended"
        bob = [task for task in tasks if task.creator == "bob"]
        assert [task.task_id for task in Task.creator_index.query(
            "bob", scan_index_forward=False)] == newest_first(bob)


# ---------------------------------------------------------------------------------------------
# imagectl task list --user
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def ctl(clean, monkeypatch, capsys):
    monkeypatch.setattr(imagectl, "target_environment", lambda use_aws: None)

    def run(*args: str) -> list[dict[str, Any]]:
        capsys.readouterr()
        assert imagectl.main([*args, "--json"]) == 0
        return json.loads(without_log_lines(capsys.readouterr().out))

    return run


def test_task_list_of_a_user_is_newest_first_and_reads_its_page(clean, ctl):
    clean.dc("eu")
    tasks = seed_tasks(150)
    bob = [task for task in tasks if task.creator == "bob"]
    with ddb_meter.window() as reads:
        rows = ctl("task", "list", "--user", "bob", "--limit", "6")
    assert [row["task_id"] for row in rows] == newest_first(bob)[:6]
    assert {row["creator"] for row in rows} == {"bob"}
    assert reads.ops("-tasks") == {"query": 1}, reads.calls
    assert reads.items_of("-tasks") <= 6 + 1, reads.items_at      # a Scan reads all 150

    in_eu = ctl("task", "list", "--user", "bob", "--dc", "eu", "--limit", "5")
    assert [row["task_id"] for row in in_eu] == \
        newest_first([task for task in bob if task.dc == "eu"])[:5]
    assert ctl("task", "list", "--user", "nobody") == []


def test_task_list_of_a_user_before_the_backfill(ctl):
    """Until the backfill has finished the same answer comes from a Scan."""
    tasks = seed_tasks(30)
    with restored_mark():
        rows = ctl("task", "list", "--user", "carol", "--limit", "4")
    assert [row["task_id"] for row in rows] == \
        newest_first([task for task in tasks if task.creator == "carol"])[:4]
