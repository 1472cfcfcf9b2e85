"""Racing helpers for the concurrency tests.

- `race`: releases N callables at once with a barrier, each in its own thread; results in order.
- `Client`: the tests' API client on one kept-alive connection per racer (see its docstring).
- `StepHold`: holds a workflow step of a task until the test lets it go.
- The invariants every concurrency test checks afterwards, read through the tables (PynamoDB
  models) and through the API: guards match the records exactly, each DC's image_count equals
  its bound images and respects its limit, the API lists exactly the records.

Outcomes are asserted, never timings: `race` only bounds how long a racer may hang, so that a
deadlock fails the test instead of stopping the suite.
"""
from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests

from chalicelib.persistence.models import Datacenter, Guard, Image, Task, TaskLogEntry
from tests.support import Api

HANG_SECONDS = 60.0
# While racers run, the interpreter switches threads this often (default 5 ms): the app, the
# emulator and the racers share one process and one GIL, and short switches let requests
# interleave as finely as they would on parallel hardware.
SWITCH_INTERVAL = 1e-5


class RacerFailed(AssertionError):
    pass


def race(*calls: Callable[[], Any], timeout: float = HANG_SECONDS,
         prepare: Callable[[], Any] | None = None) -> list[Any]:
    """Run every call in its own thread, all released at the same instant by a barrier.

    `prepare()` runs in every racer's thread before the barrier (e.g. `Client.connect`).
    Returns the results in the order of `calls`; the first exception a racer raised is raised
    here (after every racer ended). A racer that does not arrive at the barrier, or does not
    finish within `timeout`, fails the race.
    """
    if len(calls) < 2:
        raise ValueError("a race needs at least two racers")
    barrier = threading.Barrier(len(calls), timeout=timeout)
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            if prepare is not None:
                prepare()
            barrier.wait()
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            errors[index] = exc

    threads = [threading.Thread(target=run, args=(i, call), daemon=True,
                                name=f"racer-{i}") for i, call in enumerate(calls)]
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
    finally:
        sys.setswitchinterval(previous)
    hung = [thread.name for thread in threads if thread.is_alive()]
    if hung:
        raise RacerFailed(f"racers still running after {timeout:.0f} s: {hung}")
    for error in errors:
        if error is not None:
            raise error
    return results


class Client(Api):
    """`tests.support.Api` over one kept-alive connection per racer: `connect()`, run in each
    racer's thread before the barrier (`race(..., prepare=client.connect)`), opens it, so the
    racers' requests leave together instead of after their connection handshakes."""

    def __init__(self, api: Api) -> None:
        super().__init__(api.base_url, api.key)
        self._lock = threading.Lock()
        self._sessions: dict[str, requests.Session] = {}

    def transport(self) -> requests.Session:
        """One session per racer: racer threads are named by their place in the race, so a
        connection outlives its thread and serves the same racer in the next round."""
        with self._lock:
            return self._sessions.setdefault(threading.current_thread().name,
                                             requests.Session())

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def connect(self) -> None:
        assert self.transport().get(self.base_url + "/ping/", timeout=30).status_code == 200


def codes(responses: list[Any]) -> Counter:
    return Counter(r.status_code for r in responses)


def texts(responses: list[Any]) -> list[str]:
    return [f"{r.status_code} {r.text[:300]}" for r in responses]


# --- invariants through the tables -------------------------------------------------------------

def images() -> dict[str, Image]:
    return {image.name: image for image in Image.scan(consistent_read=True)}


def expected_guards(records: dict[str, Image]) -> dict[str, str]:
    """Guard key -> image name as the image records say they must be: its uuid and its
    alias+version, and while an update that changes them is pending, the previous
    alias+version too (the update holds it until it can no longer roll back)."""
    wanted: dict[str, str] = {}
    for image in records.values():
        keys = {f"uuid#{image.uuid}", f"alias#{image.alias.lower()}#{image.version}"}
        backup = image.backup or {}
        if image.task_id and ("alias" in backup or "version" in backup):
            keys.add(f"alias#{backup.get('alias', image.alias).lower()}#"
                     f"{backup.get('version', image.version)}")
        for key in keys:
            assert key not in wanted, f"two images claim {key}: {wanted[key]}, {image.name}"
            wanted[key] = image.name
    return wanted


def assert_guards_match_records() -> dict[str, Image]:
    """Every guard belongs to an image that claims it, and every image has its guards: no
    guard left without its image, no image without its guards, no key claimed twice."""
    records = images()
    guards = {(guard.key, guard.image_name) for guard in Guard.scan(consistent_read=True)}
    wanted = set(expected_guards(records).items())
    assert guards == wanted, (f"guards without their image: {sorted(guards - wanted)}; "
                              f"missing guards: {sorted(wanted - guards)}")
    return records


def assert_dc_counts(records: dict[str, Image] | None = None) -> None:
    """Every DC's image_count equals the images bound to it, and never exceeds its limit."""
    records = images() if records is None else records
    bound = Counter(image.dc_bound for image in records.values() if image.dc_bound)
    for dc in Datacenter.scan(consistent_read=True):
        assert int(dc.image_count or 0) == bound.get(dc.name, 0), (
            f"DC {dc.name}: image_count {dc.image_count}, bound images {bound.get(dc.name, 0)}")
        if dc.image_limit is not None:
            assert int(dc.image_count or 0) <= int(dc.image_limit), dc.name


def assert_tables_consistent() -> dict[str, Image]:
    records = assert_guards_match_records()
    assert_dc_counts(records)
    return records


def final_log_entries(task_id: str) -> list[TaskLogEntry]:
    """The task-log entries that end `task_id`: its operation's entry with a final status
    (not the PENDING entry written at the start, nor an import's attach-to-DC entry)."""
    from chalicelib.domain.operations import rules
    msg = rules(Task.get(task_id, consistent_read=True).operation).log_text
    return [entry for entry in TaskLogEntry.scan(TaskLogEntry.task_id == task_id,
                                                 consistent_read=True)
            if entry.status != "PENDING" and entry.msg == msg]


def tasks_of(image_name: str) -> list[Task]:
    return list(Task.scan(Task.image_name == image_name, consistent_read=True))


# --- the same invariants through the API -------------------------------------------------------

def api_images(api: Any) -> dict[str, dict[str, Any]]:
    r = api.get("/image", params={"extended": "true"})
    assert r.status_code == 200, r.text
    return {item["name"]: item for item in r.json()["result"]}


def assert_api_matches_tables(api: Any, records: dict[str, Image] | None = None) -> None:
    """The API lists exactly the records (alias, version, uuid, status, DCs), and each DC's
    image_count equals the DC-bound images the API shows in it."""
    records = images() if records is None else records
    listed = api_images(api)
    visible = {name: image for name, image in records.items() if int(image.access) != 9}
    assert set(listed) == set(visible), (sorted(listed), sorted(visible))
    for name, image in visible.items():
        item = listed[name]
        assert (item["uuid"], item["alias"], item["version"], item["status"]) == (
            image.uuid, image.alias, image.version, int(image.status)), (item, name)
    shown = Counter(item["dcs"][0] for item in listed.values() if item["dc_bound"])
    for dc in Datacenter.scan(consistent_read=True):
        assert int(dc.image_count or 0) == shown.get(dc.name, 0), dc.name


# --- holding a workflow step -------------------------------------------------------------------

def _step_modules() -> dict[str, Any]:
    """Where each workflow step lives (the step Lambdas look it up there at call time)."""
    from chalicelib.services.image_server import exporting, importing, outcome, store_steps
    return {"import_file": importing, "write_manifest": store_steps,
            "delete_objects": store_steps, "request_export": exporting,
            "ingest_upload": exporting, "finish": outcome}


class StepHold:
    """Holds the named workflow steps (see `_step_modules`) of every task at their start
    until the test releases that task. A held step waits in the execution's own thread, so
    the task stays pending for as long as the test needs: a race's outcome then does not
    depend on how fast the winner's workflow runs. Every hold ends by itself after `timeout`
    so a failed test cannot block the workflows of later tests."""

    def __init__(self, monkeypatch: Any, *names: str, timeout: float = HANG_SECONDS,
                 passing: int = 0) -> None:
        modules = _step_modules()
        self._timeout = timeout
        self._passing = passing               # the first calls of each task that go on
        self._calls: dict[str, int] = {}
        self._lock = threading.Condition()
        self._gates: dict[str, threading.Event] = {}
        self._reached: set[str] = set()
        self._resumed: dict[str, threading.Event] = {}
        self._open = False
        for name in names:
            module = modules[name]
            monkeypatch.setattr(module, name, self._held(getattr(module, name)))

    def _gate(self, task_id: str) -> threading.Event:
        with self._lock:
            gate = self._gates.setdefault(task_id, threading.Event())
            if self._open:
                gate.set()
            return gate

    def _held(self, step: Callable[..., Any]) -> Callable[..., Any]:
        def held(event: dict[str, Any], **options: Any) -> Any:
            with self._lock:
                self._calls[event["task_id"]] = self._calls.get(event["task_id"], 0) + 1
                passes = self._calls[event["task_id"]] <= self._passing
            if not passes:
                gate = self._gate(event["task_id"])
                with self._lock:
                    self._reached.add(event["task_id"])
                    self._lock.notify_all()
                gate.wait(self._timeout)
                self._resumed_event(event["task_id"]).set()
            return step(event, **options)
        held.__name__ = step.__name__
        return held

    def _resumed_event(self, task_id: str) -> threading.Event:
        with self._lock:
            return self._resumed.setdefault(task_id, threading.Event())

    def release_on_call(self, monkeypatch: Any, owner: Any, name: str,
                        then: Callable[[str], Any] | None = None) -> None:
        """Wrap `owner.name(task_id, ...)`: its first call for a task whose step is held
        releases that step, and every call goes on only once the step has resumed (after
        `then(task_id)`, if given), so the step and the call run at the same time."""
        original = getattr(owner, name)

        def wrapper(task_id: str, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                held = task_id in self._reached
            if held:
                self.release(task_id)
                self._resumed_event(task_id).wait(self._timeout)
                if then is not None:
                    then(task_id)
            return original(task_id, *args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    def wait_reached(self, task_id: str) -> None:
        """Until the task's workflow stands at a held step (bounded: a hang fails the test)."""
        with self._lock:
            if not self._lock.wait_for(lambda: task_id in self._reached, self._timeout):
                raise RacerFailed(f"task {task_id} never reached the held step")

    def release(self, task_id: str) -> None:
        self._gate(task_id).set()

    def release_all(self) -> None:
        with self._lock:
            self._open = True
            for gate in self._gates.values():
                gate.set()
