"""Rules that keep a record consistent with what a client was told and with the store, found by
`bench/soak.py`: an ETag names the version it answers with; an update keeps its previous alias
until it can no longer roll back; a delete that has started removing store objects is
completed, never undone into an image without files."""
from __future__ import annotations

from chalicelib.persistence.models import Guard, Image
from tests.integration.workflow_support import start_import, wait_task
from tests.support import Api

CONTENT = b"rollback rules " * 4096




def test_a_synchronous_change_answers_with_the_etag_of_the_version_it_wrote(clean, files):
    admin = Api(clean.api_url, clean.admin_key)
    assert admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                      "dc": "main"}).status_code == 200
    changed = admin.put("/image/img1", {"desc": "changed"})
    assert changed.status_code == 200
    assert admin.get("/image/img1").headers["ETag"] == changed.headers["ETag"]
    again = admin.put("/image/img1", {"desc": "again"},
                      headers={"If-Match": changed.headers["ETag"]})
    assert again.status_code == 200, again.text


def test_an_update_keeps_its_previous_alias_until_it_ends(server, files, hold):
    admin = Api(server.api_url, server.admin_key)
    task_id, _ = start_import(admin, files, "img1", CONTENT, alias="shared", version="1")
    assert wait_task(admin, task_id).status_code == 200
    held = hold("write_manifest")
    r = admin.put("/image/img1", {"alias": "other"})
    assert r.status_code == 201
    update = r.json()["task_id"]
    held.wait_reached(update)

    # the update may still roll back, so nobody else may take alias shared/1 meanwhile
    r = admin.post("/image/img2", {"manifest_url": files.publish(files.manifest(CONTENT),
                                                                 content=CONTENT),
                                   "dc": "main", "alias": "shared", "version": "1"})
    assert r.status_code == 400
    assert r.json()["result"] == {"alias": [
        "This alias is already in use. Please supply a different alias or version."]}

    cancel = admin.put(f"/task/{update}/cancel")
    assert cancel.status_code == 410, cancel.text
    image = Image.get("img1")
    assert (image.alias, image.status, image.task_id) == ("shared", 1, None)
    assert {g.key for g in Guard.scan()} == {f"uuid#{image.uuid}", "alias#shared#1"}

    # and once an update succeeds, the previous alias is free again
    r = admin.put("/image/img1", {"alias": "other"})
    held.release(r.json()["task_id"])
    assert wait_task(admin, r.json()["task_id"]).status_code == 200
    assert {g.key for g in Guard.scan()} == {f"uuid#{image.uuid}", "alias#other#1"}


def test_a_delete_past_its_point_of_no_return_is_completed_by_a_cancel(server, files, hold):
    admin = Api(server.api_url, server.admin_key)
    task_id, manifest = start_import(admin, files, "img1", CONTENT)
    assert wait_task(admin, task_id).status_code == 200
    held = hold("finish")
    r = admin.delete("/image/img1")
    assert r.status_code == 201
    delete = r.json()["task_id"]
    held.wait_reached(delete)           # the store objects are gone; Finish has not run

    cancel = admin.put(f"/task/{delete}/cancel")
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["result"]["message"] == "Successfully deleted image img1"
    assert admin.get("/image/img1").status_code == 404
    assert Image.count("img1") == 0 and Guard.count() == 0
    assert server.store_keys() == []
    held.release(delete)
    assert wait_task(admin, delete).status_code == 200


def test_a_delete_cancelled_before_it_removes_anything_is_undone(server, files, hold):
    admin = Api(server.api_url, server.admin_key)
    task_id, manifest = start_import(admin, files, "img1", CONTENT)
    assert wait_task(admin, task_id).status_code == 200
    held = hold("delete_objects")
    r = admin.delete("/image/img1")
    delete = r.json()["task_id"]
    held.wait_reached(delete)

    cancel = admin.put(f"/task/{delete}/cancel")
    assert cancel.status_code == 410, cancel.text
    held.release(delete)                 # the step finds the task ended and deletes nothing
    image = Image.get("img1")
    assert (image.status, image.task_id) == (1, None)
    assert server.store_keys() == sorted([f"images/{manifest['uuid']}/file",
                                          f"images/{manifest['uuid']}/manifest"])
