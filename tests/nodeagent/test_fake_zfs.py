"""The fake `zfs` (devstack/bin/zfs) refuses what ZFS refuses, in ZFS's words and exit codes,
so an export the local stack passes is one the real `zfs send` would run. The expected texts
are OpenZFS's (cmd/zfs/zfs_main.c, lib/libzfs/libzfs_dataset.c, module/zcommon/
zfs_namecheck.c): `cannot open '<name>': <why>` and exit 1 for a name or a missing dataset,
exit 2 for a usage error."""
from __future__ import annotations

import json
import subprocess

import pytest

from devstack.node_agent import FAKE_ZFS

LONG = "zones/" + "a" * 245 + "@es-7"        # 256 bytes: one more than ZFS takes
LONGEST = LONG[:5] + LONG[6:]                  # 255 bytes


def zfs(*arguments: str, zfs_dir=None) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": "/usr/bin:/bin", **({"FAKE_ZFS_DIR": str(zfs_dir)} if zfs_dir else {})}
    return subprocess.run([str(FAKE_ZFS), *arguments], capture_output=True, env=env,
                          timeout=30)


@pytest.mark.parametrize("name, why", [
    # the export: a full ZFS name where the short one belongs
    ("zones/vm-disk0@zones/vm-disk0@snap1", "trailing slash in name"),
    ("zones/vm-disk0@snap1@snap2", "multiple '@' and/or '#' delimiters in name"),
    ("zones/vm-disk0@", "empty component or misplaced '@' or '#' delimiter in name"),
    ("zones//vm-disk0@es-7", "empty component or misplaced '@' or '#' delimiter in name"),
    ("@es-7", "empty component or misplaced '@' or '#' delimiter in name"),
    ("/zones/vm-disk0@es-7", "leading slash in name"),
    ("zones/vm-disk0/@es-7", "empty component or misplaced '@' or '#' delimiter in name"),
    ("zones/vm-disk0@.", "self reference, '.' is found in name"),
    ("zones/../vm-disk0@es-7", "parent reference, '..' is found in name"),
    ("zones/vm-disk0@es!7", "invalid character '!' in name"),
    ("zones/vm disk0@es-7\n", "invalid character '\n' in name"),
    ("zones/vm-disk0#es-7", "bookmark delimiter '#' is not expected here"),
    (LONG, "name is too long"),
])
def test_names_zfs_refuses(name, why):
    result = zfs("send", name)
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr.decode() == f"cannot open '{name}': {why}\n"


@pytest.mark.parametrize("name", ["zones/vm-disk0@es-7", "zones/vm-disk0@auto:2024 01.x_y",
                                  "zones/a%b@es-7", LONGEST, "zones@es-7"])
def test_names_zfs_takes(name, tmp_path):
    (tmp_path / "default.json").write_text(json.dumps({"size": 1000}))
    result = zfs("send", name, zfs_dir=tmp_path)
    assert (result.returncode, len(result.stdout), result.stderr) == (0, 1000, b"")


def test_a_missing_snapshot(tmp_path):
    (tmp_path / "es-7.json").write_text(json.dumps({"exists": False}))
    result = zfs("send", "zones/vm-disk0@es-7", zfs_dir=tmp_path)
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr == b"cannot open 'zones/vm-disk0@es-7': dataset does not exist\n"


def test_a_filesystem_in_use_is_not_sent():
    result = zfs("send", "zones/vm-disk0")
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr == (b"warning: cannot send 'zones/vm-disk0': target is busy; if a "
                             b"filesystem, it must not be mounted\n")


@pytest.mark.parametrize("arguments, first_line", [
    (["send"], "missing snapshot argument"),
    (["send", "zones/a@b", "zones/c@d"], "too many arguments"),
    (["send", "-q", "zones/a@b"], "invalid option 'q'"),
    (["list"], "fake zfs: only `send` is known"),
])
def test_usage_errors_exit_2(arguments, first_line):
    result = zfs(*arguments)
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode().splitlines()[0] == first_line


def test_flags_without_an_argument_are_taken(tmp_path):
    (tmp_path / "default.json").write_text(json.dumps({"size": 10}))
    result = zfs("send", "-cv", "-L", "zones/vm-disk0@es-7", zfs_dir=tmp_path)
    assert (result.returncode, len(result.stdout)) == (0, 10)
