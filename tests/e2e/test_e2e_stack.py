"""End to end: the local stack started exactly as `make run` starts it, used as a user would.

One `python -m devstack` subprocess for the module (own ports, own state file, a random admin
key); tests talk to it over HTTP with Danube Cloud's own client (`esdc_api`), with raw
`requests`, and through the operator CLI `./imagectl`. Teardown is Ctrl-C (SIGINT): the stack
must exit promptly and free both of its ports. Everything stays on 127.0.0.1.
"""
from __future__ import annotations

import json
import re
import secrets
import uuid as uuidlib
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.stack_process import (
    LOOPBACK,
    RunningStack,
    imagectl,
    last_line,
    start_stack,
    stop_stack,
    wait_raw,
)
from tests.support import Api, Repository, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def devstack(tmp_path_factory):
    # step runs of 1 s: a transfer slower than that spans several runs, as a large one in AWS
    yield from run_stack(tmp_path_factory, TRANSFER_STEP_SECONDS="1")


@pytest.fixture(scope="module")
def db_only_stack(tmp_path_factory):
    yield from run_stack(tmp_path_factory, IMAGE_SERVER="off")


def run_stack(tmp_path_factory, **extra_env: str):
    stack = start_stack(tmp_path_factory.mktemp("devstack"),
                        IMAGE_API_ADMIN_KEY=secrets.token_urlsafe(30), **extra_env)
    try:
        assert stack.state_file.exists(), "the stack wrote no state file for imagectl"
        yield stack
    finally:
        problems = stop_stack(stack)
    # Checked after the tests (a failure here is reported as a teardown error).
    assert not problems, f"{problems}:\n{stack.log()}"


@pytest.fixture
def repo(httpserver) -> Repository:
    return Repository(httpserver)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuidlib.uuid4().hex[:8]}"


CONTENT = b"e2e image file " * 70000


def import_image(api: Api, repo: Repository, name: str, dc: str = "main") -> dict:
    manifest = repo.manifest(CONTENT)
    r = api.post(f"/image/{name}", {"manifest_url": repo.publish(manifest, content=CONTENT),
                                    "dc": dc})
    assert r.status_code == 201, r.text
    assert wait_raw(api, r.json()["task_id"])["status"] == "SUCCESS"
    return manifest


# ---------------------------------------------------------------------------------------------
# a) Danube Cloud's own Python client
# ---------------------------------------------------------------------------------------------
def esdc_client(devstack, key: str | None = None):
    from esdc_api import Client
    return Client(api_url=devstack.api_url, api_key=key or devstack.admin_key, timeout=30)


def esdc_wait(client, response) -> Any:
    """What `es` does with an async answer: poll /task/<id>/status until it is done."""
    assert response.status_code == 201, (response.status_code, response.raw_content)
    content = response.content
    assert content.task_status == "PENDING" and content.result is None
    task_id = content.task_id
    status = wait_for(lambda: client.get(f"/task/{task_id}/status"), 60, 0.2,
                      until=lambda status: status.status_code != 201,
                      message=lambda status: f"task {task_id} did not end: "
                                             f"{status.status_code} {status.raw_content!r}")
    assert status.ok, (status.status_code, status.raw_content)
    final = status.content
    assert final.task_status == "SUCCESS" and final.result["returncode"] == 0
    return final


def esdc_import(client, repo: Repository, name: str) -> dict:
    manifest = repo.manifest(CONTENT)
    r = client.post(f"/image/{name}", manifest_url=repo.publish(manifest, content=CONTENT),
                    dc="main")
    assert r.dc == "main"
    final = esdc_wait(client, r)
    assert final.result["message"].startswith(f"Successfully imported image {name}")
    image = client.get(f"/image/{name}").content.result
    assert image["uuid"] == manifest["uuid"] and image["status"] == 1
    return manifest


def assert_image_gone(client, name: str) -> None:
    from esdc_api.exceptions import ClientError
    gone = client.get(f"/image/{name}")
    assert not gone.ok
    assert gone.status_code == 404
    with pytest.raises(ClientError) as exc:
        gone.content  # noqa: B018 (the property raises the client's error)
    assert exc.value.status_code == 404
    assert exc.value.detail == "Image not found"
    assert name not in client.get("/image").content.result


def test_esdc_api_client_import_list_show_update(devstack, repo):
    client = esdc_client(devstack)
    assert client.ping() == "pong"

    name = unique("esdc")
    manifest = esdc_import(client, repo, name)

    listing = client.get("/image")
    assert listing.ok
    assert name in listing.content.result
    assert all(isinstance(item, str) for item in listing.content.result)

    shown = client.get(f"/image/{name}", extended=True)
    assert shown.ok
    image = shown.content.result
    assert image["name"] == name and image["alias"] == name
    assert image["dcs"] == ["main"]
    assert image["dc_bound"] is True
    assert image["status"] == 1
    assert image["version"] == manifest["version"]

    # the `es` tool sends every value as a string
    esdc_wait(client, client.put(f"/image/{name}", desc="new", version="2"))
    again = client.get(f"/image/{name}").content.result
    assert (again["desc"], again["version"]) == ("new", "2")


def test_esdc_api_client_sees_the_progress_of_a_long_import(devstack, repo):
    """What `es get /task/<id>` shows while a transfer spans several step runs."""
    from tests.integration.workflow_support import RangeFile
    client = esdc_client(devstack)
    content = secrets.token_bytes(24 << 20)                  # 3 parts of 8 MiB
    source = RangeFile(content, rate=6 << 20)                # about 4 s, 1 s step runs
    manifest = repo.manifest(content)
    url = repo.publish(manifest)
    repo.server.expect_request(f"/{url.split('/', 3)[3]}/file").respond_with_handler(
        source.handler)
    name = unique("esdc-long")
    r = client.post(f"/image/{name}", manifest_url=url, dc="main")
    task_id = r.content.task_id

    def midway() -> dict | None:
        progress = client.get(f"/task/{task_id}").content.result.get("progress") or {}
        return progress if progress.get("runs", 0) >= 2 and progress.get("eta_seconds") else None

    progress = wait_for(midway, 60, 0.1, message="es never showed a second run's progress")
    assert progress["step"] == "download" and progress["bytes_total"] == len(content)
    assert 0 < progress["bytes_done"] < len(content) and 0 < progress["percent"] < 100
    assert progress["rate_bytes_per_second"] > 0
    final = esdc_wait(client, r)
    assert final.result["message"].startswith(f"Successfully imported image {name}")
    assert len(source.starts) >= 2 and source.starts[1] > 0  # the second run read a range


def test_esdc_api_client_delete(devstack, repo):
    client = esdc_client(devstack)
    name = unique("esdc-del")
    esdc_import(client, repo, name)
    esdc_wait(client, client.put(f"/image/{name}", desc="new"))
    final = esdc_wait(client, client.delete(f"/image/{name}"))
    assert final.result["message"] == f"Successfully deleted image {name}"
    assert_image_gone(client, name)


def test_esdc_api_client_delete_after_version_update(devstack, repo):
    """Regression: a PUT that changes the version must move the alias+version guard."""
    client = esdc_client(devstack)
    name = unique("esdc-ver")
    esdc_import(client, repo, name)
    esdc_wait(client, client.put(f"/image/{name}", desc="new", version="2"))
    esdc_wait(client, client.delete(f"/image/{name}"))
    assert_image_gone(client, name)


def test_esdc_api_client_login_flow(devstack, repo):
    """`es login` as esdc_api.Client does it: the password set by `./imagectl user password`
    (one line of stdin), then every call with `Authorization: Token`, then `es logout`."""
    from esdc_api import Client
    from esdc_api.exceptions import ClientError
    username = unique("eslogin")
    imagectl(devstack, "user", "create", username, "--role", "main:admin",
             "--role", "main:image_admin", "--role", "main:image_import_admin")
    password = "pw " + secrets.token_urlsafe(12)
    proc = imagectl(devstack, "user", "password", username, stdin=password + "\n")
    assert password not in proc.stdout + proc.stderr

    client = Client(api_url=devstack.api_url, timeout=30)  # no API key
    assert not client.is_authenticated()
    bad = client.login(username, "not the password")
    assert bad.status_code == 400 and not client.is_authenticated()
    with pytest.raises(ClientError) as exc:
        bad.content  # noqa: B018 (the property raises the client's error)
    assert exc.value.detail == "Unable to log in with provided credentials."

    r = client.login(username, password)
    assert r.ok, (r.status_code, r.raw_content)
    answer = r.content.result
    assert answer["detail"] == "Welcome to Danube Cloud API." and answer["expires"]
    token = answer["token"]
    assert client.headers["Authorization"] == f"Token {token}"
    assert "ES-API-KEY" not in client.headers and client.is_authenticated()

    listing = client.get("/image")
    assert listing.ok and listing.headers["es_username"] == username
    assert isinstance(listing.content.result, list)
    name = unique("eslogin-img")
    esdc_import(client, repo, name)
    esdc_wait(client, client.set(f"/image/{name}", desc="set by es"))
    assert client.get(f"/image/{name}").content.result["desc"] == "set by es"
    final = esdc_wait(client, client.delete(f"/image/{name}"))
    assert final.result["message"] == f"Successfully deleted image {name}"
    assert_image_gone(client, name)

    out = client.logout()
    assert out.ok and out.content.result == {"detail": "Bye."}
    assert "Authorization" not in client.headers and not client.is_authenticated()
    r = requests.get(f"{devstack.api_url}/image/", timeout=10,
                     headers={"Authorization": f"Token {token}"})
    assert r.status_code == 401, r.text


def test_alias_version_unique_after_update(devstack, repo):
    """Regression: the alias+version pair taken by a PUT is reserved for that image."""
    admin = devstack.api(devstack.admin_key)
    first, second = unique("first"), unique("second")
    import_image(admin, repo, first)
    import_image(admin, repo, second)
    r = admin.put(f"/image/{first}", {"alias": "shared", "version": "9"})
    assert r.status_code == 201, r.text
    assert wait_raw(admin, r.json()["task_id"])["status"] == "SUCCESS"
    r = admin.put(f"/image/{second}", {"alias": "shared", "version": "9"})
    assert r.status_code == 400, r.text
    assert r.json()["result"] == {"alias": [
        "This alias is already in use. Please supply a different alias or version."]}


# ---------------------------------------------------------------------------------------------
# b) Raw HTTP
# ---------------------------------------------------------------------------------------------
def test_raw_http_conventions(devstack):
    base = devstack.api_url
    key = {"ES-API-KEY": devstack.admin_key}

    for url in (f"{base}/image", f"{base}/image/"):
        r = requests.get(url, headers=key, timeout=10)
        assert r.status_code == 200, (url, r.text)
        assert r.json()["status"] == "SUCCESS"
        assert isinstance(r.json()["result"], list)
        # Danube Cloud's response headers
        assert r.headers["es_version"]
        assert r.headers["es_dc"] == "main"
        assert r.headers["es_username"] == "admin"

    for url in (f"{base}/ping", f"{base}/ping/"):
        r = requests.get(url, timeout=10)
        assert r.status_code == 200 and r.json()["result"] == "pong"

    # the other accepted authentication header
    r = requests.get(f"{base}/image/", headers={"Authorization": f"Token {devstack.admin_key}"},
                     timeout=10)
    assert r.status_code == 200, r.text

    r = requests.get(f"{base}/image/", timeout=10)
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided."}

    r = requests.get(f"{base}/image/", headers={"ES-API-KEY": "not-a-key"}, timeout=10)
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key."}

    r = requests.post(f"{base}/image/whatever/", data=b'{"manifest_url": ', timeout=10,
                      headers={**key, "Content-Type": "application/json; indent=4"})
    assert r.status_code == 400
    assert r.json() == {"detail": "Malformed request"}

    r = requests.get(f"{base}/no-such-thing/", headers=key, timeout=10)
    assert r.status_code == 404

    r = requests.get(f"http://{LOOPBACK}:{devstack.port}/elsewhere/", headers=key, timeout=10)
    assert r.status_code == 404

    r = requests.patch(f"{base}/image/", headers=key, json={}, timeout=10)
    assert r.status_code == 405
    assert "detail" in r.json()


# ---------------------------------------------------------------------------------------------
# c) The operator CLI against the same stack
# ---------------------------------------------------------------------------------------------
def put_event(devstack: RunningStack, tmp_path: Path, detail_type: str, detail: dict) -> None:
    path = tmp_path / f"{uuidlib.uuid4().hex}.json"
    path.write_text(json.dumps({"Source": "danube.platform", "DetailType": detail_type,
                                "Detail": detail}))
    proc = imagectl(devstack, "event", "put", str(path))
    assert detail_type in proc.stdout


def test_imagectl_help(devstack):
    for args in ([], ["dc"], ["dc", "create"], ["user"], ["user", "create"], ["user", "key"],
                 ["event"], ["event", "put"], ["node"], ["node", "add"], ["node", "list"],
                 ["user", "callback-key"]):
        proc = imagectl(devstack, *args, "--help")
        assert proc.stdout.startswith("usage: imagectl"), (args, proc.stdout, proc.stderr)
    assert "--image-limit" in imagectl(devstack, "dc", "create", "--help").stdout
    assert "--role" in imagectl(devstack, "user", "create", "--help").stdout


def test_imagectl_user_callback_key(devstack):
    imagectl(devstack, "user", "create", "cbuser")
    shown = last_line(imagectl(devstack, "user", "callback-key", "cbuser").stdout)
    hex_key = re.compile(r"[0-9a-f]{64}")  # 256 bits, as the HMAC-SHA256 key is stored
    assert hex_key.fullmatch(shown), shown
    rotated = last_line(imagectl(devstack, "user", "callback-key", "cbuser", "--rotate").stdout)
    assert rotated != shown and hex_key.fullmatch(rotated), rotated
    assert last_line(imagectl(devstack, "user", "callback-key", "cbuser").stdout) == rotated
    proc = imagectl(devstack, "user", "callback-key", "nobody-here", ok=False)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "imagectl: user 'nobody-here' does not exist")


def test_imagectl_node_add_and_list(devstack):
    out = imagectl(devstack, "node", "add", "cn07.example.com").stdout
    [queue_line, url_line, tag_line] = out.strip().splitlines()
    name = queue_line.rsplit(": ", 1)[1]
    assert name.startswith("imageapi-local-export-cn07_example_com-")  # SQS names: no dots
    assert url_line.startswith('agent setting:  queue_url = "http://') and name in url_line
    assert tag_line.endswith(f"imageapi-export-queue={name}")
    assert imagectl(devstack, "node", "add", "cn07.example.com").stdout == out  # idempotent
    listed = imagectl(devstack, "node", "list").stdout.split()
    assert any(url.endswith(f"/{name}") for url in listed)
    assert any(url.endswith("/imageapi-local-export-node1") for url in listed)  # make run's node
    proc = imagectl(devstack, "node", "add", "bad node!", ok=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("imagectl: 'bad node!' is not a valid node name")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_imagectl_users_keys_and_dcs(devstack, repo, tmp_path):
    dc = unique("dc")
    proc = imagectl(devstack, "dc", "create", dc, "--image-limit", "1")
    assert dc in proc.stdout

    alice = unique("alice")
    proc = imagectl(devstack, "user", "create", alice, "--role", f"{dc}:admin",
                    "--role", f"{dc}:image_admin", "--role", f"{dc}:image_import_admin")
    alice_key = last_line(proc.stdout)
    assert alice_key not in proc.stderr
    as_alice = devstack.api(alice_key)

    r = as_alice.get("/image")
    assert r.status_code == 200, r.text
    assert r.headers["es_username"] == alice
    assert r.json()["result"] == []  # she sees only images of her DC

    # alice imports into her DC; its image limit (1) then stops a second import
    name = unique("alice-img")
    import_image(as_alice, repo, name, dc=dc)
    assert as_alice.get("/image").json()["result"] == [name]
    shown = as_alice.get(f"/image/{name}", params={"extended": "true"})
    assert shown.status_code == 200 and shown.json()["result"]["dcs"] == [dc]
    r = as_alice.post(f"/image/{unique('second')}",
                      {"manifest_url": repo.publish(repo.manifest()), "dc": dc})
    assert r.status_code == 400, r.text
    assert r.json()["result"] == {
        "non_field_errors": ["Maximum number of server disk images reached"]}
    # and she cannot import into `main`
    r = as_alice.post(f"/image/{unique('main')}",
                      {"manifest_url": repo.publish(repo.manifest()), "dc": "main"})
    assert r.status_code == 403, r.text

    # a user without roles is authenticated but not an image admin
    bob = unique("bob")
    bob_key = last_line(imagectl(devstack, "user", "create", bob).stdout)
    r = devstack.api(bob_key).get("/image")
    assert r.status_code == 403
    assert r.json() == {"detail": "Permission denied"}

    # a new key for alice: the old one stops working
    proc = imagectl(devstack, "user", "key", alice)
    new_key = last_line(proc.stdout)
    assert new_key != alice_key
    assert devstack.api(new_key).get("/image").status_code == 200
    r = as_alice.get("/image")
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key."}

    # a User State platform event grants bob the roles in the DC (delivery is asynchronous)
    put_event(devstack, tmp_path, "User State", {
        "username": bob, "is_super_admin": False, "is_active": True,
        "dc_roles": {dc: ["admin", "image_admin"]}, "version": 1})
    as_bob = devstack.api(bob_key)
    wait_for(lambda: as_bob.get("/image").status_code == 200, timeout=15, interval=0.25)
    assert as_bob.get("/image").json()["result"] == [name]

    # operator errors are one line on stderr and a non-zero exit, never a traceback
    proc = imagectl(devstack, "user", "create", bob, ok=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and bob in proc.stderr
    proc = imagectl(devstack, "user", "create", unique("carol"), "--role", "main:root", ok=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


def test_imagectl_json_and_bad_input_as_a_script_sees_them(devstack):
    """`./imagectl` as a process: --json is JSON alone on stdout (no log line mixed in), and
    bad input is exit 2 with one line on stderr (tests/integration/test_imagectl.py has the
    rest, in-process)."""
    name = unique("dave")
    imagectl(devstack, "user", "create", name, "--role", "main:admin")
    users = json.loads(imagectl(devstack, "user", "list", "--json").stdout)
    assert {"username": name, "dc_roles": {"main": ["admin"]}, "active": True} \
        .items() <= next(u for u in users if u["username"] == name).items()
    assert any(u["username"] == "admin" and u["super_admin"] for u in users)
    for args, words in ((["user", "create", ""], "not a valid user name"),
                        (["dc", "create", unique("dc"), "--image-limit", "-5"],
                         "invalid image limit"),
                        (["task", "list", "--limit", "0"], "between 1 and 1000")):
        proc = imagectl(devstack, *args, ok=False)
        assert proc.returncode == 2 and proc.stdout == "", (args, proc.stdout, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and words in proc.stderr, (args, proc.stderr)


def test_imagectl_vm_state_event_marks_image_in_use(devstack, repo, tmp_path):
    admin = devstack.api(devstack.admin_key)
    name = unique("used")
    manifest = import_image(admin, repo, name)
    hostname = unique("web")
    vm_uuid = str(uuidlib.uuid4())

    assert admin.get(f"/image/{name}/vm").json()["result"] == []
    put_event(devstack, tmp_path, "VM State", {
        "uuid": vm_uuid, "hostname": hostname, "dc": "main", "owner": "admin",
        "status": "running", "ostype": 1, "version": 1,
        "disks": [{"image_uuid": manifest["uuid"], "size": 10240,
                   "zfs_filesystem": f"zones/{vm_uuid}-disk0"}]})

    wait_for(lambda: admin.get(f"/image/{name}/vm").json()["result"] == [hostname],
             timeout=15, interval=0.25)
    r = admin.delete(f"/image/{name}")
    assert r.status_code == 428, r.text
    assert r.json() == {"detail": "Image is used by some VMs"}
    assert admin.get(f"/image/{name}").status_code == 200

    # once the VM is gone, the image can be deleted
    put_event(devstack, tmp_path, "VM Deleted", {"uuid": vm_uuid, "version": 2})
    wait_for(lambda: admin.get(f"/image/{name}/vm").json()["result"] == [],
             timeout=15, interval=0.25)
    r = admin.delete(f"/image/{name}")
    assert r.status_code == 201, r.text
    assert wait_raw(admin, r.json()["task_id"])["status"] == "SUCCESS"
    assert admin.get(f"/image/{name}").status_code == 404


# ---------------------------------------------------------------------------------------------
# d) image from a VM snapshot, exported by the stack's node agent (the real one, fake zfs)
# ---------------------------------------------------------------------------------------------
def test_snapshot_image_through_the_node_agent(devstack, tmp_path):
    import gzip

    from devstack import fake_zfs
    admin = devstack.api(devstack.admin_key)
    vm_uuid, hostname, name = str(uuidlib.uuid4()), unique("db"), unique("snap")
    put_event(devstack, tmp_path, "VM State", {
        "uuid": vm_uuid, "hostname": hostname, "dc": "main", "owner": "admin", "node": "node1",
        "status": "stopped", "ostype": 1, "version": 1,
        "disks": [{"image_uuid": None, "size": 4096, "zfs_filesystem": f"zones/{vm_uuid}-disk0"}]})
    put_event(devstack, tmp_path, "Snapshot State", {
        "vm_uuid": vm_uuid, "name": "nightly", "disk_id": 1, "zfs_name": "es-9",
        "status": "ok", "version": 1})
    url = f"/vm/{hostname}/snapshot/nightly/image/{name}"
    r = wait_for(lambda: (resp := admin.post(url, {"desc": "from e2e"})).status_code != 404
                 and resp, timeout=15, interval=0.25)
    assert r.status_code == 201, r.text
    final = wait_raw(admin, r.json()["task_id"])
    assert final["status"] == "SUCCESS", final
    assert final["result"]["message"].startswith(f"Successfully created image {name}")

    image = admin.get(f"/image/{name}").json()["result"]
    assert (image["status"], image["size"], image["desc"]) == (1, 4096, "from e2e")
    manifest = admin.get(f"/images/{image['uuid']}").json()
    assert manifest["files"][0]["compression"] == "gzip"
    location = admin.get(f"/images/{image['uuid']}/file").headers["Location"]
    data = requests.get(location, timeout=30).content
    assert len(data) == manifest["files"][0]["size"]
    # a gzip stream of exactly what `zfs send zones/<vm>-disk0@es-9` wrote on the node
    sent = b"".join(block for _, block in zip(range(64), fake_zfs.blocks(
        f"zones/{vm_uuid}-disk0@es-9", incompressible=False), strict=False))
    assert gzip.decompress(data) == sent


# ---------------------------------------------------------------------------------------------
# e) IMAGE_SERVER=off: the database-only service, synchronous like Danube without an image server
# ---------------------------------------------------------------------------------------------
def test_image_server_off_is_synchronous(db_only_stack, repo):
    admin = db_only_stack.api(db_only_stack.admin_key)
    assert "Image server: off" in db_only_stack.log()
    manifest = repo.manifest()
    r = admin.post("/image/dbonly", {"manifest_url": repo.publish(manifest), "dc": "main"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["uuid"] == manifest["uuid"] and r.json()["result"]["status"] == 1
    assert admin.put("/image/dbonly", {"desc": "x"}).status_code == 200
    r = admin.post("/vm/x/snapshot/y/image/z", {})
    assert r.status_code == 404  # lookups first; with a VM it would be 428 (no image server)
    assert admin.delete("/image/dbonly").status_code == 200


# ---------------------------------------------------------------------------------------------
# f) the sample image repository `make run` serves (devstack.image_repo)
# ---------------------------------------------------------------------------------------------
def test_the_printed_sample_images_import_as_the_readme_shows(devstack):
    """The README's curl request, with each `Sample image:` URL the stack printed."""
    samples = devstack.sample_images()
    assert len(samples) >= 2, devstack.log()
    state = json.loads(devstack.state_file.read_text())
    assert state["sample_manifest_urls"] == [url for url, _ in samples]
    admin = devstack.api(devstack.admin_key)
    for manifest_url, name in samples:
        # curl -H "ES-API-KEY: $KEY" -H 'Content-Type: application/json' \
        #      -d '{"manifest_url": "<url>", "dc": "main"}' http://127.0.0.1:8000/api/image/<name>/
        r = requests.post(f"{devstack.api_url}/image/{name}/", timeout=30,
                          headers={"ES-API-KEY": devstack.admin_key,
                                   "Content-Type": "application/json"},
                          data=json.dumps({"manifest_url": manifest_url, "dc": "main"}))
        assert r.status_code == 201, r.text
        final = wait_raw(admin, r.json()["task_id"])
        assert final["status"] == "SUCCESS", final
        published = requests.get(manifest_url, timeout=10).json()
        image = admin.get(f"/image/{name}").json()["result"]
        assert (image["uuid"], image["status"]) == (published["uuid"], 1)
        served = admin.get(f"/images/{published['uuid']}").json()   # what compute nodes get
        assert served["files"] == published["files"]
        assert served["files"][0]["compression"] == "gzip"


def test_a_busy_sample_repo_port_is_one_line_and_exit_1(tmp_path):
    import socket
    import subprocess
    import sys

    from tests.e2e.stack_process import ROOT, clean_env
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "devstack"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env=clean_env(
                                  DEVSTACK_DIR=str(tmp_path), PORT="0",
                                  SAMPLE_REPO_PORT=str(port)))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"port {port}" in proc.stderr and "SAMPLE_REPO_PORT=" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_imgadm_source_line_of_the_banner_serves_every_image(devstack):
    """`make run` prints `IMGAPI: <url>`; with the node token it keeps in `node-token`, Joyent's
    IMGAPI client (imgadm's) pings it as an IMGAPI and downloads every image, SHA-1 right."""
    from tests.imgapi_client.runner import run
    [line] = [line for line in devstack.output if line.startswith("IMGAPI: ")]
    base = line.split()[1]
    token = (devstack.directory / "node-token").read_text().strip()
    source = base.replace("http://", f"http://node:{token}@", 1)
    assert run(source, "ping")["accepted"]
    admin = devstack.api(devstack.admin_key)
    manifest_url, _ = devstack.sample_images()[0]
    name = unique("imgadm")
    r = admin.post(f"/image/{name}/", {"manifest_url": manifest_url, "dc": "main"})
    if r.status_code == 201:  # a sample uuid imports once per data set
        assert wait_raw(admin, r.json()["task_id"])["status"] == "SUCCESS"
    listed = run(source, "list")
    assert listed["images"] and listed["invalid"] == {}
    for manifest in listed["images"]:
        got = run(source, "file", manifest["uuid"])
        assert (got["sha1"], got["size"]) == (manifest["files"][0]["sha1"],
                                              manifest["files"][0]["size"])
    assert not run(base.replace("http://", "http://node:wrong@", 1), "ping")["accepted"]


def test_make_run_prints_the_consoles_url_beside_the_apis(devstack):
    """SPEC §13: `Console: <url>` under `Image API: <url>`, and the page is there, naming
    the API base it calls."""
    import requests
    lines = devstack.output
    [api_at] = [i for i, line in enumerate(lines) if line.startswith("Image API:")]
    assert lines[api_at + 1].startswith("Console:")
    url = lines[api_at + 1].split()[1]
    page = requests.get(url, timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<meta name="imageapi-base" content="/api/">' in page.text
