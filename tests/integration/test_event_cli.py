"""`imagectl event validate FILE` and `imagectl event put FILE` check an event as the service
would (chalicelib/domain/platform_events.py, written down in chalicelib/schemas/events/):
a malformed one is refused with one line naming the field, exit 2, and is never sent."""
from __future__ import annotations

import json
import os

import pytest
from pynamodb.exceptions import DoesNotExist

from chalicelib.persistence.models import Vm
from cli import imagectl
from tests.support import wait_for

VM = "5d0c7c52-2f53-4b8e-9a1e-6b3c1f0d2e11"
GOOD = {"uuid": VM, "hostname": "cli01", "dc": "main", "owner": "admin", "status": "running",
        "ostype": 1, "version": 1, "disks": []}


def event_file(tmp_path, detail, detail_type="VM State", name="vm.json", **extra):
    path = tmp_path / name
    path.write_text(json.dumps({"Source": "danube.platform", "DetailType": detail_type,
                                "Detail": detail, **extra}))
    return str(path)


@pytest.fixture
def no_stack(tmp_path, monkeypatch):
    """No local stack state file and no AWS settings: `validate` must not need them."""
    monkeypatch.setenv("DEVSTACK_STATE", str(tmp_path / "no-such-state.json"))
    monkeypatch.delenv("IMAGE_API_TABLE_PREFIX", raising=False)


@pytest.fixture
def restored_environment():
    """`target_environment` writes the stack's settings into os.environ: put them back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def run(capsys, *argv):
    code = imagectl.main(list(argv))
    out, err = capsys.readouterr()
    return code, _without_app_log_lines(out), err


def _without_app_log_lines(out: str) -> str:
    """The session's stack shares this process: an event an earlier test put may be applied
    while this one runs, and the app's JSON log line lands in the captured stdout."""
    def from_the_app(line: str) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return isinstance(record, dict) and str(record.get("logger", "")).startswith("imageapi")
    return "".join(line for line in out.splitlines(keepends=True) if not from_the_app(line))


# --------------------------------------------------------------------------- validate
@pytest.mark.parametrize("detail_type, detail", [
    ("VM State", GOOD),
    ("Snapshot State", {"vm_uuid": VM, "name": "s1", "disk_id": 1, "status": "ok", "version": 1}),
    ("DC State", {"name": "main", "image_limit": None, "version": 3}),
])
def test_validate_a_good_event(no_stack, tmp_path, capsys, detail_type, detail):
    code, out, err = run(capsys, "event", "validate", event_file(tmp_path, detail, detail_type))
    assert (code, out, err) == (0, f"valid {detail_type} event\n", "")


def test_the_readme_example_event_file_is_valid(no_stack, tmp_path, capsys):
    """The README shows the file's wrapper next to the bare schema examples (issue 18.5)."""
    from devstack.process import ROOT
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Platform events"):]
    block = section[section.index("```json\n") + 8:]
    path = tmp_path / "vm.json"
    path.write_text(block[:block.index("```")])
    assert run(capsys, "event", "validate", str(path)) == (0, "valid VM State event\n", "")


def test_validate_takes_the_detail_as_json_text_too(no_stack, tmp_path, capsys):
    path = event_file(tmp_path, json.dumps(GOOD))
    assert run(capsys, "event", "validate", path) == (0, "valid VM State event\n", "")


@pytest.mark.parametrize("detail_type, detail, error", [
    ("VM State", dict(GOOD, status=1), "detail.status: 1 is not a non-empty string"),
    ("VM State", {k: v for k, v in GOOD.items() if k != "uuid"},
     "detail.uuid: missing (required)"),
    ("VM State", dict(GOOD, disks=[{"size": -1}]),
     "detail.disks[0].size: -1 is not an integer >= 0"),
    ("VM State", dict(GOOD, hostname="web01\n"), 'detail.hostname: "web01\\n" is not a name'),
    ("Snapshot State", {"vm_uuid": VM, "name": "s1", "disk_id": 1, "status": "OK",
                        "version": 1}, 'detail.status: "OK" is not one of "ok"'),
    ("User State", {"username": "bob", "version": 1, "is_super_admin": "no"},
     'detail.is_super_admin: "no" is not a boolean'),
    ("VM Created", GOOD, 'detail-type: unknown detail-type "VM Created"'),
    ("VM State", [GOOD], "detail: [{"),
])
def test_validate_a_bad_event(no_stack, tmp_path, capsys, detail_type, detail, error):
    path = event_file(tmp_path, detail, detail_type)
    code, out, err = run(capsys, "event", "validate", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"imagectl: {path}: {error}") and err.count("\n") == 1, err


@pytest.mark.parametrize("content, error", [
    ("{", "cannot read event file"),
    ('{"Source": "danube.platform", "Detail": {}}', "must hold"),
    ('{"Source": "danube.platform", "DetailType": "VM State", "Detail": "{"}',
     "Detail is not JSON"),
])
def test_validate_an_unreadable_file(no_stack, tmp_path, capsys, content, error):
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run(capsys, "event", "validate", str(path))
    assert (code, out) == (2, "") and error in err and err.count("\n") == 1, err


def test_validate_is_listed_in_help(capsys):
    assert imagectl.main(["event", "--help"]) == 0
    assert "validate" in capsys.readouterr().out


# --------------------------------------------------------------------------- put
def write_state(tmp_path, monkeypatch, emulator_url):
    state = tmp_path / "state.json"
    prefix = os.environ.get("IMAGE_API_TABLE_PREFIX", "imageapi-cli-test")
    state.write_text(json.dumps({"emulator_url": emulator_url, "table_prefix": prefix}))
    monkeypatch.setenv("DEVSTACK_STATE", str(state))


def get_vm():
    try:
        return Vm.get(VM, consistent_read=True)
    except DoesNotExist:
        return None


def test_put_refuses_a_bad_event_and_sends_nothing(clean, tmp_path, monkeypatch, capsys,
                                                   restored_environment):
    write_state(tmp_path, monkeypatch, clean.emulator_url)
    path = event_file(tmp_path, dict(GOOD, status=1))
    code, out, err = run(capsys, "event", "put", path)
    assert (code, out, err) == (2, "", f"imagectl: {path}: detail.status: 1 is not a "
                                       "non-empty string\n")
    clean.events_delivered("on_platform_event")
    assert get_vm() is None


def test_put_sends_a_good_event(clean, tmp_path, monkeypatch, capsys, restored_environment):
    write_state(tmp_path, monkeypatch, clean.emulator_url)
    code, out, err = run(capsys, "event", "put", event_file(tmp_path, GOOD))
    assert (code, err) == (0, "") and "(VM State)" in out
    assert wait_for(get_vm).hostname == "cli01"


def test_put_checks_before_it_needs_the_network(tmp_path, monkeypatch, capsys,
                                                restored_environment):
    """Against a stack that does not answer, a bad event is still refused at once (exit 2,
    not a connection failure)."""
    write_state(tmp_path, monkeypatch, "http://127.0.0.1:9")
    path = event_file(tmp_path, dict(GOOD, ostype=9))
    code, out, err = run(capsys, "event", "put", path)
    assert (code, out) == (2, "") and f"{path}: detail.ostype: 9 is not an integer 1..6" in err
