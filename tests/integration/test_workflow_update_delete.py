"""PUT and DELETE with an image server (SPEC §4.4, §4.5): workflows, rollbacks, the lock."""
from __future__ import annotations

import json

import boto3
import pytest

from chalicelib.persistence.models import Guard, Image
from tests.integration.workflow_support import execution_status, start_import, wait_task
from tests.support import Api

CONTENT = b"disk-image-bytes" * 65536   # 1 MiB


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


@pytest.fixture
def ready(server, admin, files) -> Image:
    task_id, _ = start_import(admin, files, "img1", CONTENT, alias="one", version="1")
    assert wait_task(admin, task_id).status_code == 200
    return Image.get("img1")


def stored_manifest(server, uuid: str) -> dict:
    return json.loads(boto3.client("s3").get_object(
        Bucket=server.bucket, Key=f"images/{uuid}/manifest")["Body"].read())


class TestUpdate:
    def test_update_rewrites_the_manifest_in_the_store(self, server, admin, ready):
        r = admin.put("/image/img1", {"desc": "new words", "version": "2"})
        assert r.status_code == 201 and r.json()["status"] == "PENDING"
        task_id = r.json()["task_id"]
        result = wait_task(admin, task_id)
        assert result.status_code == 200
        assert result.json()["result"] == {"returncode": 0,
                                           "message": "Successfully updated image img1"}
        image = Image.get("img1")
        assert (image.status, image.desc, image.version, image.backup) == \
            (1, "new words", "2", None)
        assert stored_manifest(server, image.uuid)["description"] == "new words"
        assert image.manifest_active["version"] == "2"
        assert Guard.count("alias#one#2") == 1 and Guard.count("alias#one#1") == 0

    def test_owner_or_dc_bound_only_stays_synchronous(self, server, admin, ready):
        r = admin.put("/image/img1", {"owner": "admin", "dc_bound": True})
        assert r.status_code == 200 and r.json()["status"] == "SUCCESS"

    def test_failure_restores_every_backed_up_field(self, clean, files):
        """An image imported without an image server has nothing in the store: esimg's
        `Target image directory does not exist` (7), and the update is undone."""
        admin = Api(clean.api_url, clean.admin_key)
        r = admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                       "dc": "main", "alias": "one", "version": "1"})
        assert r.status_code == 200
        clean.use_image_server(True)
        before = Image.get("img1")
        r = admin.put("/image/img1", {"alias": "two", "version": "9", "desc": "changed",
                                      "tags": ["a"], "access": 1})
        assert r.status_code == 201
        assert Image.get("img1").status == 2
        result = wait_task(admin, r.json()["task_id"])
        message = "ERROR: Target image directory does not exist"
        assert result.status_code == 400
        assert result.json()["result"] == {"returncode": 7, "message": message,
                                           "detail": f"Got bad return code (7). Error: {message}"}
        after = Image.get("img1")
        for field in ("alias", "version", "desc", "tags", "access", "manifest"):
            assert getattr(after, field) == getattr(before, field), field
        assert after.status == 1 and after.backup is None and after.task_id is None
        assert Guard.count("alias#one#1") == 1 and Guard.count("alias#two#9") == 0
        assert execution_status(r.json()["task_id"]) == "FAILED"

    def test_pending_changes_are_visible_and_alias_is_reserved(self, server, admin, ready, files):
        r = admin.put("/image/img1", {"alias": "three"})
        assert r.status_code == 201
        # the new alias is claimed at once, so no other image can take it meanwhile
        task_id, _ = start_import(admin, files, "img2", CONTENT, alias="zzz")
        other = admin.post("/image/img3", {"manifest_url": files.publish(files.manifest()),
                                           "dc": "main", "alias": "three", "version": "1"})
        assert other.status_code == 400 and "alias" in other.json()["result"]
        assert wait_task(admin, r.json()["task_id"]).status_code == 200
        assert wait_task(admin, task_id).status_code == 200


class TestDelete:
    def test_delete_removes_objects_then_record(self, server, admin, ready):
        r = admin.delete("/image/img1")
        assert r.status_code == 201
        result = wait_task(admin, r.json()["task_id"])
        assert result.status_code == 200
        assert result.json()["result"]["message"] == "Successfully deleted image img1"
        assert Image.count("img1") == 0 and Guard.count(f"uuid#{ready.uuid}") == 0
        assert server.store_keys() == []

    def test_failure_puts_the_image_back(self, server, admin, ready, settings_override):
        """The store is unreachable for the whole run: retries, then Catch, then status 1."""
        settings_override(IMAGE_STORE_BUCKET="no-such-bucket")
        r = admin.delete("/image/img1")
        assert r.status_code == 201
        result = wait_task(admin, r.json()["task_id"], timeout=60)
        assert result.status_code == 400
        assert result.json()["result"]["message"].startswith(
            "ERROR: Image store is not available")
        image = Image.get("img1")
        assert image.status == 1 and image.task_id is None
        assert len(server.store_keys()) == 2
