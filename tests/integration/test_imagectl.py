"""The operator CLI (`cli.imagectl.main`) in-process against the session's local stack: every
command, its `--json`, and its answers to bad input (exit 2 for bad input, 1 for a failure,
always one line on stderr, nothing on stdout). The session already points boto3 at the
emulator, so imagectl's own targeting (the state file of `make run`) is switched off."""
from __future__ import annotations

import argparse
import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from cli import imagectl
from tests.integration.workflow_support import start_import, wait_task
from tests.support import Api

CONTENT = b"imagectl test image " * 512
UNSIGNED = {"trusted_keys": [], "signed_only": False}  # a DC's trust fields as made


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def data(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def ctl(clean, monkeypatch, capsys):
    monkeypatch.setattr(imagectl, "target_environment", lambda use_aws: None)
    capsys.readouterr()

    def run(*args: str) -> Run:
        code = imagectl.main(list(args))
        captured = capsys.readouterr()
        return Run(code, without_log_lines(captured.out), without_log_lines(captured.err))

    return run


def without_log_lines(text: str) -> str:
    """The app and its workflows run in this process, and log (one JSON object a line, log
    records and metrics) to stdout while a command runs: imagectl's own output is the rest
    (its --json is indented, so never one object on one line)."""
    def is_log(line: str) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return isinstance(record, dict) and bool(record)
    return "".join(line for line in text.splitlines(keepends=True) if not is_log(line))


def ok(run: Run) -> Run:
    assert run.code == 0 and run.err == "", run
    return run


def refused(run: Run, code: int, *words: str) -> str:
    """A one-line error on stderr, nothing on stdout; returns the line."""
    assert run.code == code, run
    assert run.out == "", run
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("imagectl: "), run
    for word in words:
        assert word in lines[0], (word, run)
    return lines[0]


def import_db_only(api: Api, files, name: str, dc: str = "main") -> None:
    r = api.post(f"/image/{name}", {"manifest_url": files.publish(files.manifest()), "dc": dc})
    assert r.status_code == 200, r.text


def leaf_commands() -> list[list[str]]:
    """Every command line imagectl knows, from its parser."""
    def walk(parser: argparse.ArgumentParser, path: list[str]) -> list[list[str]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return [path]
        return [leaf for name, child in subs[0].choices.items()
                for leaf in walk(child, [*path, name])]
    return walk(imagectl.parser(), [])


# --- help, usage errors --------------------------------------------------------------------------
def test_every_command_has_help(ctl):
    commands = leaf_commands()
    for wanted in (["user", "list"], ["user", "role", "add"], ["dc", "set-limit"],
                   ["image", "list"], ["task", "show"], ["task", "cancel"]):
        assert wanted in commands
    for command in [[], *commands]:
        run = ok(ctl(*command, "--help"))
        assert run.out.startswith("usage: imagectl"), command
        assert "--json" in run.out, command


def test_a_usage_error_is_one_line_and_exit_2(ctl):
    refused(ctl(), 2, "required")
    refused(ctl("user", "bogus"), 2, "invalid choice", "imagectl user --help")
    refused(ctl("user", "role", "add", "admin"), 2, "required")
    refused(ctl("image", "list", "--status", "lost"), 2, "invalid choice")
    refused(ctl("task", "show", "x", "--interval", "soon"), 2, "invalid float")


# --- datacenters ---------------------------------------------------------------------------------
def test_dc_create_list_show_set_limit(ctl):
    assert ok(ctl("dc", "create", "dc2", "--image-limit", "3")).out == (
        "datacenter dc2 created (image limit: 3)\n")
    assert ok(ctl("dc", "create", "dc3", "--json")).data == {
        "name": "dc3", "image_limit": None, "image_count": 0, **UNSIGNED}
    assert ok(ctl("--json", "dc", "list")).data == [
        {"name": "dc2", "image_limit": 3, "image_count": 0, **UNSIGNED},
        {"name": "dc3", "image_limit": None, "image_count": 0, **UNSIGNED},
        {"name": "main", "image_limit": None, "image_count": 0, **UNSIGNED}]
    table = ok(ctl("dc", "list")).out.splitlines()
    assert table[0].split() == ["DC", "IMAGES", "LIMIT"]
    assert table[1].split() == ["dc2", "0", "3"] and table[2].split() == ["dc3", "0", "unlimited"]
    assert table[1].index("3") == table[0].index("LIMIT")  # aligned columns

    ok(ctl("user", "create", "alice", "--role", "dc2:admin"))
    shown = ok(ctl("dc", "show", "dc2", "--json")).data
    assert shown == {"name": "dc2", "image_limit": 3, "image_count": 0, **UNSIGNED, "images": [],
                     "users": {"alice": ["admin"]}, "default": False}
    text = ok(ctl("dc", "show", "dc2")).out
    assert "image limit:" in text and "alice:admin" in text

    assert ok(ctl("dc", "set-limit", "dc2", "0", "--json")).data["image_limit"] == 0
    assert "image limit of dc2: unlimited" in ok(ctl("dc", "set-limit", "dc2", "none")).out
    assert ok(ctl("dc", "show", "dc2", "--json")).data["image_limit"] is None


def test_dc_bad_input(ctl):
    for name in ("", "bad name", "-dash", "x" * 255, "a/b", "dc\n"):
        refused(ctl("dc", "create", "--", name), 2, "not a valid datacenter name")
    refused(ctl("dc", "create", "dc2", "--image-limit", "-5"), 2, "invalid image limit")
    refused(ctl("dc", "create", "dc2", "--image-limit", "many"), 2, "invalid image limit")
    refused(ctl("dc", "create", "dc2", "--image-limit", "1.5"), 2, "invalid image limit")
    assert ok(ctl("dc", "list", "--json")).data == [
        {"name": "main", "image_limit": None, "image_count": 0, **UNSIGNED}]  # nothing made
    refused(ctl("dc", "create", "main"), 1, "already exists")
    refused(ctl("dc", "show", "nowhere"), 1, "'nowhere' does not exist")
    refused(ctl("dc", "set-limit", "nowhere", "3"), 1, "does not exist")
    refused(ctl("dc", "set-limit", "main", "-1"), 2, "invalid image limit")
    refused(ctl("dc", "set-limit", "", "1"), 1, "does not exist")
    refused(ctl("dc", "delete", "nowhere"), 1, "does not exist")


def test_dc_delete_refuses_bound_images_and_the_default_dc(ctl, clean, files):
    admin = Api(clean.api_url, clean.admin_key)
    ok(ctl("dc", "create", "dc2"))
    import_db_only(admin, files, "img1", dc="dc2")
    import_db_only(admin, files, "img2", dc="dc2")
    line = refused(ctl("dc", "delete", "dc2"), 1, "2 image(s) bound", "img1, img2")
    assert "dc2" in line
    refused(ctl("dc", "delete", "main"), 1, "default datacenter")
    assert admin.delete("/image/img1").status_code == 200
    assert admin.delete("/image/img2").status_code == 200
    assert ok(ctl("dc", "delete", "dc2", "--json")).data == {"name": "dc2", "deleted": True}
    refused(ctl("dc", "show", "dc2"), 1, "does not exist")
    ok(ctl("dc", "create", "dc3"))
    assert ok(ctl("dc", "delete", "dc3")).out == "datacenter dc3 deleted\n"


# --- users ---------------------------------------------------------------------------------------
def test_user_create_list_show(ctl, clean):
    created = ok(ctl("user", "create", "alice", "--role", "main:admin", "--json")).data
    assert set(created) == {"username", "api_key"} and created["username"] == "alice"
    assert clean.api(created["api_key"]).get("/task").status_code == 200
    text = ok(ctl("user", "create", "bob")).out.splitlines()
    assert text[0] == "user bob created" and len(text[1]) > 20

    users = ok(ctl("user", "list", "--json")).data
    assert [u["username"] for u in users] == ["admin", "alice", "bob"]
    alice = users[1]
    assert alice == {"username": "alice", "super_admin": False, "active": True,
                     "dc_roles": {"main": ["admin"]}, "api_key": True, "password": False,
                     "login_token_expires": None}
    assert not any("hash" in key or "callback" in key for key in alice)  # no secret shown
    table = ok(ctl("user", "list")).out.splitlines()
    assert table[0].split()[:3] == ["USER", "SUPERADMIN", "ACTIVE"]
    assert table[1].split()[:3] == ["admin", "yes", "yes"]
    assert table[2].split()[-1] == "main:admin"
    assert table[1].index("yes", table[1].index("yes") + 1) == table[0].index("ACTIVE")

    assert ok(ctl("user", "show", "alice", "--json")).data == {**alice, "login_locks": []}
    assert "roles:" in ok(ctl("user", "show", "alice")).out


def test_user_bad_input(ctl):
    for name in ("", " ", "bad name", "x" * 255, "-alice", "ali\tce"):
        refused(ctl("user", "create", "--", name), 2, "not a valid user name")
    refused(ctl("user", "create", "carol", "--role", "main:root"), 2, "invalid role")
    refused(ctl("user", "create", "carol", "--role", "main"), 2, "invalid role")
    refused(ctl("user", "create", "carol", "--role", "bad dc:admin"), 2, "datacenter name")
    refused(ctl("user", "create", "carol", "--role", "nowhere:admin"), 1,
            "no such datacenter: nowhere")
    refused(ctl("user", "create", "admin"), 1, "already exists")
    assert [u["username"] for u in ok(ctl("user", "list", "--json")).data] == ["admin"]
    for command in ("show", "delete", "deactivate", "activate", "key", "callback-key"):
        refused(ctl("user", command, "nobody"), 1, "'nobody' does not exist")
        refused(ctl("user", command, ""), 1, "does not exist")  # no DynamoDB error
    refused(ctl("user", "role", "add", "nobody", "main:admin"), 1, "does not exist")


def test_user_roles(ctl, clean):
    key = ok(ctl("user", "create", "alice", "--json")).data["api_key"]
    alice = clean.api(key)
    assert alice.get("/image").status_code == 403
    ok(ctl("dc", "create", "dc2"))
    run = ok(ctl("user", "role", "add", "alice", "main:admin", "main:image_admin",
                 "dc2:admin"))
    assert run.out.splitlines()[0] == "roles of alice: dc2:admin main:admin,image_admin"
    assert alice.get("/image").status_code == 200
    data = ok(ctl("user", "role", "remove", "alice", "main:image_admin", "dc2:admin",
                  "dc2:image_admin", "--json")).data
    assert data["dc_roles"] == {"main": ["admin"]}
    assert alice.get("/image").status_code == 403

    refused(ctl("user", "role", "add", "alice", "nowhere:admin"), 1, "no such datacenter")
    refused(ctl("user", "role", "add", "alice", "main:owner"), 2, "invalid role")
    refused(ctl("user", "role", "remove", "alice", "main:"), 2, "invalid role")
    assert ok(ctl("user", "show", "alice", "--json")).data["dc_roles"] == {"main": ["admin"]}


def test_user_deactivate_activate_delete(ctl, clean):
    key = ok(ctl("user", "create", "alice", "--role", "main:admin", "--json")).data["api_key"]
    alice = clean.api(key)
    assert alice.get("/task").status_code == 200
    run = ok(ctl("user", "deactivate", "alice"))
    assert run.out.startswith("user alice deactivated")
    assert alice.get("/task").status_code == 401
    assert ok(ctl("user", "activate", "alice", "--json")).data["active"] is True
    assert alice.get("/task").status_code == 200
    assert ok(ctl("user", "delete", "alice")).out == "user alice deleted\n"
    assert alice.get("/task").status_code == 401
    refused(ctl("user", "show", "alice"), 1, "does not exist")


def test_deactivate_says_when_the_key_stops_working(ctl, clean, settings_override):
    """A revocation reaches other containers within AUTH_CACHE_SECONDS (issue 18.9)."""
    ok(ctl("user", "create", "alice"))
    settings_override(AUTH_CACHE_SECONDS="7")
    assert "stop working within 7 s (AUTH_CACHE_SECONDS" in ok(
        ctl("user", "deactivate", "alice")).out
    assert "stops working within 7 s" in ok(ctl("user", "key", "alice")).out
    settings_override(AUTH_CACHE_SECONDS="0")
    ok(ctl("user", "activate", "alice"))
    assert "stop working at once" in ok(ctl("user", "deactivate", "alice")).out


def test_the_last_active_super_admin_is_kept(ctl, clean):
    refused(ctl("user", "delete", "admin"), 1, "last active SuperAdmin")
    refused(ctl("user", "deactivate", "admin"), 1, "last active SuperAdmin")
    ok(ctl("user", "create", "root", "--super-admin"))
    ok(ctl("user", "deactivate", "root"))
    refused(ctl("user", "delete", "admin"), 1, "last active SuperAdmin")  # root is inactive
    ok(ctl("user", "activate", "root"))
    assert ok(ctl("user", "deactivate", "admin", "--json")).data["active"] is False
    refused(ctl("user", "delete", "root"), 1, "last active SuperAdmin")
    ok(ctl("user", "activate", "admin"))
    ok(ctl("user", "delete", "root"))


def test_user_keys_json(ctl, clean):
    ok(ctl("user", "create", "alice"))
    key = ok(ctl("user", "key", "alice", "--json")).data
    assert set(key) == {"username", "api_key"}
    assert clean.api(key["api_key"]).get("/image").status_code == 403  # known, no roles
    callback = ok(ctl("user", "callback-key", "alice", "--json")).data
    assert len(callback["callback_key"]) == 64
    assert ok(ctl("user", "callback-key", "alice")).out.splitlines()[-1] == (
        callback["callback_key"])


# --- images --------------------------------------------------------------------------------------
def test_image_list(ctl, clean, files):
    admin = Api(clean.api_url, clean.admin_key)
    assert ok(ctl("image", "list")).out == "no images\n"
    assert ok(ctl("image", "list", "--json")).data == []
    ok(ctl("dc", "create", "dc2"))
    import_db_only(admin, files, "img1")
    import_db_only(admin, files, "img2", dc="dc2")
    rows = ok(ctl("image", "list", "--json")).data
    assert [row["name"] for row in rows] == ["img1", "img2"]
    assert set(rows[0]) == {"name", "uuid", "dc_bound", "dcs", "status", "owner", "size",
                            "task_id"}
    assert (rows[0]["dc_bound"], rows[0]["status"], rows[0]["owner"], rows[0]["task_id"]) == (
        "main", "ok", "admin", None)
    assert [row["name"] for row in ok(ctl("image", "list", "--dc", "dc2", "--json")).data] \
        == ["img2"]
    assert ok(ctl("image", "list", "--status", "pending", "--json")).data == []
    assert len(ok(ctl("image", "list", "--status", "ok", "--json")).data) == 2
    table = ok(ctl("image", "list")).out.splitlines()
    assert table[0].split()[:2] == ["NAME", "UUID"] and table[1].startswith("img1  ")
    assert table[1].index(rows[0]["uuid"]) == table[0].index("UUID")
    refused(ctl("image", "list", "--dc", "nowhere"), 1, "does not exist")


# --- tasks ---------------------------------------------------------------------------------------
def test_task_list_show_cancel(ctl, server, files, hold):
    admin = Api(server.api_url, server.admin_key)
    assert ok(ctl("task", "list")).out == "no tasks\n"
    held = hold("import_file")
    task_id, _ = start_import(admin, files, "img1", CONTENT)
    held.wait_reached(task_id)

    running = ok(ctl("task", "list", "--running", "--json")).data
    assert [row["task_id"] for row in running] == [task_id]
    assert (running[0]["operation"], running[0]["status"], running[0]["image"]) == (
        "import", "PENDING", "img1")
    assert ok(ctl("task", "list", "--dc", "main", "--limit", "1", "--json")).data == running
    table = ok(ctl("task", "list")).out.splitlines()
    assert table[0].split()[:3] == ["TASK", "OPERATION", "STATUS"]
    assert table[1].startswith(task_id + "  ")
    assert ok(ctl("image", "list", "--status", "pending", "--json")).data[0]["task_id"] == task_id

    detail = ok(ctl("task", "show", task_id, "--json")).data
    assert detail["status"] == "PENDING" and detail["result"] is None
    assert detail["view"]["task_id"] == task_id
    assert "status:" in ok(ctl("task", "show", task_id)).out

    cancelled = ok(ctl("task", "cancel", task_id, "--json")).data
    assert (cancelled["status"], cancelled["state"]) == ("REVOKED", "done")
    assert wait_task(admin, task_id).status_code == 410
    held.release(task_id)
    refused(ctl("task", "cancel", task_id), 1, "already ended")
    assert ok(ctl("task", "list", "--running", "--json")).data == []
    assert ok(ctl("image", "list", "--json")).data == []  # the import was rolled back


def test_ended_update_and_delete_tasks_show_done(ctl, server, files):
    """A successful task is "done 100%", not the "queued 0%" it started with (issue 18.4)."""
    admin = Api(server.api_url, server.admin_key)
    task_ids = [start_import(admin, files, "img1", CONTENT)[0]]
    wait_task(admin, task_ids[0])
    for change in (lambda: admin.put("/image/img1", {"desc": "new"}),
                   lambda: admin.delete("/image/img1")):
        r = change()
        assert r.status_code == 201, r.text
        task_ids.append(r.json()["task_id"])
        assert wait_task(admin, task_ids[-1]).status_code == 200
    rows = {row["task_id"]: row for row in ok(ctl("task", "list", "--json")).data}
    # the import ends at 100% of the step it reported; the update and delete reported none
    assert [rows[task_id]["progress"]["step"] for task_id in task_ids] == [
        "download", "done", "done"]
    assert all(rows[task_id]["progress"]["percent"] == 100 for task_id in task_ids)
    table = ok(ctl("task", "list")).out
    assert "queued" not in table and table.count("done 100%") == 2
    assert table.count("download 100%") == 1


def test_task_show_follow_prints_progress_until_the_end(ctl, server, files, hold):
    admin = Api(server.api_url, server.admin_key)
    held = hold("import_file")
    task_id, _ = start_import(admin, files, "img1", CONTENT)
    held.wait_reached(task_id)
    threading.Timer(0.5, held.release, args=(task_id,)).start()
    run = ok(ctl("task", "show", task_id, "--follow", "--interval", "0.1"))
    lines = run.out.splitlines()
    assert lines[0].startswith(f"{task_id} PENDING running")
    assert any(line.startswith(f"{task_id} SUCCESS done download 100% (") for line in lines)
    assert "status:" in run.out and run.out.rstrip().splitlines()[-1].startswith("result:")
    # --json: the final task only
    assert ok(ctl("task", "show", task_id, "--follow", "--json")).data["status"] == "SUCCESS"


def test_task_bad_input(ctl):
    refused(ctl("task", "show", "nosuch"), 1, "'nosuch' does not exist")
    refused(ctl("task", "show", ""), 1, "does not exist")
    refused(ctl("task", "cancel", "nosuch"), 1, "does not exist")
    refused(ctl("task", "show", "nosuch", "--follow", "--interval", "0"), 2, "--interval")
    for limit in ("0", "1001", "-1", "many"):
        refused(ctl("task", "list", "--limit", limit), 2, "invalid limit", "between 1 and 1000")
    refused(ctl("task", "list", "--dc", "nowhere"), 1, "does not exist")


# --- cleanup -------------------------------------------------------------------------------------
def test_cleanup_prints_progress_and_a_summary(ctl):
    lines = ok(ctl("cleanup", "--dry-run")).out.splitlines()
    assert lines[0].startswith("cleanup: finishing stuck tasks") and "dry run" in lines[0]
    assert any(line.split()[:2] == ["0", "stuck"] for line in lines)
    assert lines[-1] == "cleanup (dry run) done: would change 0 thing(s)"
    # each job is announced as it starts and reported as it ends, in the order they run
    assert lines[1:5] == ["  tasks past deadline ...", "  tasks past deadline: 0",
                          "  tasks finished ...", "  tasks finished: 0"]
    assert "  records expired ..." in lines and "  records expired: 0" in lines
    report = ok(ctl("cleanup", "--json")).data
    assert report["dry_run"] is False and report["tasks_finished"] == []
    assert ok(ctl("cleanup")).out.splitlines()[-1] == "cleanup done: changed 0 thing(s)"
