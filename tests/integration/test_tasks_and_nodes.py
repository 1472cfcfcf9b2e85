"""Tasks (SPEC §4.8), the compute-node image source (§4.10) and the reconciler (§9)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests

from chalicelib.persistence.models import Image, Task
from chalicelib.services.maintenance import cleanup
from tests.integration.workflow_support import start_import, wait_task
from tests.support import Api, image_admin_roles

CONTENT = b"node-image" * 100000


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


@pytest.fixture
def ready(server, admin, files):
    task_id, manifest = start_import(admin, files, "img1", CONTENT)
    assert wait_task(admin, task_id).status_code == 200
    return task_id, Image.get("img1")


class TestTasks:
    def test_dummy_and_unknown_ids_are_404(self, server, admin):
        dummy = admin.get("/image").json()["task_id"]
        for task_id in (dummy, "eu-00000000-0000-0000-0000-000000000000", "x"):
            for suffix in ("/status", "/done", ""):
                r = admin.get(f"/task/{task_id}{suffix}")
                assert r.status_code == 404
                assert r.json() == {"detail": "Task does not exist (anymore)"}

    def test_who_may_read_a_task(self, server, admin, files):
        server.dc("dc2")
        alice = server.user("alice", roles=image_admin_roles("main"))
        task_id, _ = start_import(alice, files, "img1", CONTENT)
        wait_task(alice, task_id)
        stranger = server.user("stranger", roles=image_admin_roles("dc2"))
        dc_admin = server.user("dcadmin", roles={"main": ["admin"]})
        assert stranger.get(f"/task/{task_id}/status").status_code == 403
        assert stranger.get(f"/task/{task_id}/status").json() == {"detail": "Permission denied"}
        assert dc_admin.get(f"/task/{task_id}/status").status_code == 200
        assert admin.get(f"/task/{task_id}/status").status_code == 200
        assert stranger.put(f"/task/{task_id}/cancel").status_code == 403

    def test_cancel_needs_the_right_to_start_the_operation(self, server, admin, files, hold):
        """Reading a task is not enough to cancel it (issue 9.1)."""
        held = hold("import_file")
        bob = server.user("bob")  # the image's owner, no roles
        task_id, _ = start_import(admin, files, "img1", CONTENT, owner="bob")
        held.wait_reached(task_id)
        refused = {
            "owner": bob,
            "dc admin": server.user("dcadmin", roles={"main": ["admin"]}),
            "image admin": server.user("imgadmin", roles=image_admin_roles("main",
                                                                           importer=False)),
        }
        for who, api in refused.items():
            assert api.get(f"/task/{task_id}/status").status_code == 201, who  # may read
            r = api.put(f"/task/{task_id}/cancel")
            assert (r.status_code, r.json()) == (403, {"detail": "Permission denied"}), who
            assert Task.get(task_id).state == "running"
        importer = server.user("importer", roles=image_admin_roles("main"))
        r = importer.put(f"/task/{task_id}/cancel")
        assert r.status_code == 410 and r.json()["status"] == "REVOKED"
        held.release(task_id)

    def test_tasks_of_an_unbound_image_hide_as_the_image_does(self, server, admin, files):
        """DC admins get 403 on a DC-unbound image: on its tasks and log entries too (9.2)."""
        task_id, _ = start_import(admin, files, "img1", CONTENT, dc_bound=False,
                                  desc="secret plans")
        assert wait_task(admin, task_id).status_code == 200
        dc_admin = server.user("dcadmin", roles=image_admin_roles("main"))
        assert dc_admin.get("/image/img1").status_code == 403
        for suffix in ("", "/status", "/done"):
            r = dc_admin.get(f"/task/{task_id}{suffix}")
            assert (r.status_code, r.json()) == (403, {"detail": "Permission denied"}), suffix
        entries = dc_admin.get("/task/log", params={"limit": 1000}).json()["result"]
        assert not [e for e in entries if e["task"] == task_id or e["object_name"] == "img1"]
        assert admin.get(f"/task/{task_id}").status_code == 200
        everything = admin.get("/task/log", params={"limit": 1000}).json()["result"]
        assert {e["status"] for e in everything if e["task"] == task_id} == {"PENDING",
                                                                             "SUCCESS"}
        # a bound image's tasks stay visible to the DC's admins
        bound_id, _ = start_import(admin, files, "img2", CONTENT + b"2")
        assert wait_task(admin, bound_id).status_code == 200
        assert dc_admin.get(f"/task/{bound_id}").status_code == 200
        entries = dc_admin.get("/task/log", params={"limit": 1000}).json()["result"]
        assert {e["task"] for e in entries} >= {bound_id}

    def test_task_log_newest_first_and_paged(self, server, admin, ready):
        task_id, _ = ready
        r = admin.get("/task/log", params={"limit": 2})
        assert r.status_code == 200
        entries = r.json()["result"]
        assert len(entries) == 2 and entries[0]["time"] >= entries[1]["time"]
        rest = admin.get("/task/log", params={"limit": 10, "cursor": r.headers["es_next"]})
        all_entries = entries + rest.json()["result"]
        assert {e["msg"] for e in all_entries} == {"Import image",
                                                   "Add server image to datacenter"}
        assert {e["status"] for e in all_entries if e["task"] == task_id} == {"PENDING",
                                                                              "SUCCESS"}

    def test_task_log_needs_dc_admin(self, server):
        server.dc("dc2")
        alice = server.user("alice", roles=image_admin_roles("dc2"))
        assert alice.get("/task/log").status_code == 403
        assert alice.get("/task/log", params={"dc": "dc2"}).status_code == 200


class TestNodeSource:
    def test_list_get_and_file_redirect(self, server, admin, ready):
        _, image = ready
        listed = admin.get("/images")
        assert listed.status_code == 200
        assert [m["uuid"] for m in listed.json()] == [image.uuid]
        assert admin.get("/images", params={"os": "windows"}).json() == []
        assert admin.get("/images", params={"name": "img1"}).json()[0]["uuid"] == image.uuid
        manifest = admin.get(f"/images/{image.uuid}").json()
        # as a DC's IMGAPI serves it (imgmanifest.validateDcManifest): activated, and a zvol
        # names its drivers
        assert manifest == {**image.manifest_active, "activated": True,
                            "nic_driver": "virtio", "disk_driver": "virtio"}
        r = admin.get(f"/images/{image.uuid}/file", slash=False)
        assert r.status_code == 302
        data = requests.get(r.headers["Location"], timeout=10).content
        assert data == CONTENT

    def test_node_token(self, server, ready, settings_override):
        settings_override(NODE_TOKEN="node-secret")
        node = Api(server.api_url, None)
        ok = node.get("/images", headers={"ES-NODE-TOKEN": "node-secret"})
        bad = node.get("/images", headers={"ES-NODE-TOKEN": "wrong"})
        none = node.get("/images")
        assert ok.status_code == 200 and len(ok.json()) == 1
        assert bad.status_code == 401 and none.status_code == 401

    def test_pending_and_unknown_images_are_not_served(self, server, admin):
        r = admin.get("/images/0b0b0b0b-0000-4000-8000-000000000000")
        assert r.status_code == 404 and r.json() == {"detail": "Image not found"}


class TestReconciler:
    def test_task_whose_execution_never_started(self, server, admin, files):
        """A crash between writing the task and starting its execution is repaired."""
        task_id, _ = start_import(admin, files, "img1", CONTENT)
        wait_task(admin, task_id)
        # forge the state a crash would leave: a pending task + image, no execution
        image = Image.get("img1")
        Image("img1").update(actions=[Image.status.set(2), Image.task_id.set("eu-lost"),
                                      Image.manifest_active.remove()],
                             add_version_condition=False)
        from chalicelib.services.tasks import lifecycle
        lost = lifecycle.new_task(task_id="eu-lost", operation="import", image=image,
                             creator="admin", dc="main", request={}, view={})
        lost.created = datetime.now(UTC) - timedelta(hours=1)
        lost.save()
        dry = cleanup.run(dry_run=True)
        assert dry.tasks_finished == ["eu-lost"] and Task.get("eu-lost").status == "PENDING"
        report = cleanup.run()
        assert report.tasks_finished == ["eu-lost"]
        assert Task.get("eu-lost").status == "FAILURE"
        assert Image.count("img1") == 0
        assert server.store_keys() == []

    def test_pending_image_without_a_task_is_repaired(self, server, admin, ready):
        Image("img1").update(actions=[Image.status.set(2), Image.task_id.set("eu-gone")],
                             add_version_condition=False)
        report = cleanup.run()
        assert report.images_repaired == ["img1"]
        assert Image.get("img1").status == 1

    def test_orphans_and_stale_uploads(self, server, ready, settings_override):
        s3 = boto3.client("s3")
        s3.put_object(Bucket=server.bucket, Key="images/orphan-uuid/file", Body=b"x")
        s3.create_multipart_upload(Bucket=server.bucket, Key="images/orphan-uuid/big")
        settings_override(CLEANUP_GRACE_SECONDS=0)
        dry = cleanup.run(dry_run=True, now=datetime.now(UTC) + timedelta(seconds=5))
        assert dry.orphans_deleted == ["images/orphan-uuid/file"]
        assert dry.uploads_aborted == ["images/orphan-uuid/big"]
        assert "images/orphan-uuid/file" in server.store_keys()
        cleanup.run(now=datetime.now(UTC) + timedelta(seconds=5))
        _, image = ready
        assert server.store_keys() == [f"images/{image.uuid}/file",
                                       f"images/{image.uuid}/manifest"]
        assert server.open_uploads() == []

    def test_checkpoint_left_on_an_ended_task(self, server, ready):
        """The ending transaction removes a transfer's checkpoint; one written otherwise (an
        earlier version, a hand edit) is removed by the cleanup, its upload aborted first."""
        task_id, image = ready
        key = f"images/{image.uuid}/file"
        upload = boto3.client("s3").create_multipart_upload(Bucket=server.bucket, Key=key)
        Task(task_id).update(actions=[Task.transfer.set({
            "key": key, "runs": 2, "checkpoint": {"part_size": 5 << 20, "parts": 1,
                                                  "upload_id": upload["UploadId"]}})])
        dry = cleanup.run(dry_run=True)
        assert dry.checkpoints_removed == [task_id] and Task.get(task_id).transfer
        report = cleanup.run()
        assert report.checkpoints_removed == [task_id]
        assert report.uploads_aborted == []  # aborted by name, not found stale afterwards
        assert Task.get(task_id).transfer is None
        assert server.open_uploads() == []
        assert cleanup.run().checkpoints_removed == []

    def test_expired_task_records_are_removed(self, server, ready):
        task_id, _ = ready
        report = cleanup.run(now=datetime.now(UTC) + timedelta(days=400))
        assert report.records_expired >= 1
        assert Task.count(task_id) == 0


def test_cleanup_leaves_running_transfers_alone(server, files, settings_override):
    """The emulator reports every upload as years old; a running import must survive anyway."""
    from tests.integration.workflow_support import Gate
    admin = Api(server.api_url, server.admin_key)
    content = b"z" * (12 << 20)   # more than one part: a multipart upload is open meanwhile
    gate = Gate(content, head=6 << 20)
    manifest = files.manifest(content)
    url = files.publish(manifest)
    files.server.expect_request("/" + url.split("/", 3)[3] + "/file").respond_with_handler(
        gate.handler)
    task_id = admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).json()["task_id"]
    assert gate.started.wait(20)
    from tests.support import wait_for
    wait_for(lambda: server.open_uploads(), timeout=20)
    settings_override(CLEANUP_GRACE_SECONDS=0)
    report = cleanup.run(now=datetime.now(UTC) + timedelta(seconds=5))
    assert report.uploads_aborted == [] and report.tasks_finished == []
    gate.release.set()
    assert wait_task(admin, task_id).status_code == 200
