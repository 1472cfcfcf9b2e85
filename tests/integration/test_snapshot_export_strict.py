"""A snapshot export as ZFS and a person watching see it (issue 15.5, 18.4): the real agent
with the fake `zfs` that refuses what ZFS refuses, and a success message that times the whole
export, not only its ingest."""
from __future__ import annotations

import re

from chalicelib.persistence.models import Image, Task
from tests.integration import test_workflow_snapshot as snapshots
from tests.integration.workflow_support import wait_task

# the real agent on a node of its own (fixtures of test_workflow_snapshot.py)
admin, start_node, node = snapshots.admin, snapshots.start_node, snapshots.node
MiB = 1 << 20
TOOK = re.compile(r"\(transferred (\d+) bytes in (\d+) seconds\)$")


def test_the_success_message_times_the_whole_export(server, admin, node):
    """zfs writes 3 MiB at 1 MiB/s, so the export takes at least 3 s before its ingest (which
    moves the small gzip stream in well under a second) even starts."""
    node.shape(size=3 * MiB, rate=1 * MiB)
    task_id = create_and_wait(admin)
    message = admin.get(f"/task/{task_id}/status").json()["result"]["message"]
    took = TOOK.search(message)
    assert took, message
    task = Task.get(task_id)
    assert 3 <= int(took.group(2)) <= (task.finished - task.created).total_seconds() + 1
    [done] = node.agent.events("export.done")
    assert int(took.group(1)) == done["bytes"]


def test_a_snapshot_missing_on_the_node_fails_with_zfs_own_words(server, admin, node):
    node.shape(exists=False)
    task_id = snapshots.create(admin)
    r = wait_task(admin, task_id)
    assert r.status_code == 400
    assert r.json()["result"]["message"] == (
        "ERROR: Snapshot export failed (zfs send exited with status 1: "
        f"cannot open '{snapshots.FILESYSTEM}@{snapshots.ZFS_SNAPSHOT}': dataset does not "
        "exist)")
    snapshots.assert_rolled_back(server, task_id)


def create_and_wait(admin) -> str:
    task_id = snapshots.create(admin)
    r = wait_task(admin, task_id, timeout=60)
    assert r.status_code == 200, r.text
    assert Image.get("from-snap").status == 1
    return task_id
