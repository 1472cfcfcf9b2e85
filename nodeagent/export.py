"""One snapshot export: `zfs send <fs>@<snap>` through gzip into the store, part by part.

The stream is never written to disk and never hashed here (the service computes the SHA-1 and
size when it moves the upload into place). Memory is bounded: the part being filled plus
`upload_workers` parts in flight. Every part goes to its own presigned URL, asked for just
before it is sent; a part that fails is sent again (a new URL each time). Progress reports
carry the bytes sent (at least every 10 s while bytes move, and as often as the workflow's
heartbeat needs: progress.py); the API's answer that the task ended stops the export.
"""
from __future__ import annotations

import io
import logging
import subprocess
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import requests

from nodeagent import logs
from nodeagent.api import ApiError, ExportApi, TaskEnded
from nodeagent.config import AgentConfig
from nodeagent.parts import Bandwidth, Throttled, part_size
from nodeagent.progress import ReportSchedule

READ_SIZE = 1 << 20
PART_ATTEMPTS = 5
URL_BATCH = 8  # presigned part URLs asked for at once
DONE, FAILED, ENDED = "done", "failed", "ended"


class ExportFailed(Exception):
    """Why the export failed, in words for the task's message."""


class Stopped(Exception):
    """The agent is stopping (SIGTERM)."""


@dataclass(frozen=True)
class ExportRequest:
    task_id: str
    node: str
    filesystem: str
    snapshot: str
    token: str
    heartbeat_seconds: float

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ExportRequest:
        missing = [key for key in ("task_id", "node", "zfs_filesystem", "snapshot",
                                   "export_token") if not isinstance(body.get(key), str)]
        if body.get("type") != "snapshot-export" or missing:
            raise ValueError(f"not a snapshot-export request (missing {', '.join(missing)})")
        return cls(body["task_id"], body["node"], body["zfs_filesystem"], body["snapshot"],
                   body["export_token"], float(body.get("heartbeat_seconds") or 60))


class Export:
    retry_base_seconds = 1.0  # a failed part waits 1, 2, 4, 8 s before its next attempt
    def __init__(self, request: ExportRequest, config: AgentConfig, api: ExportApi,
                 bandwidth: Bandwidth, stopping: threading.Event,
                 on_heartbeat: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.request = request
        self.clock = clock  # when progress is due (tests pass a clock of their own)
        self.config = config
        self.api = api
        self.bandwidth = bandwidth
        self.stopping = stopping
        self.on_heartbeat = on_heartbeat
        self.ended = threading.Event()      # the API said the task is over
        self.finished = threading.Event()   # this export is over (stops the heartbeat)
        self.sent = 0
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_tail: deque[str] = deque(maxlen=3)
        self.urls: dict[int, str] = {}      # presigned URLs of the next parts
        self.http = requests.Session()

    # --- the export, start to end ------------------------------------------------------------

    def run(self) -> str:
        """DONE, FAILED (reported to the API with its reason) or ENDED (the task was over)."""
        task = self.request.task_id
        logs.event("export.started", task_id=task, snapshot=self._source())
        heartbeat = threading.Thread(target=self._heartbeat, name=f"heartbeat-{task}",
                                     daemon=True)
        heartbeat.start()
        started = time.monotonic()
        try:
            size, parts = self._stream()
            self.api.complete(task, self.request.token, parts, size)
        except TaskEnded:
            logs.event("export.ended", task_id=task, detail="the task is over; export stopped")
            return ENDED
        except Stopped:
            return self._failed("the node agent was stopped (SIGTERM) during the export")
        except ExportFailed as exc:
            return self._failed(str(exc))
        except Exception as exc:  # noqa: BLE001 (any error ends this export, reported)
            return self._failed(f"node agent error: {type(exc).__name__}: {exc}")
        finally:
            self._kill()
            self.finished.set()
            heartbeat.join(timeout=5)
            self.http.close()
        seconds = time.monotonic() - started
        logs.event("export.done", task_id=task, bytes=size, parts=parts,
                   seconds=round(seconds, 3), mib_per_s=round(size / (1 << 20) / seconds, 2)
                   if seconds else None)
        return DONE

    def _stream(self) -> tuple[int, int]:
        """Read zfs's output, compress it, upload it in parts; (bytes, parts) when complete."""
        try:
            self.process = subprocess.Popen(
                [self.config.zfs, "send", self._source()], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise ExportFailed(f"cannot run {self.config.zfs}: {exc.strerror}") from None
        assert self.process.stdout is not None and self.process.stderr is not None
        reader = threading.Thread(target=self._read_stderr, args=(self.process.stderr,),
                                  daemon=True)
        reader.start()
        output = cast(io.BufferedReader, self.process.stdout)  # read1: what the pipe holds
        compressor = zlib.compressobj(self.config.gzip_level, zlib.DEFLATED, 31)  # gzip
        uploads = _Uploads(self.config.upload_workers, self._send_part, self._check_going)
        first = self.config.part_size
        number, size, buffer = 1, 0, bytearray()
        try:
            while chunk := output.read1(READ_SIZE):
                self._check_going()
                buffer += compressor.compress(chunk)
                while len(buffer) >= part_size(number, first):
                    cut = part_size(number, first)
                    uploads.put(number, buffer[:cut])
                    del buffer[:cut]
                    size, number = size + cut, number + 1
            self._check_going()
            returncode = self.process.wait()
            reader.join(timeout=5)
            self._check_going()
            if returncode != 0:
                last = self.stderr_tail[-1] if self.stderr_tail else "no message"
                raise ExportFailed(f"zfs send exited with status {returncode}: {last}")
            buffer += compressor.flush()
            while buffer:  # the rest: one last part (or more, if the flush filled one)
                cut = min(len(buffer), part_size(number, first))
                uploads.put(number, buffer[:cut])
                del buffer[:cut]
                size, number = size + cut, number + 1
            uploads.wait()
        finally:
            uploads.close()
        return size, number - 1

    # --- parts -------------------------------------------------------------------------------

    def _send_part(self, number: int, data: bytes | bytearray) -> None:
        task = self.request.task_id
        problem = "no attempt"
        for attempt in range(PART_ATTEMPTS):
            self._check_going()
            if attempt:
                time.sleep(min(self.retry_base_seconds * 2 ** (attempt - 1), 30))
            url = self._part_url(number, len(data), fresh=attempt > 0)
            body: Any = Throttled(data, self.bandwidth) if self.bandwidth.rate else data
            try:
                response = self.http.put(url, data=body, timeout=(10, 300),
                                         headers={"Content-Length": str(len(data))})
            except requests.RequestException as exc:
                problem = type(exc).__name__
                continue
            if response.status_code == 200:
                with self.lock:
                    self.sent += len(data)
                logs.event("export.part", logging.DEBUG, task_id=task, part=number,
                           bytes=len(data))
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in (403, 408, 429):
                break  # not something a new URL or a wait would change
        raise ExportFailed(f"the store did not take part {number} ({problem})")

    def _part_url(self, number: int, size: int, fresh: bool) -> str:
        """A presigned URL for the part; asked for with the next few parts' (they are short-lived
        but outlive a few parts), so the API is called once per URL_BATCH parts. A retry asks
        anew: the URL it had may be what failed (expired)."""
        with self.lock:
            cached = None if fresh else self.urls.pop(number, None)
        if cached:
            return cached
        first = self.config.part_size
        wanted = {number: size, **{n: part_size(n, first)
                                   for n in range(number + 1, number + URL_BATCH)}}
        urls = self.api.part_urls(self.request.task_id, self.request.token, wanted)
        with self.lock:
            for other, url in urls.items():
                if other != number:
                    self.urls.setdefault(other, url)
        return urls[number]

    def _check_going(self) -> None:
        if self.ended.is_set():
            raise TaskEnded(410, "Task ended")
        if self.stopping.is_set():
            raise Stopped()

    # --- around the stream -------------------------------------------------------------------

    def _heartbeat(self) -> None:
        """Report the bytes sent when `ReportSchedule` says so; stop when the task is over.
        When the agent stops, end `zfs send` at once: a hung zfs must not hold the stop up."""
        schedule = ReportSchedule(self.request.heartbeat_seconds, self.clock())
        while not self.finished.wait(schedule.tick_seconds()):
            if self.stopping.is_set():
                self._kill()
            now, sent = self.clock(), self.sent
            if not schedule.due(now, sent):
                continue
            schedule.reported(now, sent)
            try:
                self.api.progress(self.request.task_id, self.request.token, sent)
                self.on_heartbeat()
            except TaskEnded:
                self.ended.set()
                self._kill()  # unblocks the read of zfs's output
                return
            except (ApiError, requests.RequestException) as exc:
                logs.event("export.heartbeat_failed", logging.WARNING,
                           task_id=self.request.task_id, error=str(exc))
            except Exception as exc:  # noqa: BLE001 (the queue's hold failed: try again later)
                logs.event("export.hold_failed", logging.WARNING,
                           task_id=self.request.task_id, error=str(exc))

    def _read_stderr(self, stream: Any) -> None:
        for line in stream:
            text = line.decode(errors="replace").strip()
            if text:
                self.stderr_tail.append(text[:500])

    def _failed(self, reason: str) -> str:
        logs.event("export.failed", logging.WARNING, task_id=self.request.task_id,
                   reason=reason)
        try:
            self.api.fail(self.request.task_id, self.request.token, reason)
        except TaskEnded:
            pass
        except Exception as exc:  # noqa: BLE001 (the task's timeouts end it anyway)
            logs.event("export.report_failed", logging.WARNING,
                       task_id=self.request.task_id, error=str(exc))
        return FAILED

    def _kill(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            try:
                process.wait(timeout=10)  # reaped: no zombie, and its pipes end
            except subprocess.TimeoutExpired:
                pass

    def _source(self) -> str:
        return f"{self.request.filesystem}@{self.request.snapshot}"


class _Uploads:
    """At most `workers` parts in flight; `put` waits for a free slot (checking that the export
    still goes on), and raises the first part's failure as soon as it is known."""

    def __init__(self, workers: int, send: Callable[[int, bytearray], None],
                 check_going: Callable[[], None]) -> None:
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="part")
        self.slots = threading.Semaphore(workers)
        self.send = send
        self.check_going = check_going
        self.futures: list[Future[None]] = []

    def put(self, number: int, data: bytearray) -> None:
        while not self.slots.acquire(timeout=0.5):
            self._raise_failures()
            self.check_going()
        self._raise_failures()
        self.futures.append(self.pool.submit(self._send, number, data))

    def wait(self) -> None:
        for future in self.futures:
            future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _send(self, number: int, data: bytearray) -> None:
        try:
            self.send(number, data)
        finally:
            self.slots.release()

    def _raise_failures(self) -> None:
        for future in [f for f in self.futures if f.done()]:
            future.result()
            self.futures.remove(future)
