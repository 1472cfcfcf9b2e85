"""One export by the agent's own code (nodeagent/export.py), against an API and a store that
misbehave: a local HTTP server plays both, the fake zfs (devstack/bin/zfs) writes the stream.
The whole flow against the real service is in tests/integration/test_workflow_snapshot.py."""
from __future__ import annotations

import gzip
import itertools
import json
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from devstack import fake_zfs
from devstack.node_agent import FAKE_ZFS
from nodeagent.api import ExportApi
from nodeagent.config import AgentConfig
from nodeagent.export import DONE, ENDED, FAILED, Export, ExportRequest
from nodeagent.parts import Bandwidth

MiB = 1 << 20
TASK = "8d0c1d54-2f6e-4b7a-9c3e-5b1f0a2d4e6f"


class Service:
    """The export routes and the store's part URLs, with faults: answers are taken from
    `faults[route]` (a list of statuses) before the route works normally."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.parts: dict[int, bytes] = {}
        self.calls: list[tuple[str, dict]] = []
        self.faults: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        self.held_parts: set[int] = set()      # stored only once progress with bytes came
        self.progressed = threading.Event()
        for route in ("parts", "progress", "complete", "failure"):
            server.expect_request(f"/api/exports/{TASK}/{route}", method="POST") \
                .respond_with_handler(self._api(route))
        server.expect_request("/store", method="PUT").respond_with_handler(self._store)

    def _fault(self, route: str) -> int | None:
        with self.lock:
            queue = self.faults.get(route) or []
            return queue.pop(0) if queue else None

    def _api(self, route: str):
        def handle(request: Request) -> Response:
            body = json.loads(request.data)
            assert request.headers["ES-EXPORT-TOKEN"] == "tok"
            with self.lock:
                self.calls.append((route, body))
            if route == "progress" and body.get("bytes"):
                self.progressed.set()
            status = self._fault(route)
            if status:
                return Response(json.dumps({"detail": "fault"}), status=status)
            answer: dict = {"detail": "OK"}
            if route == "parts":
                answer = {"urls": {str(p["number"]): self.server.url_for(
                    f"/store?part={p['number']}") for p in body["parts"]}, "expires_in": 900}
            return Response(json.dumps(answer), content_type="application/json")
        return handle

    def _store(self, request: Request) -> Response:
        status = self._fault("store")
        if status:
            return Response("SlowDown", status=status)
        if int(request.args["part"]) in self.held_parts and not self.progressed.wait(20):
            return Response("held part: no progress was reported", status=400)
        with self.lock:
            self.parts[int(request.args["part"])] = request.get_data()
        return Response("", headers={"ETag": '"x"'})

    def routes(self) -> list[str]:
        return [route for route, _ in self.calls]


@pytest.fixture
def service():
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield Service(server)
    server.clear()
    server.stop()


def export(service: Service, tmp_path, monkeypatch, *, heartbeat_seconds: float = 0.2,
           clock=time.monotonic, **shape) -> Export:
    (tmp_path / "es-1.json").write_text(json.dumps(shape))
    monkeypatch.setenv("FAKE_ZFS_DIR", str(tmp_path))
    config = AgentConfig(api_url=service.server.url_for("/api"), node="cn1", queue_url="-",
                         zfs=str(FAKE_ZFS), part_size_mib=5)
    request = ExportRequest(TASK, "cn1", "zones/vm-disk0", "es-1", "tok",
                            heartbeat_seconds=heartbeat_seconds)
    job = Export(request, config, ExportApi(config.api_url, "", 10), Bandwidth(0),
                 threading.Event(), clock=clock)
    job.retry_base_seconds = 0.01  # the retries, without their waits
    return job


def sent(size: int) -> bytes:
    stream = fake_zfs.blocks("zones/vm-disk0@es-1", True)
    return b"".join(next(stream) for _ in range(size // fake_zfs.BLOCK))


def test_hiccups_of_the_api_and_the_store_are_retried(service, tmp_path, monkeypatch):
    service.faults = {"parts": [503], "store": [500, 503], "progress": [502],
                      "complete": [503, 504]}
    job = export(service, tmp_path, monkeypatch, size=12 * MiB, random=True, rate=8 * MiB)
    assert job.run() == DONE
    assert sorted(service.parts) == [1, 2, 3]
    stream = b"".join(service.parts[n] for n in (1, 2, 3))
    assert gzip.decompress(stream) == sent(12 * MiB)
    assert [len(service.parts[n]) for n in (1, 2)] == [5 * MiB, 5 * MiB]
    complete = [body for route, body in service.calls if route == "complete"]
    assert complete[-1] == {"parts": 3, "bytes": len(stream)}
    assert "failure" not in service.routes()
    assert "progress" in service.routes()


def test_a_store_that_keeps_refusing_fails_the_export_with_its_reason(service, tmp_path,
                                                                      monkeypatch):
    service.faults = {"store": [403] * 10}
    job = export(service, tmp_path, monkeypatch, size=6 * MiB, random=True)
    assert job.run() == FAILED
    [failure] = [body for route, body in service.calls if route == "failure"]
    assert failure == {"reason": "the store did not take part 1 (HTTP 403)"}
    assert "complete" not in service.routes()


def test_the_task_ending_stops_the_export_and_zfs(service, tmp_path, monkeypatch):
    service.faults = {"progress": [410]}
    job = export(service, tmp_path, monkeypatch, size=64 * MiB, random=True, hang_at=6 * MiB)
    assert job.run() == ENDED
    assert job.process is not None and job.process.poll() is not None  # zfs is gone
    assert not {"complete", "failure"} & set(service.routes())


def test_zfs_exit_status_and_last_stderr_line_are_the_reason(service, tmp_path, monkeypatch):
    job = export(service, tmp_path, monkeypatch, size=8 * MiB, fail_at=1 * MiB, exit=2,
                 stderr="warning: slow\ncannot open 'zones/vm-disk0@es-1': dataset does not exist")
    assert job.run() == FAILED
    [failure] = [body for route, body in service.calls if route == "failure"]
    assert failure == {"reason": "zfs send exited with status 2: cannot open "
                                 "'zones/vm-disk0@es-1': dataset does not exist"}


def test_a_missing_zfs_is_reported(service, tmp_path, monkeypatch):
    job = export(service, tmp_path, monkeypatch, size=MiB)
    job.config = AgentConfig(**{**job.config.__dict__, "zfs": str(tmp_path / "no-zfs")})
    assert job.run() == FAILED
    [failure] = [body for route, body in service.calls if route == "failure"]
    assert failure == {"reason": f"cannot run {tmp_path / 'no-zfs'}: No such file or directory"}


def test_progress_is_reported_while_bytes_move_not_only_for_the_heartbeat(service, tmp_path,
                                                                           monkeypatch):
    """The workflow's heartbeat needs a report every 1000 s here, but a person watching wants
    one at least every 10 s while bytes move. The agent's clock (injected: 11 s pass at every
    look) says 10 s have passed; part 2 is stored only after a report of part 1's bytes came,
    so the export can finish only if progress is reported by time, not by heartbeat."""
    service.held_parts = {2}
    job = export(service, tmp_path, monkeypatch, heartbeat_seconds=1000,
                 clock=itertools.count(0, 11).__next__, size=12 * MiB, random=True)
    assert job.run() == DONE
    reports = [body["bytes"] for route, body in service.calls if route == "progress"]
    total = sum(len(part) for part in service.parts.values())
    # the first came before part 2 was stored, with what the other parts had brought
    assert reports and 0 < reports[0] <= total - len(service.parts[2])
    # and every report while bytes moved: never the same count twice (no heartbeat was due)
    assert reports == sorted(set(reports))
