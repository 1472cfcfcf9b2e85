"""`./imagectl image upload` (SPEC §4.13) as an operator runs it: a child process talking HTTP
to the session's local stack. A 1 GiB file goes up with bounded memory (peak RSS of the child,
from the kernel's accounting); interrupted (Ctrl-C) when half of its part PUTs are done, it
says how to resume, and run again it sends only the parts the store does not hold. The store
(the emulator, devstack/request_holds.py) holds every part PUT past the half until the Ctrl-C
has been handled: reading the child's lines, this process (which also serves the store) could
lag so far behind that the child had sent every part before the Ctrl-C came.

Peak RSS is the child's VmHWM (/proc/<pid>/status), read at each line it prints: its
`ru_maxrss` would not do, as Linux carries the forking process's (this one, which hosts the
stack and its store) high-water mark over an exec into it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack import request_holds
from tests.integration.upload_support import manifest_for
from tests.support import Api

ROOT = Path(__file__).resolve().parents[2]
GiB = 1 << 30
RSS_LIMIT_KIB = 100 * 1024


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


# Ctrl-C reaches the child as at a terminal however this suite was started: a shell starts a
# background job with SIGINT ignored, a child inherits that, and Python then never raises
# KeyboardInterrupt (`make test &` made the child upload everything). Reset, then exec.
WITH_CTRL_C = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
               "os.execv(sys.argv[1], sys.argv[1:])")
CTRL_C_SECONDS = 60  # the child has said "interrupted" by then, or the test fails


class Run:
    """One `imagectl image upload` child; its plain progress lines (stdout is a pipe)."""

    def __init__(self, server, *args: str) -> None:
        env = {**os.environ, "ES_API_KEY": server.admin_key, "IMAGE_API_URL": server.api_url}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WITH_CTRL_C, str(ROOT / "imagectl"), "image", "upload",
             *args], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
        self.lines: list[str] = []
        self.part_puts = 0
        self.peak_kib = 0

    def follow(self, stop_after_parts: int | None = None,
               when_interrupted: Callable[[], None] = lambda: None) -> None:
        """Read its lines; with `stop_after_parts`, press Ctrl-C once that many are stored
        (and call `when_interrupted` once it says it was)."""
        assert self.process.stdout is not None
        unheard = threading.Timer(0, lambda: None)  # replaced when the Ctrl-C is sent
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._sample_peak()
            if line.startswith("part "):
                self.part_puts += 1
                if self.part_puts == stop_after_parts:
                    self.process.send_signal(signal.SIGINT)
                    # a Ctrl-C that goes unheard must not keep the held parts for ever
                    unheard = threading.Timer(CTRL_C_SECONDS, when_interrupted)
                    unheard.daemon = True
                    unheard.start()
            if line.startswith("interrupted"):
                unheard.cancel()
                when_interrupted()

    def _sample_peak(self) -> None:
        """The kernel's high-water mark of the child's resident memory (gone once it exits:
        its last lines come after the parts are sent, its busiest time)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_kib = max(self.peak_kib, int(line.split()[1]))

    def finish(self) -> tuple[int, int]:
        """Exit code and peak RSS (KiB) of the child."""
        self.process.wait()
        assert self.peak_kib > 0, "no RSS sample"
        return self.process.returncode, self.peak_kib


def write_file(path: Path, size: int) -> bytes:
    """`size` bytes of a repeated random MiB (any content hashes alike)."""
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(block)
    return block


def test_one_gib_with_bounded_memory_interrupted_and_resumed(server, admin, tmp_path):
    image = tmp_path / "big.img"
    write_file(image, GiB)
    parts = GiB // (8 << 20)

    # the parts past the half wait at the store until the child has handled its Ctrl-C (by
    # part number: a part PUT that failed and was sent again must not shift the line)
    hold = request_holds.hold("PUT", r"/uploads/[^/?]+\?(.*&)?partNumber=(6[5-9]|[7-9][0-9]|"
                                     r"1[0-9][0-9])(&|$)", count=4 * parts)
    assert parts == 128  # the pattern's numbers: 65 to 199
    first = Run(server, "big", str(image), "--dc", "main")
    try:
        first.follow(stop_after_parts=parts // 2, when_interrupted=hold.release)
    finally:
        hold.release()
        request_holds.clear()
    code, first_rss = first.finish()
    assert hold.reached.is_set(), "no part past the half was held: the pattern missed them"
    assert code == 130, first.lines
    assert any("Run the same command again to resume it, or cancel it: imagectl task "
               "cancel " in line for line in first.lines), first.lines
    [task_id] = admin.get("/task/").json()["result"]
    stored = admin.get(f"/task/{task_id}/upload/").json()
    assert not stored["completed"]
    held = len(stored["parts"])
    assert parts // 2 <= held < parts

    second = Run(server, "big", str(image), "--dc", "main")
    second.follow()
    code, second_rss = second.finish()
    assert code == 0, second.lines
    assert f"{held} of {parts} parts already stored; sending {parts - held}" in second.lines
    assert second.part_puts == parts - held  # only the missing parts went up again
    assert second.lines[-1].startswith(f"Successfully uploaded image big (transferred {GiB} ")
    assert admin.get("/image/big").json()["result"]["status"] == 1
    assert server.open_uploads() == []
    assert max(first_rss, second_rss) < RSS_LIMIT_KIB, (first_rss, second_rss)


def test_a_given_manifest_and_a_failed_verification(server, admin, tmp_path):
    content = b"not what the manifest says"
    image = tmp_path / "small.raw"
    image.write_bytes(content)
    manifest = manifest_for(content, sha1="0" * 40)
    given = tmp_path / "m.json"
    given.write_text(__import__("json").dumps(manifest))
    run = Run(server, "small", str(image), "--manifest", str(given), "--dc", "main")
    run.follow()
    code, _ = run.finish()
    assert code == 1, run.lines
    assert run.lines[-1] == (f"ERROR: Image file checksum mismatch ({'0' * 40} != "
                             f"{__import__('hashlib').sha1(content).hexdigest()})")
    assert admin.get("/image/small").status_code == 404
    assert server.store_keys() == [] and server.open_uploads() == []
