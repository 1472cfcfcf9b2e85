"""POST /image/<name>: import from a manifest URL, without an image server (SPEC §4.3)."""
from __future__ import annotations

import json

import pytest

from chalicelib.persistence.models import Datacenter, Image, TaskLogEntry
from tests.support import image_admin_roles

DC_REQUIRED = ('You have to specify to which datacenter shall the image be bound. '
               'Either use the "dc" parameter or set the "dc_bound" parameter to false.')
FIELD_ORDER = ["dc_bound", "name", "uuid", "alias", "version", "owner", "access", "desc",
               "ostype", "size", "resize", "deploy", "tags", "status", "created"]


def failure(response) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "FAILURE"
    return body["result"]


def test_import_takes_defaults_from_the_manifest(admin, files):
    manifest = files.manifest()
    r = admin.post("/image/centos-7", {"manifest_url": files.publish(manifest), "dc": "main"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "SUCCESS" and body["task_id"].startswith("du-")
    image = body["result"]
    assert list(image) == FIELD_ORDER
    assert image == {
        "dc_bound": True, "name": "centos-7", "uuid": manifest["uuid"], "alias": "centos-7",
        "version": "1.2.3", "owner": "admin", "access": 3, "desc": "CentOS 7 server image",
        "ostype": 1, "size": 10240, "resize": True, "deploy": False,
        "tags": ["linux", "centos"], "status": 1, "created": image["created"],
    }
    assert image["created"].endswith("Z")
    assert r.headers["es_dc"] == "main" and r.headers["es_username"] == "admin"


def test_import_attaches_a_dc_bound_image_and_logs_it(admin, files):
    r = admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()), "dc": "main"})
    assert r.status_code == 200, r.text
    record = Image.get("img1")
    assert record.dc_bound == "main" and record.dcs == ["main"]
    assert Datacenter.get("main").image_count == 1
    messages = sorted(entry.msg for entry in TaskLogEntry.query("main"))
    assert messages == ["Add server image to datacenter", "Import image"]


def test_manifest_is_rebuilt_from_the_record(admin, files):
    manifest = files.manifest()
    admin.post("/image/img1", {"manifest_url": files.publish(manifest), "dc": "main",
                               "alias": "my-alias", "access": "1", "desc": "mine"})
    stored = Image.get("img1").manifest
    assert stored["name"] == "my-alias" and stored["public"] is True
    assert stored["description"] == "mine" and stored["os"] == "linux"
    assert stored["files"] == manifest["files"] and stored["homepage"] == manifest["homepage"]
    assert stored["tags"]["erigones"] == ["linux", "centos"] and stored["tags"]["internal"] is False
    assert stored["type"] == "zvol" and stored["image_size"] == 10240


def test_explicit_fields_win_over_manifest_and_es_strings_are_accepted(admin, files):
    r = admin.post("/image/img1", {
        "manifest_url": files.publish(files.manifest()), "dc": "main", "alias": "a1",
        "version": "9", "access": "4", "desc": "", "resize": "false", "deploy": "True",
        "tags": "a,b c"})
    assert r.status_code == 200, r.text
    image = r.json()["result"]
    assert (image["alias"], image["version"], image["access"]) == ("a1", "9", 4)
    assert (image["resize"], image["deploy"], image["tags"]) == (False, True, ["a", "b c"])


def test_zone_manifest_maps_ostype_and_default_size(admin, files):
    manifest = files.manifest(type="zone-dataset", os="smartos", tags={})
    manifest.pop("image_size")
    r = admin.post("/image/zone1", {"manifest_url": files.publish(manifest), "dc": "main"})
    image = r.json()["result"]
    assert (image["ostype"], image["size"], image["resize"]) == (5, 1024, True)


def test_file_url_defaults_to_manifest_url_plus_file(admin, files):
    url = files.publish(files.manifest(), "/repo/images/abc/")
    assert admin.post("/image/img1", {"manifest_url": url, "dc": "main"}).status_code == 200
    entry = next(e for e in TaskLogEntry.query("main") if e.msg == "Import image")
    assert f"file_url='{url.rstrip('/')}/file'" in entry.detail


def test_existing_name_is_406_before_anything_else(admin, files):
    admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()), "dc": "main"})
    r = admin.post("/image/img1", {})
    assert r.status_code == 406 and r.json() == {"detail": "Image already exists"}


def test_order_by_is_checked_first(admin):
    r = admin.post("/image/img1", {"order_by": "size"})
    assert r.status_code == 412
    assert r.json() == {"detail": "Invalid order_by; Possible sort fields are: name, created"}


def test_unknown_dc_is_404(admin, files):
    r = admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()), "dc": "nope"})
    assert r.status_code == 404 and r.json() == {"detail": "Datacenter not found"}


def test_missing_manifest_url(admin):
    assert failure(admin.post("/image/img1", {"dc": "main"})) == {
        "manifest_url": ["This field is required."]}


@pytest.mark.parametrize("url", ["ftp://example.com/m", "not a url", "http://", "file:///etc/passwd"])
def test_invalid_manifest_url(admin, url):
    assert failure(admin.post("/image/img1", {"manifest_url": url, "dc": "main"})) == {
        "manifest_url": ["Enter a valid URL."]}


def test_invalid_file_url(admin, files):
    result = failure(admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                                "file_url": "gopher://x/y", "dc": "main"}))
    assert result == {"file_url": ["Enter a valid URL."]}


def test_unreachable_manifest(admin, files):
    url = files.publish({"x": 1}, status=404)
    result = failure(admin.post("/image/img1", {"manifest_url": url, "dc": "main"}))
    message = result["manifest_url"][0]
    assert message.startswith("Image manifest URL is unreachable (") and "404" in message


def test_server_error_manifest(admin, files):
    url = files.publish(b"oops", status=500)
    message = failure(admin.post("/image/img1", {"manifest_url": url, "dc": "main"}))[
        "manifest_url"][0]
    assert message.startswith("Image manifest URL is unreachable (") and "500" in message


def test_oversized_manifest(admin, files):
    url = files.publish(json.dumps({"pad": "x" * 9000}).encode())
    assert failure(admin.post("/image/img1", {"manifest_url": url, "dc": "main"})) == {
        "manifest_url": ["Image manifest URL is unreachable (Response is too large)."]}


def test_non_json_manifest(admin, files):
    url = files.publish(b"<html>nope</html>")
    assert failure(admin.post("/image/img1", {"manifest_url": url, "dc": "main"})) == {
        "manifest_url": ["Could not parse image manifest."]}


def test_invalid_manifest(admin, files):
    manifest = files.manifest()
    del manifest["uuid"]
    assert failure(admin.post("/image/img1", {"manifest_url": files.publish(manifest),
                                              "dc": "main"})) == {
        "manifest_url": ["Invalid image manifest."]}


def test_multiple_files(admin, files):
    manifest = files.manifest()
    manifest["files"] = manifest["files"] * 2
    assert failure(admin.post("/image/img1", {"manifest_url": files.publish(manifest),
                                              "dc": "main"})) == {
        "manifest_url": ["Multiple files inside manifest are not supported."]}


def test_uuid_already_registered(admin, files):
    manifest = files.manifest()
    admin.post("/image/first", {"manifest_url": files.publish(manifest), "dc": "main"})
    result = failure(admin.post("/image/second", {"manifest_url": files.publish(manifest),
                                                  "alias": "other", "dc": "main"}))
    assert result == {"manifest_url": ['Image UUID is already registered by image "first".']}


def test_redirect_to_a_private_address_is_refused(admin, files):
    files.server.expect_request("/redir").respond_with_data(
        "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    result = failure(admin.post("/image/img1", {"manifest_url": files.server.url_for("/redir"),
                                                "dc": "main"}))
    assert result == {"manifest_url": [
        "Image manifest URL is unreachable (Access to this address is not allowed)."]}


def test_loopback_refused_when_not_allowed(admin, files, settings_override):
    settings_override(IMAGE_SOURCE_ALLOW_LOOPBACK="false")
    result = failure(admin.post("/image/img1", {
        "manifest_url": files.publish(files.manifest()), "dc": "main"}))
    assert result == {"manifest_url": [
        "Image manifest URL is unreachable (Access to this address is not allowed)."]}


@pytest.mark.parametrize("url", ["http://2130706433/m", "http://0177.0.0.1/m", "http://0x7f.1/m",
                                 "http://10.1.2.3/m", "http://[::ffff:127.0.0.1]/m"])
def test_numeric_tricks_are_refused(admin, url, settings_override):
    settings_override(IMAGE_SOURCE_ALLOW_LOOPBACK="false")
    result = failure(admin.post("/image/img1", {"manifest_url": url, "dc": "main"}))
    assert result == {"manifest_url": [
        "Image manifest URL is unreachable (Access to this address is not allowed)."]}


def test_dc_is_required_for_a_dc_bound_image(admin, files):
    result = failure(admin.post("/image/img1", {"manifest_url": files.publish(files.manifest())}))
    assert result == {"dc_bound": [DC_REQUIRED], "dc": [DC_REQUIRED]}


def test_superadmin_may_import_dc_unbound(admin, files):
    r = admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                   "dc_bound": "false"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["dc_bound"] is False
    assert Image.get("img1").dcs == []


def test_non_superadmin_dc_bound_false_is_ignored(clean, files):
    alice = clean.user("alice", roles=image_admin_roles("main"))
    result = failure(alice.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                                "dc_bound": False}))
    assert result == {"dc_bound": [DC_REQUIRED], "dc": [DC_REQUIRED]}
    r = alice.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                   "dc_bound": False, "dc": "main"})
    assert r.status_code == 200 and r.json()["result"]["dc_bound"] is True


@pytest.mark.parametrize("name,message", [
    ("a" * 33, "Ensure this value has at most 32 characters (it has 33)."),
    ("-leading", "Enter a valid value."),
    (".hidden", "Enter a valid value."),
])
def test_invalid_names(admin, files, name, message):
    result = failure(admin.post(f"/image/{name}", {
        "manifest_url": files.publish(files.manifest()), "dc": "main"}))
    assert result == {"name": [message]}


@pytest.mark.parametrize("field,value,message", [
    ("alias", "a" * 33, "Ensure this value has at most 32 characters (it has 33)."),
    ("alias", "bad<alias", "Enter a valid value."),
    ("alias", "", "This field is required."),
    ("version", "1" * 17, "Ensure this value has at most 16 characters (it has 17)."),
    ("version", "1;rm", "Enter a valid value."),
    ("desc", "d" * 129, "Ensure this value has at most 128 characters (it has 129)."),
    ("desc", "it's", "Enter a valid value."),
    ("access", 2, "Select a valid choice. 2 is not one of the available choices."),
    ("access", "x", "Enter a whole number."),
    ("tags", "bad.tag", "Invalid value."),
    ("tags", [1, 2], "Invalid value."),
    ("resize", "maybe", "Enter a valid value."),
    ("owner", "ghost", "Object with username=ghost does not exist."),
])
def test_field_rules(admin, files, field, value, message):
    result = failure(admin.post("/image/img1", {
        "manifest_url": files.publish(files.manifest()), "dc": "main", field: value}))
    assert result == {field: [message]}


def test_all_field_errors_come_together(admin, files):
    result = failure(admin.post("/image/" + "n" * 40, {
        "manifest_url": files.publish(files.manifest()), "dc": "main",
        "alias": "x" * 40, "access": 7, "tags": "a.b"}))
    assert set(result) == {"name", "alias", "access", "tags"}


def test_unsafe_characters_are_dropped_from_a_derived_description(admin, files):
    url = files.publish(files.manifest(description="Tom & Jerry's <best>"))
    r = admin.post("/image/img1", {"manifest_url": url, "dc": "main"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["desc"] == "Tom  Jerrys best"


def test_a_derived_version_is_validated_like_input(admin, files):
    url = files.publish(files.manifest(version="1.0.0-very-long-version"))
    result = failure(admin.post("/image/img1", {"manifest_url": url, "dc": "main"}))
    assert result == {"version": ["Ensure this value has at most 16 characters (it has 23)."]}
    r = admin.post("/image/img1", {"manifest_url": url, "dc": "main", "version": "1.0.0"})
    assert r.status_code == 200, r.text


def test_alias_and_version_are_unique_case_insensitively(admin, files):
    admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()), "dc": "main",
                               "alias": "Shared", "version": "1.0"})
    result = failure(admin.post("/image/img2", {
        "manifest_url": files.publish(files.manifest()), "dc": "main",
        "alias": "shared", "version": "1.0"}))
    assert result == {"alias": [
        "This alias is already in use. Please supply a different alias or version."]}
    r = admin.post("/image/img2", {"manifest_url": files.publish(files.manifest()), "dc": "main",
                                   "alias": "shared", "version": "1.1"})
    assert r.status_code == 200, r.text


def test_dc_image_limit(clean, admin, files):
    clean.dc("small", image_limit=1)
    assert admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                      "dc": "small"}).status_code == 200
    result = failure(admin.post("/image/img2", {
        "manifest_url": files.publish(files.manifest()), "dc": "small"}))
    assert result == {"non_field_errors": ["Maximum number of server disk images reached"]}


def test_owner_may_be_another_active_user(clean, admin, files):
    clean.user("bob")
    r = admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()), "dc": "main",
                                   "owner": "bob"})
    assert r.status_code == 200 and r.json()["result"]["owner"] == "bob"


def test_read_only_fields_are_ignored(admin, files):
    manifest = files.manifest()
    r = admin.post("/image/img1", {"manifest_url": files.publish(manifest), "dc": "main",
                                   "uuid": "00000000-0000-0000-0000-000000000001",
                                   "status": 2, "size": 1, "ostype": 4})
    image = r.json()["result"]
    assert (image["uuid"], image["status"], image["size"], image["ostype"]) == \
        (manifest["uuid"], 1, 10240, 1)


class TestImportPermissions:
    def test_not_an_image_admin_anywhere(self, clean, files):
        nobody = clean.user("nobody", roles={"main": ["admin"]})
        r = nobody.post("/image/img1", {"manifest_url": "http://x/", "dc": "main"})
        assert r.status_code == 403 and r.json() == {"detail": "Permission denied"}

    def test_image_admin_of_another_dc(self, clean, files):
        clean.dc("dc2")
        alice = clean.user("alice", roles=image_admin_roles("dc2"))
        r = alice.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                       "dc": "main"})
        assert r.status_code == 403
        assert r.json() == {"detail": "You do not have permission to perform this action."}

    def test_image_admin_without_import_role(self, clean, files):
        alice = clean.user("alice", roles=image_admin_roles("main", importer=False))
        r = alice.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                       "dc": "main"})
        assert r.status_code == 403
        assert r.json() == {"detail": "You do not have permission to perform this action."}

    def test_import_admin_in_the_dc(self, clean, files):
        alice = clean.user("alice", roles=image_admin_roles("main"))
        r = alice.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                       "dc": "main"})
        assert r.status_code == 200 and r.json()["result"]["owner"] == "alice"
