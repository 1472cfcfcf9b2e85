"""`imagectl image upload NAME FILE`: an image from a local file, through the public API only
(SPEC §4.13). The file goes straight into the image store in parts, several at once, each
PUT to a presigned URL the API hands out; memory stays bounded (one part buffer per part in
flight). Run again for the same NAME, it finds its running upload task and sends only the
parts the store does not hold yet (GET /task/<id>/upload/). Ctrl-C leaves the upload
resumable and says how to resume or cancel it."""
from __future__ import annotations

import base64
import json
import os
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

MiB = 1 << 20
PART_BYTES = 8 * MiB          # S3: at least 5 MiB (but the last part); at most 10,000 parts
MAX_PARTS = 10_000
IN_FLIGHT = 4                 # parts sent at once: memory is about IN_FLIGHT * part size
PART_ATTEMPTS = 4


class UploadError(Exception):
    """What went wrong, in one line (the CLI prints it)."""


def part_size_for(size: int) -> int:
    """The part size: 8 MiB, raised to whole MiB when the file needs more than 10,000 parts
    (the same for every run of the same file, so a resumed upload's parts line up)."""
    needed = -(-size // MAX_PARTS)
    return max(PART_BYTES, -(-needed // MiB) * MiB)


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


@dataclass
class Api:
    """The image API as any client sees it: JSON over HTTP with an API key."""
    base_url: str
    key: str
    session: Any = field(default=None)

    def __post_init__(self) -> None:
        import requests
        self.session = requests.Session()
        self.session.headers.update({"ES-API-KEY": self.key,
                                     "Content-Type": "application/json"})
        self.base_url = self.base_url.rstrip("/")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.session.request(method, self.base_url + path, timeout=60,
                                        data=None if body is None else json.dumps(body))
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"detail": response.text[:200]}


class Progress:
    """A bar with rate and ETA on a terminal; on anything else a plain line per stored part."""

    def __init__(self, total: int, stream: TextIO, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.total, self.stream, self.clock = total, stream, clock
        self.tty = stream.isatty()
        self.done = 0
        self.sent = 0      # bytes sent by this run (the rate's)
        self.started = clock()
        self.last_draw = 0.0

    def resumed(self, stored: int, parts: int, missing: int) -> None:
        self.done = stored
        self.line(f"{parts - missing} of {parts} parts already stored; sending {missing}")

    def part(self, number: int, size: int) -> None:
        self.done += size
        self.sent += size
        if self.tty:
            now = self.clock()
            if now - self.last_draw >= 0.2 or self.done >= self.total:
                self.last_draw = now
                self.stream.write("\r" + self.bar())
                self.stream.flush()
        else:
            self.line(f"part {number} stored ({self.done} of {self.total} bytes)")

    def bar(self) -> str:
        width = 30
        share = self.done / self.total if self.total else 1.0
        elapsed = self.clock() - self.started
        rate = self.sent / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate else None
        filled = int(share * width)
        eta_text = f"{int(eta) // 60}:{int(eta) % 60:02d}" if eta is not None else "-:--"
        return (f"[{'#' * filled}{' ' * (width - filled)}] {share * 100:5.1f}%  "
                f"{rate / MiB:7.1f} MiB/s  ETA {eta_text}")

    def line(self, text: str) -> None:
        if self.tty and self.done:
            self.stream.write("\n")
        self.stream.write(text + "\n")
        self.stream.flush()


def find_task(api: Api, name: str) -> str | None:
    """The caller's running upload task of image `name` (GET /task, then each task's view)."""
    status, body = api.call("GET", "/task/")
    if status != 200:
        raise UploadError(f"GET /task: {status} {body}")
    for task_id in body.get("result") or []:
        status, task = api.call("GET", f"/task/{task_id}/")
        view = (task.get("result") or {}) if status == 200 else {}
        if view.get("name") == name and view.get("method") == "POST":
            status, _ = api.call("GET", f"/task/{task_id}/upload/")
            if status == 200:
                return str(task_id)
    return None


def start_or_resume(api: Api, name: str, manifest: dict[str, Any], dc: str | None,
                    say: Callable[[str], None]) -> str:
    body: dict[str, Any] = {"manifest": manifest, "upload": True}
    if dc:
        body["dc"] = dc
    status, answer = api.call("POST", f"/image/{name}/", body)
    if status == 201:
        say(f"upload of {name} started (task {answer['task_id']})")
        return str(answer["task_id"])
    if status == 406:
        task_id = find_task(api, name)
        if task_id is None:
            raise UploadError(f"image {name} exists (and no upload of it by you is running)")
        say(f"resuming the upload of {name} (task {task_id})")
        return task_id
    raise UploadError(f"POST /image/{name}: {status} {json.dumps(answer.get('result', answer))}")


class Sender:
    """The missing parts, at most IN_FLIGHT at once, each read from the file only when it is
    about to be sent, each retried (with a fresh URL) when a PUT fails."""

    def __init__(self, api: Api, task_id: str, path: Path, size: int, part_size: int,
                 progress: Progress, in_flight: int = IN_FLIGHT) -> None:
        import requests
        self.api, self.task_id, self.path = api, task_id, path
        self.size, self.part_size, self.progress = size, part_size, progress
        self.in_flight = in_flight
        self.http = requests.Session()  # the store's URLs carry their own authorisation

    def send(self, numbers: list[int]) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix="part")
        pending: dict[Future[int], int] = {}
        try:
            queue = list(numbers)
            while queue or pending:
                while queue and len(pending) < self.in_flight:
                    number = queue.pop(0)
                    pending[pool.submit(self._send_part, fd, number)] = number
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    number = pending.pop(future)
                    self.progress.part(number, future.result())
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            os.close(fd)

    def _part_url(self, number: int, crc32: str) -> str:
        """A fresh URL for the part, its CRC32 signed in (the store refuses other bytes)."""
        status, body = self.api.call("POST", f"/task/{self.task_id}/upload/",
                                     {"parts": [number], "crc32": {str(number): crc32}})
        if status != 200:
            raise UploadError(f"part URLs: {status} {json.dumps(body.get('result', body))}")
        return str(body["parts"][str(number)])

    def _send_part(self, fd: int, number: int) -> int:
        offset = (number - 1) * self.part_size
        data = os.pread(fd, min(self.part_size, self.size - offset), offset)
        # zlib releases the GIL: the parts in flight checksum in parallel
        crc32 = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        url = self._part_url(number, crc32)
        for attempt in range(1, PART_ATTEMPTS + 1):
            try:
                response = self.http.put(url, data=data, timeout=300,
                                         headers={"x-amz-checksum-crc32": crc32})
                if response.status_code == 200:
                    return len(data)
                problem = f"{response.status_code} {response.text[:200]}"
            except OSError as exc:  # requests' connection errors are OSErrors
                problem = str(exc)
            if attempt == PART_ATTEMPTS:
                raise UploadError(f"part {number} failed {attempt} times: {problem}")
            time.sleep(min(8, 2 ** attempt) / 4)
            url = self._part_url(number, crc32)  # the URL may have expired
        raise AssertionError("unreachable")


def missing_parts(api: Api, task_id: str, size: int, part_size: int
                  ) -> tuple[list[int], int, bool]:
    """The parts the store does not hold (as this file cuts them), the bytes it holds, and
    whether the upload is completed already."""
    status, body = api.call("GET", f"/task/{task_id}/upload/")
    if status != 200:
        raise UploadError(f"GET /task/{task_id}/upload/: {status} {body.get('detail', body)}")
    if body.get("completed"):
        return [], size, True
    stored = {int(p["number"]): int(p["size"]) for p in body["parts"]}
    count = part_count(size, part_size)

    def expected(number: int) -> int:
        return min(part_size, size - (number - 1) * part_size)
    missing = [n for n in range(1, count + 1) if stored.get(n) != expected(n)]
    held = sum(expected(n) for n in range(1, count + 1) if n not in missing)
    return missing, held, False


def wait_for_task(api: Api, task_id: str, say: Callable[[str], None],
                  poll: float = 0.5) -> tuple[int, dict[str, Any]]:
    """Poll the task's status until it ends; its HTTP status and result."""
    while True:
        status, body = api.call("GET", f"/task/{task_id}/status/")
        if status != 201:
            return status, body.get("result") or {}
        time.sleep(poll)


def upload(api: Api, name: str, path: Path, manifest: dict[str, Any], dc: str | None,
           stream: TextIO = sys.stdout, in_flight: int = IN_FLIGHT) -> int:
    """The whole upload; 0 when the image is ok, 1 when the task failed."""
    size = path.stat().st_size
    announced = manifest.get("files", [{}])[0].get("size")
    if announced != size:
        raise UploadError(f"the manifest's files[0].size is {announced}, {path} has {size} bytes")
    progress = Progress(size, stream)
    task_id = start_or_resume(api, name, manifest, dc, progress.line)
    part_size = part_size_for(size)
    try:
        missing, held, completed = missing_parts(api, task_id, size, part_size)
        if not completed:
            progress.resumed(held, part_count(size, part_size), len(missing))
            Sender(api, task_id, path, size, part_size, progress, in_flight).send(missing)
            status, body = api.call("POST", f"/task/{task_id}/upload/complete/")
            if status != 201:
                raise UploadError(f"completion: {status} "
                                  f"{json.dumps(body.get('result', body))}")
        progress.line("uploaded; the image service verifies it (size, SHA-1)")
    except KeyboardInterrupt:
        progress.line(f"interrupted: the upload stays resumable. Run the same command again "
                      f"to resume it, or cancel it: imagectl task cancel {task_id}")
        raise
    status, result = wait_for_task(api, task_id, progress.line)
    progress.line(str(result.get("message") or {200: "done", 410: "canceled"}.get(status)))
    return 0 if status == 200 else 1


def manifest_of(path: Path, given: Path | None) -> dict[str, Any]:
    """The manifest: the file `given`, or one built from the file as `imagectl repo serve`
    builds it (a `.gz`, `.bz2` or `.xz` file compressed so; anything else `none`)."""
    if given is not None:
        try:
            value = json.loads(given.read_text())
        except (OSError, ValueError) as exc:
            raise UploadError(f"cannot read the manifest {given}: {exc}") from None
        if not isinstance(value, dict):
            raise UploadError(f"{given} must hold a JSON object (an IMGAPI manifest)")
        return value
    from devstack import image_repo
    try:
        return dict(image_repo.file_image(path).manifest)
    except image_repo.RepoError as exc:
        raise UploadError(str(exc)) from None
