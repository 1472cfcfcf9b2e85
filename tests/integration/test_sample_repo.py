"""The image repository of the local stack (devstack.image_repo): the sample images `make run`
serves, and `./imagectl repo serve DIR` for a folder of one's own files. Both are imported
through the session's local stack, as a person following the README would import them."""
from __future__ import annotations

import gzip
import hashlib
import json
import platform
import random
import signal
import subprocess
import threading
import uuid as uuidlib
from pathlib import Path

import boto3
import pytest
import requests

from chalicelib.persistence.models import Image
from devstack import image_repo
from devstack.process import ROOT, clean_env
from tests.integration.workflow_support import wait_task
from tests.support import Api, wait_for


@pytest.fixture(scope="module")
def sample_repo():
    """The sample repository as the stack serves it, on a free port of 127.0.0.1."""
    repo = image_repo.ImageRepository(image_repo.sample_images(), "127.0.0.1", 0).start()
    yield repo
    repo.stop()


def import_and_wait(admin: Api, name: str, manifest_url: str) -> dict:
    r = admin.post(f"/image/{name}", {"manifest_url": manifest_url, "dc": "main"})
    assert r.status_code == 201, r.text
    done = wait_task(admin, r.json()["task_id"])
    assert done.status_code == 200, done.text
    assert done.json()["result"]["message"].startswith(f"Successfully imported image {name}")
    return done.json()


def stored_file(server, image_uuid: str) -> bytes:
    return boto3.client("s3").get_object(Bucket=server.bucket,
                                         Key=f"images/{image_uuid}/file")["Body"].read()


# ---------------------------------------------------------------------------------------------
# The sample images of `make run`
# ---------------------------------------------------------------------------------------------
def test_each_sample_image_imports_through_the_api(server, admin, sample_repo):
    assert [image.manifest["type"] for image in sample_repo.images] == ["zvol", "zone-dataset"]
    for image, sample in zip(sample_repo.images, image_repo.SAMPLES, strict=True):
        import_and_wait(admin, sample.name, sample_repo.manifest_url(image))
        record = Image.get(sample.name)
        assert record.status == 1 and record.uuid == sample.uuid
        assert record.manifest["files"] == [{
            "sha1": image.sha1, "size": image.size, "compression": "gzip",
            "sha256": hashlib.sha256(stored_file(server, sample.uuid)).hexdigest()}]
        assert record.ostype == {"zvol": 1, "zone-dataset": 5}[sample.type]
        data = stored_file(server, sample.uuid)
        assert hashlib.sha1(data).hexdigest() == image.sha1 and len(data) == image.size
        # a real gzip stream, of the generated content
        assert gzip.decompress(data) == image_repo.sample_payload(sample)


def test_the_samples_are_small_and_the_same_on_every_start(sample_repo):
    again = image_repo.sample_images()
    assert [image.manifest for image in again] == [i.manifest for i in sample_repo.images]
    for image in again:
        assert 1 << 20 <= image.size <= 4 << 20   # a few MiB
        assert image.data is not None and hashlib.sha1(image.data).hexdigest() == image.sha1


def test_the_repository_serves_like_an_image_server(sample_repo):
    """The IMGAPI layout, and what a resumed transfer needs: a strong ETag, ranges, If-Range."""
    image = sample_repo.images[0]
    assert image.data is not None
    manifest_url = sample_repo.manifest_url(image)
    assert manifest_url == f"{sample_repo.url}/images/{image.uuid}"
    assert requests.get(manifest_url, timeout=10).json() == image.manifest
    assert requests.get(manifest_url + "/", timeout=10).json() == image.manifest
    listing = requests.get(sample_repo.repository_url, timeout=10).json()
    assert [m["uuid"] for m in listing] == [i.uuid for i in sample_repo.images]

    file_url = manifest_url + "/file"  # the API's default file URL
    whole = requests.get(file_url, timeout=10)
    assert whole.status_code == 200 and whole.content == image.data
    assert whole.headers["ETag"] == f'"{image.sha1}"'
    assert whole.headers["Accept-Ranges"] == "bytes"

    def get(**headers: str) -> requests.Response:
        return requests.get(file_url, headers=headers, timeout=10)

    tail = get(Range="bytes=1000-", **{"If-Range": whole.headers["ETag"]})
    assert tail.status_code == 206 and tail.content == image.data[1000:]
    assert tail.headers["Content-Range"] == f"bytes 1000-{image.size - 1}/{image.size}"
    probe = get(Range="bytes=7-7")
    assert probe.status_code == 206 and probe.content == image.data[7:8]
    suffix = get(Range="bytes=-10")
    assert suffix.status_code == 206 and suffix.content == image.data[-10:]
    assert get(Range="bytes=1000-", **{"If-Range": '"another"'}).content == image.data
    assert get(Range="bytes=1-2,5-6").status_code == 200     # several ranges: the whole file
    at_end = get(Range=f"bytes={image.size}-")
    assert at_end.status_code == 416
    assert at_end.headers["Content-Range"] == f"bytes */{image.size}"
    head = requests.head(file_url, timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(image.size)

    assert requests.get(f"{sample_repo.url}/images/{uuidlib.uuid4()}", timeout=10
                        ).status_code == 404
    assert requests.get(f"{sample_repo.url}/elsewhere", timeout=10).status_code == 404
    assert requests.post(manifest_url, timeout=10).status_code == 405


def test_sample_repo_port_setting(monkeypatch):
    from devstack.__main__ import StartupError, options_from_env
    monkeypatch.delenv("SAMPLE_REPO_PORT", raising=False)
    assert options_from_env().sample_repo_port == 8001
    for value, port in (("0", 0), ("18001", 18001), ("off", None), ("OFF", None)):
        monkeypatch.setenv("SAMPLE_REPO_PORT", value)
        assert options_from_env().sample_repo_port == port
    monkeypatch.setenv("SAMPLE_REPO_PORT", "eighty")
    with pytest.raises(StartupError, match="SAMPLE_REPO_PORT='eighty' is not a number"):
        options_from_env()


# ---------------------------------------------------------------------------------------------
# ./imagectl repo serve DIR
# ---------------------------------------------------------------------------------------------
def gzipped(seed: str, size: int) -> bytes:
    return gzip.compress(random.Random(seed).randbytes(size), mtime=0)


class Served:
    """`./imagectl repo serve` in a child process; `lines` is what it printed so far."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(ROOT / "imagectl"), "repo", "serve", *args], cwd=ROOT, env=clean_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def listing(self, count: int) -> tuple[str, list[str]]:
        """The repository URL and the manifest URLs of the `count` images, once printed."""
        wait_for(lambda: len(self.lines) >= count + 1 or self.process.poll() is not None,
                 20, message=lambda _: f"repo serve printed {self.lines}")
        header = self.lines[0]
        assert header.startswith(f"Serving {count} image(s) from "), self.lines
        repo_url = header.split(" at ", 1)[1].split()[0]
        return repo_url, [line.split()[0] for line in self.lines[1:count + 1]]

    def stop(self) -> tuple[int, str]:
        """Ctrl-C; the exit code and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)
        self.reader.join(5)
        assert self.process.stderr is not None
        return self.process.returncode, self.process.stderr.read()


def test_repo_serve_makes_a_folder_an_importable_repository(server, admin, tmp_path):
    centos, base = gzipped("centos", 3 << 20), gzipped("base", 1 << 20)
    (tmp_path / "centos-7.img.gz").write_bytes(centos)
    (tmp_path / "base-64.zfs.gz").write_bytes(base)
    (tmp_path / "base-64.zfs.gz.json").write_text(json.dumps(
        {"name": "base-64-lts", "version": "24.4.1", "description": "SmartOS base"}))
    (tmp_path / "README.txt").write_text("not an image")

    served = Served(str(tmp_path), "--port", "0")
    try:
        repo_url, urls = served.listing(2)
        assert repo_url.startswith("http://127.0.0.1:") and repo_url.endswith("/images")
        assert ":0/" not in repo_url  # the port chosen is printed
        manifests = {m["files"][0]["sha1"]: m for m in
                     (requests.get(url, timeout=10).json() for url in urls)}
        assert sorted(manifests) == sorted(hashlib.sha1(d).hexdigest() for d in (centos, base))

        zvol = manifests[hashlib.sha1(centos).hexdigest()]
        assert zvol["files"] == [{"sha1": hashlib.sha1(centos).hexdigest(), "size": len(centos),
                                  "compression": "gzip"}]
        assert (zvol["name"], zvol["version"], zvol["type"], zvol["os"]) == (
            "centos-7", "1.0", "zvol", "linux")
        assert zvol["uuid"] == str(uuidlib.uuid5(image_repo.FOLDER_NAMESPACE,
                                                 hashlib.sha1(centos).hexdigest()))
        zone = manifests[hashlib.sha1(base).hexdigest()]
        assert zone["files"][0]["size"] == len(base)
        assert (zone["name"], zone["version"], zone["type"], zone["os"], zone["description"]
                ) == ("base-64-lts", "24.4.1", "zone-dataset", "smartos", "SmartOS base")
        assert requests.get(repo_url, timeout=10).json() == [
            requests.get(url, timeout=10).json() for url in urls]
        part = requests.get(f"{repo_url}/{zvol['uuid']}/file", timeout=10,
                            headers={"Range": "bytes=100-"})
        assert part.status_code == 206 and part.content == centos[100:]

        for manifest, data in ((zvol, centos), (zone, base)):
            name = f"served-{manifest['type']}"
            import_and_wait(admin, name, f"{repo_url}/{manifest['uuid']}")
            record = Image.get(name)
            assert record.uuid == manifest["uuid"]
            assert record.manifest["files"] == [
                {**manifest["files"][0], "sha256": hashlib.sha256(data).hexdigest()}]
            assert stored_file(server, manifest["uuid"]) == data
    finally:
        code, stderr = served.stop()
    assert code == 0 and stderr == "", stderr
    assert served.lines[-1] == f"stopped serving {tmp_path}"   # one line on exit


def test_repo_serve_uuids_are_stable(tmp_path):
    (tmp_path / "a.img.gz").write_bytes(gzipped("a", 1000))
    first = image_repo.folder_images(tmp_path)
    (tmp_path / "b.img.xz").write_bytes(b"\xfd7zXZ\x00 not really, but it starts like xz")
    second = image_repo.folder_images(tmp_path)
    assert first[0].manifest == second[0].manifest
    assert second[1].manifest["files"][0]["compression"] == "xz"
    assert second[1].manifest["name"] == "b"


def run_serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "imagectl"), "repo", "serve", *args], cwd=ROOT,
                          env=clean_env(), capture_output=True, text=True, timeout=30)


def one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("imagectl: "), proc.stderr
    return proc.stderr.strip()


def test_repo_serve_a_missing_or_empty_folder(tmp_path):
    missing = tmp_path / "nowhere"
    assert one_line_error(run_serve(str(missing))) == f"imagectl: {missing}: no such folder"
    (tmp_path / "notes.txt").write_text("x")
    assert one_line_error(run_serve(str(tmp_path))).startswith(
        f"imagectl: no image files in {tmp_path}")


@pytest.mark.parametrize("sidecar,complaint", [
    ("{not json", "cannot read"),
    ('["a list"]', "must hold a JSON object"),
    ('{"files": []}', "sets `files`"),
    ('{"version": ""}', "the API would refuse this manifest"),
    ('{"uuid": "not-a-uuid"}', "the API would refuse this manifest"),
])
def test_repo_serve_refuses_a_bad_sidecar(tmp_path, sidecar, complaint):
    (tmp_path / "x.img.gz").write_bytes(gzipped("x", 100))
    (tmp_path / "x.img.gz.json").write_text(sidecar)
    message = one_line_error(run_serve(str(tmp_path), "--port", "0"))
    assert complaint in message and "x.img.gz.json" in message


def test_repo_serve_refuses_what_is_not_what_its_name_says(tmp_path):
    (tmp_path / "x.img.gz").write_bytes(b"plain bytes")
    assert "is not a gzip file" in one_line_error(run_serve(str(tmp_path), "--port", "0"))
    (tmp_path / "x.img.gz").write_bytes(gzipped("x", 100))
    (tmp_path / "copy.img.gz").write_bytes(gzipped("x", 100))
    assert "would have the same uuid" in one_line_error(run_serve(str(tmp_path), "--port", "0"))


def test_repo_serve_on_a_busy_port(tmp_path):
    import socket
    (tmp_path / "x.img.gz").write_bytes(gzipped("x", 100))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = one_line_error(run_serve(str(tmp_path), "--port", str(port)))
    assert f"port {port}" in message and "--port" in message


def test_repo_serve_help():
    proc = subprocess.run([str(ROOT / "imagectl"), "repo", "serve", "--help"], cwd=ROOT,
                          env=clean_env(), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: imagectl repo serve")
    assert "sidecar" in proc.stdout and "--port" in proc.stdout


# The call an idle selector thread blocks in, per machine (syscall numbers), whose fourth
# argument is its timeout in milliseconds (-1: none): x86_64 epoll_wait and epoll_pwait,
# aarch64 epoll_pwait (selectors.DefaultSelector is epoll on Linux).
EPOLL_WAITS = {"x86_64": {232, 281}, "aarch64": {22}}
NO_TIMEOUT = {0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}  # -1 as the kernel shows it (int or long)


def test_an_idle_repository_thread_never_wakes(sample_repo):
    """It sleeps in select until a connection or stop(): no timer, so no idle CPU. Read from
    the kernel, not measured over time: /proc/<tid>/syscall names the call a blocked thread is
    in and its arguments, so a wait with a timeout (a polling loop) shows its milliseconds."""
    thread = sample_repo._thread
    assert thread is not None and thread.is_alive() and thread.native_id
    syscall = Path(f"/proc/self/task/{thread.native_id}/syscall")
    waits = EPOLL_WAITS.get(platform.machine())
    if not syscall.exists() or waits is None:
        pytest.skip("needs Linux /proc/<tid>/syscall on x86_64 or aarch64")

    def blocked_in_epoll() -> list[str] | None:
        """The call's number and arguments, once the thread is blocked in an epoll wait."""
        fields = syscall.read_text().split()  # "running" while it runs
        return fields if fields[0].isdigit() and int(fields[0]) in waits else None

    fields = wait_for(blocked_in_epoll, message="the repository thread never waited in epoll")
    assert int(fields[4], 16) in NO_TIMEOUT, f"it waits with a timeout: {fields}"
    assert requests.get(sample_repo.repository_url, timeout=10).status_code == 200
    # after serving, it is back in the same wait, still without a timeout
    fields = wait_for(blocked_in_epoll, message="the repository thread did not wait again")
    assert int(fields[4], 16) in NO_TIMEOUT, f"it waits with a timeout: {fields}"
