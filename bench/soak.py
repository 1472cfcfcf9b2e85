"""Soak: concurrent clients race imports, updates, deletes and cancels on the local stack; then
the invariants DynamoDB's conditions and the task lifecycle promise are checked.

Set-up, all on 127.0.0.1 and in a temporary directory (a developer's `.devstack/` is never
touched): `python -m devstack` started as `make run` starts it (bench/localstack.py: image
server on, own port, own empty stack folder, a random admin key, the scheduled cleanup out of
the way), and an IMGAPI-style image repository in this process serving `/images/<uuid>`
(manifest, fresh uuid per import) and `/images/<uuid>/file` (64 KiB – 2 MiB, some served
slowly so that cancels meet running transfers).

`--clients` threads then, for `--seconds`, mix on six names and a few shared aliases/versions:
imports, async updates (desc + alias + version), sync `dc_bound` toggles, deletes, cancels of
their own tasks, and reads (list, image, task status). Every response is counted per operation
and status ("timeout" and "error" included: a slow machine is an outcome, not a crash).

After the clients stop it waits (bounded) until no task is pending, then reads the result both
through the API and straight from the emulator's tables and bucket, and prints one line per
invariant with its violation count, the details of the first violations, and last of all
`soak_violations: N`. The exit code is 0 whatever N is; 1 only when the stack did not start.

With `DEVSTACK_FAULTS=<rate>` in the environment (devstack/faults.py) the stack answers that
share of the app's, the agent's and the state machines' AWS requests with AWS's transient
errors; the final reading is exempt. The report then also gives `faults_injected: N`.

Usage: .venv/bin/python bench/soak.py [--clients 8] [--seconds 60] [--seed 1]
                                      [--stack-log FILE] [--dump FILE.json]
"""
from __future__ import annotations

import argparse
import bisect
import collections
import copy
import hashlib
import itertools
import json
import os
import random
import secrets
import signal
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from localstack import LOOPBACK, ROOT, StackError, start_stack, stop_stack

sys.path.insert(0, str(ROOT))
from devstack import faults  # noqa: E402
from tests.support import BASE_MANIFEST  # noqa: E402  (the manifest format the tests use)

KIB = 1024
NAMES = [f"soak-{i}" for i in range(6)]
ALIASES = ["soak-a", "soak-b", "soak-c", "soak-d", "soak-e"]
VERSIONS = ["1.0", "2.0"]
FILE_SIZES = [64 * KIB, 512 * KIB, 2048 * KIB]
SLOW_CHUNK, SLOW_PAUSE = 128 * KIB, 0.2       # a slow file: 128 KiB every 0.2 s
DC = "main"
INF = float("inf")

READ_TIMEOUT = (10.0, 30.0)                  # (connect, read) seconds
WRITE_TIMEOUT = (10.0, 60.0)                 # manifest fetch, transactions, StartExecution
QUIESCE_TIMEOUT = 120.0
ENDED = {200: "SUCCESS", 400: "FAILURE", 410: "REVOKED"}   # GET /task/<id>/status codes
OPERATIONS = {  # name: weight
    "import": 20, "update": 25, "dc_bound": 10, "delete": 4, "cancel": 7,
    "list": 8, "get": 14, "task": 10,
}
NOTHING_WRITTEN = (404, 406, 412, 417)       # answers of a change that wrote nothing
RC_IMAGE_DIR = 7                             # esimg: "Target image directory does not exist"


# ---------------------------------------------------------------------------------------------
# The image repository
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Published:
    manifest: bytes
    content: bytes
    slow: bool


class Repository(ThreadingHTTPServer):
    """Manifests at /images/<uuid>, files at /images/<uuid>/file (files[0] has the real sha1)."""

    daemon_threads = True

    def __init__(self, seed: int) -> None:
        super().__init__((LOOPBACK, 0), _RepositoryHandler)
        rng = random.Random(seed)
        self.files = [rng.randbytes(size) for size in FILE_SIZES]
        self.images: dict[str, Published] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def publish(self, rng: random.Random) -> tuple[str, str]:
        """A new image (fresh uuid); returns (uuid, manifest URL)."""
        content = rng.choice(self.files)
        manifest = copy.deepcopy(BASE_MANIFEST)
        manifest["uuid"] = str(uuidlib.uuid4())
        manifest["files"] = [{"sha1": hashlib.sha1(content).hexdigest(), "size": len(content),
                              "compression": "none"}]
        with self.lock:
            self.images[manifest["uuid"]] = Published(json.dumps(manifest).encode(), content,
                                                      slow=rng.random() < 0.3)
        return manifest["uuid"], f"{self.url}/images/{manifest['uuid']}"

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a canceled transfer's reset
            super().handle_error(request, client_address)


class _RepositoryHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Repository

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = self.path.strip("/").split("/")
        with self.server.lock:
            image = self.server.images.get(parts[1]) if len(parts) in (2, 3) else None
        if parts[0] != "images" or image is None or (len(parts) == 3 and parts[2] != "file"):
            self._reply(404, b"not found", "text/plain")
        elif len(parts) == 2:
            self._reply(200, image.manifest, "application/json")
        else:
            self._send_file(image)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self, image: Published) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(image.content)))
        self.end_headers()
        chunk = SLOW_CHUNK if image.slow else len(image.content)
        try:
            for start in range(0, len(image.content), chunk):
                self.wfile.write(image.content[start:start + chunk])
                if image.slow:
                    time.sleep(SLOW_PAUSE)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the transfer was canceled

    def log_message(self, *args: object) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# HTTP, and what the clients saw
# ---------------------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int | str          # the HTTP status, or "timeout" / "error"
    body: Any
    etag: str | None
    sent: float                # time.monotonic() before sending and after the answer
    acked: float

    @property
    def settled(self) -> float:
        """By when the server was done with it: never known for a lost answer."""
        return self.acked if isinstance(self.status, int) else INF


class Api:
    def __init__(self, api_url: str, key: str) -> None:
        self.base = api_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({"ES-API-KEY": key, "Content-Type": "application/json"})

    def call(self, method: str, path: str, body: Any = None, *,
             params: dict[str, str] | None = None,
             timeout: tuple[float, float] = READ_TIMEOUT) -> Reply:
        sent = time.monotonic()
        try:
            response = self.session.request(method, f"{self.base}{path}", params=params,
                                            data=None if body is None else json.dumps(body),
                                            timeout=timeout)
        except requests.Timeout:
            return Reply("timeout", None, None, sent, time.monotonic())
        except requests.RequestException:
            return Reply("error", None, None, sent, time.monotonic())
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        return Reply(response.status_code, payload, response.headers.get("ETag"), sent,
                     time.monotonic())

    def call_patiently(self, method: str, path: str, **kwargs: Any) -> Reply:
        """For the final reads: up to three tries while the answer is lost."""
        for _ in range(3):
            reply = self.call(method, path, **kwargs)
            if isinstance(reply.status, int):
                break
        return reply


@dataclass
class Write:
    op: str                    # import, update, dc_bound, delete
    name: str
    values: dict[str, Any]     # what was sent (plus the uuid of an import)
    reply: Reply

    @property
    def task_id(self) -> str | None:
        if self.reply.status == 201 and isinstance(self.reply.body, dict):
            return self.reply.body.get("task_id")
        return None

    @property
    def may_have_written(self) -> bool:
        """False only for answers that say no record changed: not found, exists, precondition,
        locked, and field errors (a 400 with a dict; a task that could not start is a 400
        with a text, and its records were written and rolled back)."""
        body = self.reply.body
        field_errors = self.reply.status == 400 and isinstance(body, dict) and \
            isinstance(body.get("result"), dict)
        return not (self.reply.status in NOTHING_WRITTEN or field_errors)


@dataclass
class View:
    """An image as a 200 answer showed it (GET image, synchronous PUT), with its ETag."""

    source: str                # the operation that got the answer
    name: str
    image: dict[str, Any]
    reply: Reply


class Journal:
    """Everything the clients did and saw; shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: collections.Counter = collections.Counter()
        self.writes: list[Write] = []
        self.views: list[View] = []
        self.ended: dict[str, float] = {}      # task id -> when a client first saw it ended

    def count(self, op: str, reply: Reply) -> None:
        with self.lock:
            self.counts[(op, reply.status)] += 1

    def add_write(self, write: Write) -> None:
        with self.lock:
            self.writes.append(write)

    def add_view(self, source: str, name: str, reply: Reply) -> None:
        if reply.status == 200 and isinstance(reply.body, dict) and \
                isinstance(reply.body.get("result"), dict):
            with self.lock:
                self.views.append(View(source, name, reply.body["result"], reply))

    def saw_task(self, task_id: str, reply: Reply) -> bool:
        """Record a task status answer; True when it shows the task ended."""
        if reply.status in ENDED or reply.status == 406:  # 406: cancel of a finished task
            with self.lock:
                self.ended.setdefault(task_id, reply.acked)
            return True
        return False


# ---------------------------------------------------------------------------------------------
# The clients
# ---------------------------------------------------------------------------------------------
class Client:
    """One client thread: a random mix of operations on the shared names until the deadline."""

    def __init__(self, index: int, api: Api, repo: Repository, journal: Journal,
                 seed: int) -> None:
        self.index, self.api, self.repo, self.journal = index, api, repo, journal
        self.rng = random.Random(seed * 1000 + index)
        self.sequence = 0
        self.open_tasks: list[str] = []
        self.actions: dict[str, Callable[[], None]] = {
            "import": self.import_image, "update": self.update_image,
            "dc_bound": self.toggle_dc_bound, "delete": self.delete_image,
            "cancel": self.cancel_task, "list": self.list_images, "get": self.get_image,
            "task": self.task_status,
        }

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            op = self.rng.choices(list(OPERATIONS), weights=list(OPERATIONS.values()))[0]
            self.actions[op]()
            time.sleep(self.rng.uniform(0, 0.05))

    def token(self) -> str:
        self.sequence += 1
        return f"c{self.index}-{self.sequence}"

    def write(self, op: str, method: str, name: str, values: dict[str, Any],
              body: dict[str, Any]) -> Reply:
        reply = self.api.call(method, f"/image/{name}/", body, timeout=WRITE_TIMEOUT)
        self.journal.count(op, reply)
        write = Write(op, name, values, reply)
        self.journal.add_write(write)
        if write.task_id:
            self.open_tasks.append(write.task_id)
        return reply

    def import_image(self) -> None:
        uuid, manifest_url = self.repo.publish(self.rng)
        values = {"desc": self.token(), "alias": self.rng.choice(ALIASES),
                  "version": self.rng.choice(VERSIONS)}
        self.write("import", "POST", self.rng.choice(NAMES), {**values, "uuid": uuid},
                   {"manifest_url": manifest_url, "dc": DC, **values})

    def update_image(self) -> None:
        """desc (unique), alias and version, always all three: the change goes async."""
        values = {"desc": self.token(), "alias": self.rng.choice(ALIASES),
                  "version": self.rng.choice(VERSIONS)}
        name = self.rng.choice(NAMES)
        reply = self.write("update", "PUT", name, values, values)
        self.journal.add_view("update", name, reply)

    def toggle_dc_bound(self) -> None:
        """A DB-only (synchronous) change that moves the DC's image count."""
        values = {"dc_bound": self.rng.random() < 0.5}
        name = self.rng.choice(NAMES)
        reply = self.write("dc_bound", "PUT", name, values, values)
        self.journal.add_view("dc_bound", name, reply)

    def delete_image(self) -> None:
        self.write("delete", "DELETE", self.rng.choice(NAMES), {}, {})

    def cancel_task(self) -> None:
        if not self.open_tasks:
            self.task_status()
            return
        task_id = self.rng.choice(self.open_tasks)
        reply = self.api.call("PUT", f"/task/{task_id}/cancel/", {}, timeout=WRITE_TIMEOUT)
        self.journal.count("cancel", reply)
        self.forget_if_ended(task_id, reply)

    def list_images(self) -> None:
        self.journal.count("list", self.api.call("GET", "/image/", params={"full": "true"}))

    def get_image(self) -> None:
        name = self.rng.choice(NAMES)
        reply = self.api.call("GET", f"/image/{name}/")
        self.journal.count("get", reply)
        self.journal.add_view("get", name, reply)

    def task_status(self) -> None:
        if not self.open_tasks:
            self.journal.count("task", self.api.call("GET", "/task/"))
            return
        task_id = self.rng.choice(self.open_tasks)
        reply = self.api.call("GET", f"/task/{task_id}/status/")
        self.journal.count("task", reply)
        self.forget_if_ended(task_id, reply)

    def forget_if_ended(self, task_id: str, reply: Reply) -> None:
        if self.journal.saw_task(task_id, reply):
            self.open_tasks.remove(task_id)


def run_clients(api_url: str, key: str, repo: Repository, journal: Journal, clients: int,
                seconds: float, seed: int) -> float:
    """Run the clients; returns the seconds they actually took."""
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    threads = [threading.Thread(target=Client(i, Api(api_url, key), repo, journal, seed).run,
                                args=(deadline,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:  # a client may be inside one last request (at most its timeout)
        thread.join(seconds + WRITE_TIMEOUT[0] + WRITE_TIMEOUT[1] + 30)
    return time.monotonic() - started


# ---------------------------------------------------------------------------------------------
# The final state, through the API and straight from the emulator
# ---------------------------------------------------------------------------------------------
@dataclass
class Final:
    images: dict[str, dict]            # name -> table item
    guards: dict[str, str]             # key -> image_name
    dcs: dict[str, dict]
    tasks: dict[str, dict]             # task id -> table item
    objects: dict[str, int]            # store key -> size
    manifests: dict[str, Any]          # store key of a manifest -> its JSON
    uploads: list[str]                 # keys of incomplete multipart uploads
    api_list: list[dict] | None        # GET /image/?full=true, None when it failed
    api_images: dict[str, Reply]       # GET /image/<name>/ of every image in the table
    api_tasks: dict[str, Reply]        # GET /task/<id>/status/ of every task a client started
    api_pending: Reply                 # GET /task/


class Emulator:
    """boto3 straight at the stack's emulator."""

    def __init__(self, state: dict[str, Any]) -> None:
        session = boto3.session.Session(aws_access_key_id="testing",
                                        aws_secret_access_key="testing",
                                        region_name="us-east-1")
        config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 5})
        url = state["emulator_url"]
        self.ddb = session.resource("dynamodb", endpoint_url=url, config=config)
        self.s3 = session.client("s3", endpoint_url=url, config=config)
        # inspecting, not taking part: never answered with an injected fault
        faults.exempt(self.ddb.meta.client)
        faults.exempt(self.s3)
        self.url = url
        self.prefix = state["table_prefix"]
        self.bucket = state["env"]["IMAGE_STORE_BUCKET"]

    def faults_injected(self) -> dict[str, Any]:
        """The stack's fault counters (DEVSTACK_FAULTS), or {} when it has none."""
        try:
            return requests.get(f"{self.url}{faults.COUNTERS_PATH}", timeout=10).json()
        except (requests.RequestException, ValueError):
            return {}

    def scan(self, suffix: str) -> list[dict]:
        table = self.ddb.Table(f"{self.prefix}-{suffix}")
        items, kwargs = [], {"ConsistentRead": True}
        while True:
            page = table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def unfinished_tasks(self) -> list[str]:
        """Task ids not done; the placeholder "?" when the emulator did not answer in time."""
        try:
            return [t["task_id"] for t in self.scan("tasks") if t.get("state") != "done"]
        except (BotoCoreError, ClientError):
            return ["?"]

    def objects(self) -> dict[str, int]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {obj["Key"]: obj["Size"] for page in pages for obj in page.get("Contents", [])}

    def manifest(self, key: str) -> Any:
        try:
            return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ValueError:
            return "<not JSON>"

    def uploads(self) -> list[str]:
        pages = self.s3.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
        return [u["Key"] for page in pages for u in page.get("Uploads", [])]


def quiesce(api: Api, emulator: Emulator) -> float:
    """Wait until no task is pending (API and table), at most QUIESCE_TIMEOUT; returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < QUIESCE_TIMEOUT:
        pending = api.call("GET", "/task/")
        if pending.status == 200 and isinstance(pending.body, dict) \
                and not pending.body.get("result") and not emulator.unfinished_tasks():
            break
        time.sleep(1)
    return time.monotonic() - started


def read_final(api: Api, emulator: Emulator, journal: Journal) -> Final:
    """Raises BotoCoreError/ClientError when the emulator does not answer (after retries)."""
    images = {item["name"]: item for item in emulator.scan("images")}
    objects = emulator.objects()
    listing = api.call_patiently("GET", "/image/", params={"full": "true"})
    started = {w.task_id for w in journal.writes if w.task_id}
    return Final(
        images=images,
        # the claims (the catalogue's migration keeps its done mark, `schema#…`, there too)
        guards={g["key"]: g["image_name"] for g in emulator.scan("guards")
                if not g["key"].startswith("schema#")},
        dcs={d["name"]: d for d in emulator.scan("dcs")},
        tasks={t["task_id"]: t for t in emulator.scan("tasks")},
        objects=objects,
        manifests={key: emulator.manifest(key) for key in objects if key.endswith("/manifest")},
        uploads=emulator.uploads(),
        api_list=listing.body["result"] if listing.status == 200 else None,
        api_images={name: api.call_patiently("GET", f"/image/{name}/") for name in images},
        api_tasks={task_id: api.call_patiently("GET", f"/task/{task_id}/status/")
                   for task_id in started},
        api_pending=api.call_patiently("GET", "/task/"),
    )


def render_item(item: dict) -> dict[str, Any]:
    """What the API should show for a table item (chalicelib.domain.image_view.render)."""
    created = datetime.strptime(item["created"], "%Y-%m-%dT%H:%M:%S.%f%z")
    return {
        "dc_bound": item.get("dc_bound") is not None, "name": item["name"],
        "uuid": item["uuid"], "alias": item["alias"], "version": item["version"],
        "owner": item["owner"], "access": int(item["access"]), "desc": item.get("desc") or "",
        "ostype": int(item["ostype"]), "size": int(item["size"]),
        "resize": bool(item["resize"]), "deploy": bool(item["deploy"]),
        "tags": list(item.get("tags") or []), "status": int(item["status"]),
        "created": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


# ---------------------------------------------------------------------------------------------
# Invariants: each returns (violations, note)
# ---------------------------------------------------------------------------------------------
Check = tuple[list[str], str]


def check_pending_images(final: Final, journal: Journal) -> Check:
    """No image at status 2 without a running task; no status-1 image still holding a lock."""
    problems = []
    for name, item in final.images.items():
        task = final.tasks.get(item.get("task_id") or "")
        if int(item["status"]) == 2 and (task is None or task.get("state") != "running"):
            problems.append(f"{name}: status 2, task {item.get('task_id')} "
                            f"{task and task.get('state')}")
        if int(item["status"]) == 1 and (item.get("task_id") or item.get("backup")):
            problems.append(f"{name}: status 1 but task_id={item.get('task_id')} "
                            f"backup={item.get('backup')}")
    return problems, f"{len(final.images)} images"


def check_tasks_done(final: Final, journal: Journal) -> Check:
    """Every task ended: in the table (state done, final status, no pending markers), through
    GET /task/<id>/status (not 201) and GET /task/ (empty)."""
    problems = [f"{tid}: state={t.get('state')} status={t.get('status')}"
                for tid, t in final.tasks.items()
                if t.get("state") != "done" or t.get("status") not in ENDED.values()
                or "pending" in t or "pending_user" in t]
    for task_id, reply in final.api_tasks.items():
        if reply.status not in ENDED:
            problems.append(f"{task_id}: GET status answered {reply.status}")
        elif ENDED[reply.status] != final.tasks.get(task_id, {}).get("status"):
            problems.append(f"{task_id}: API says {ENDED[reply.status]}, table says "
                            f"{final.tasks.get(task_id, {}).get('status')}")
    pending = final.api_pending
    if pending.status != 200 or not isinstance(pending.body, dict) or pending.body.get("result"):
        problems.append(f"GET /task/ answered {pending.status}: {pending.body}")
    return problems, f"{len(final.tasks)} tasks"


def check_store(final: Final, journal: Journal) -> Check:
    """No store object without an image record; no incomplete multipart upload (no task runs)."""
    uuids = {item["uuid"] for item in final.images.values()}
    problems = [f"object {key} has no image record" for key in final.objects
                if not (key.startswith("images/") and key.split("/")[1] in uuids)]
    problems += [f"incomplete multipart upload {key}" for key in final.uploads]
    return problems, f"{len(final.objects)} objects"


def check_guards(final: Final, journal: Journal) -> Check:
    """The guards are exactly uuid#<uuid> and alias#<alias lower>#<version> of every image."""
    expected: dict[str, str] = {}
    for name, item in final.images.items():
        expected[f"uuid#{item['uuid']}"] = name
        expected[f"alias#{item['alias'].lower()}#{item['version']}"] = name
    problems = [f"guard {key} -> {name}: no such image or it does not match"
                for key, name in final.guards.items() if expected.get(key) != name]
    problems += [f"image {name}: guard {key} missing"
                 for key, name in expected.items() if key not in final.guards]
    return problems, f"{len(final.guards)} guards"


def check_dc_counts(final: Final, journal: Journal) -> Check:
    """Every DC's image_count is the number of images bound to it."""
    problems = []
    for name, dc in final.dcs.items():
        bound = sum(1 for item in final.images.values() if item.get("dc_bound") == name)
        if int(dc.get("image_count", 0)) != bound:
            problems.append(f"DC {name}: image_count {dc.get('image_count')}, {bound} bound")
    return problems, f"{len(final.dcs)} DCs"


def check_api_list(final: Final, journal: Journal) -> Check:
    """GET /image/?full=true and GET /image/<name>/ show exactly the table's records."""
    if final.api_list is None:
        return ["GET /image/?full=true failed"], ""
    table = {name: render_item(item) for name, item in final.images.items()
             if int(item["access"]) != 9}
    listed = {image["name"]: image for image in final.api_list}
    problems = [f"{name}: listed {listed.get(name)} != table {table.get(name)}"
                for name in sorted(set(table) | set(listed)) if listed.get(name) != table.get(name)]
    for name, reply in final.api_images.items():
        shown = reply.body.get("result") if isinstance(reply.body, dict) else None
        if reply.status != 200 or shown != table.get(name):
            problems.append(f"{name}: GET answered {reply.status} {shown}")
    return problems, f"{len(listed)} listed"


def check_store_objects(final: Final, journal: Journal) -> Check:
    """An image at status 1 has its file (of the manifest's size) and its manifest, which is
    the record's active manifest. During the run too: nothing else touches the store, so an
    update that failed finding no manifest (esimg code 7) ran on an ok image without one."""
    lost = collections.Counter((t["image_name"], t["image_uuid"]) for t in final.tasks.values()
                               if t.get("operation") == "update" and
                               (_json(t.get("result")) or {}).get("returncode") == RC_IMAGE_DIR)
    problems = [f"{name} ({uuid}): {n} updates found no image in the store"
                for (name, uuid), n in lost.items()]
    for name, item in final.images.items():
        if int(item["status"]) != 1:
            continue
        file_key, manifest_key = f"images/{item['uuid']}/file", f"images/{item['uuid']}/manifest"
        active = _json(item.get("manifest_active"))
        size = ((active or {}).get("files") or [{}])[0].get("size")
        if file_key not in final.objects or final.objects[file_key] != size:
            problems.append(f"{name}: file {final.objects.get(file_key)} bytes, manifest {size}")
        if final.manifests.get(manifest_key) != active:
            problems.append(f"{name}: stored manifest {final.manifests.get(manifest_key)} "
                            f"!= active manifest {active}")
    return problems, ""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# --- every accepted change is visible or superseded ------------------------------------------
#
# What is verified, per image incarnation (a uuid: every import publishes a fresh one):
#
# 1. Outcomes. An accepted (201) import's task exists; if it ended SUCCESS the image is still
#    there or a SUCCESS delete of that uuid removed it; if it FAILED or was REVOKED the image is
#    gone. A SUCCESS delete leaves no image; a rejected import (4xx) leaves none; every image
#    left has a SUCCESS import.
# 2. The lock orders tasks, and the server's order is the real one. The status lock means the
#    tasks of one image never overlap: each was created (read the image at status 1) after the
#    previous one finished (server clock: `created` > previous `finished`). And wherever a
#    client saw task A ended before it sent the request that started task B, the server agrees
#    (A `finished` < B `created`). So `finished` is a sound completion order for (3).
# 3. The last change wins. desc, alias and version of an image change only through tasks
#    (import, async update), and every such request sends all three with a unique desc. The
#    image's values must equal exactly what the last SUCCESS import/update of its incarnation
#    (by `finished`) sent: not a rolled-back, failed, rejected or older change, nor a mix.
#    (An image still at status 2 is left to the first invariant: its task never ended.)
#    The same holds during the run, for every answer (GET, sync PUT) showing an image at
#    status 1: its desc names the request that wrote it, which must have ended SUCCESS (a
#    rejected, failed or revoked change is never visible once the lock is released), with its
#    alias and version (no mix), and no later SUCCESS change (by `finished`) of that image may
#    have been seen ended by a client before the answer was asked for (no stale value).
# 4. Synchronous changes (dc_bound toggles) stay visible until superseded. Every write bumps
#    the record's version, so a 200 answer (sync PUT or GET) carrying the final ETag must show
#    exactly the final record. And the final dc_bound must be a value shown by one of the
#    latest answers about that incarnation (those no other answer definitely followed:
#    `acked` < other's `sent`; the import's own answer counts as dc_bound true).
# 5. Read your writes. When an answer showed an image at status 1 (no task can end on it) and
#    the next GET of that name was sent after it, with no other change on the name that may
#    have written in between (none sent before the GET's answer and answered after the first
#    was sent), the GET shows the same image and the same ETag.
def check_changes(final: Final, journal: Journal) -> Check:
    by_uuid: dict[str, list[dict]] = collections.defaultdict(list)
    for task in final.tasks.values():
        by_uuid[task.get("image_uuid") or ""].append(task)
    writes = {w.task_id: w for w in journal.writes if w.task_id}
    problems = _check_outcomes(final, journal, by_uuid)
    problems += _check_task_order(by_uuid, writes, journal)
    last_problems, verified = _check_last_change(final, by_uuid, writes)
    shown_problems, shown = _check_shown_changes(final, journal, by_uuid)
    view_problems, views = _check_sync_views(final, journal)
    bound_problems, determinate = _check_dc_bound(final, journal)
    quiet_problems, quiet = _check_quiet_windows(journal)
    updates = sum(1 for t in final.tasks.values()
                  if t.get("operation") == "update" and t.get("status") == "SUCCESS")
    note = (f"{verified} images with last change verified, {updates} SUCCESS updates, "
            f"{shown} status-1 answers traced to their change, "
            f"{views} answers at a final ETag, {determinate} determinate dc_bound, "
            f"{quiet} quiet read-after pairs")
    return (problems + last_problems + shown_problems + view_problems + bound_problems
            + quiet_problems, note)


def _check_outcomes(final: Final, journal: Journal, by_uuid: dict[str, list[dict]]) -> list[str]:
    present = {item["uuid"]: name for name, item in final.images.items()}
    problems = []
    for write in journal.writes:
        uuid = write.values.get("uuid")
        rejected = isinstance(write.reply.status, int) and 400 <= write.reply.status < 500
        if write.op == "import" and rejected and (uuid in present or any(
                t.get("status") == "SUCCESS" for t in by_uuid.get(uuid, []))):
            # (a task may remain: one whose execution could not start ends FAILURE, 400)
            problems.append(f"rejected import {uuid} of {write.name} left an image or task")
        if write.task_id and write.task_id not in final.tasks:
            problems.append(f"accepted {write.op} of {write.name}: task {write.task_id} missing")
    for uuid, tasks in by_uuid.items():
        deleted = any(t["operation"] == "delete" and t.get("status") == "SUCCESS" for t in tasks)
        imported = [t for t in tasks if t["operation"] == "import"]
        status = imported[0].get("status") if imported else None
        if uuid in present and (deleted or status != "SUCCESS"):
            problems.append(f"{present[uuid]} ({uuid}) exists: import {status}, deleted={deleted}")
        if uuid not in present and status == "SUCCESS" and not deleted:
            problems.append(f"{uuid}: imported (SUCCESS), never deleted, but gone")
    for name, item in final.images.items():
        if not by_uuid.get(item["uuid"]):
            problems.append(f"{name} ({item['uuid']}) exists without any task")
    return problems


def _check_task_order(by_uuid: dict[str, list[dict]], writes: dict[str, Write],
                      journal: Journal) -> list[str]:
    problems = []
    for tasks in by_uuid.values():
        ordered = sorted(tasks, key=lambda t: t["created"])
        for before, after in itertools.pairwise(ordered):
            if not before.get("finished") or before["finished"] >= after["created"]:
                problems.append(f"tasks overlap on {after.get('image_name')}: {before['task_id']} "
                                f"({before.get('finished')}) and {after['task_id']} "
                                f"({after['created']})")
        for a in tasks:
            seen = journal.ended.get(a["task_id"])
            for b in tasks:
                write = writes.get(b["task_id"])
                if seen is not None and write and write.reply.sent > seen and \
                        not (a.get("finished") and a["finished"] < b["created"]):
                    problems.append(f"client saw {a['task_id']} end before starting "
                                    f"{b['task_id']}; the server orders them otherwise")
    return problems


def _check_last_change(final: Final, by_uuid: dict[str, list[dict]],
                       writes: dict[str, Write]) -> tuple[list[str], int]:
    problems, verified = [], 0
    for name, item in final.images.items():
        if int(item["status"]) != 1:
            continue
        changes = [t for t in by_uuid.get(item["uuid"], [])
                   if t["operation"] in ("import", "update") and t.get("status") == "SUCCESS"]
        if not changes or any(t["task_id"] not in writes for t in changes):
            continue  # an answer was lost (timeout): who sent what is not known
        last = max(changes, key=lambda t: t["finished"])
        expected = {k: writes[last["task_id"]].values[k] for k in ("desc", "alias", "version")}
        actual = {k: item[k] for k in expected}
        verified += 1
        if actual != expected:
            origin = next((w for w in writes.values() if w.values.get("desc") == item["desc"]),
                          None)
            source = origin and f"{origin.op} {origin.task_id} " \
                                f"({final.tasks.get(origin.task_id or '', {}).get('status')})"
            problems.append(f"{name}: shows {actual} (from {source}), last SUCCESS change "
                            f"{last['operation']} {last['task_id']} sent {expected}")
    return problems, verified


def _check_shown_changes(final: Final, journal: Journal, by_uuid: dict[str, list[dict]]
                         ) -> tuple[list[str], int]:
    writers = {w.values["desc"]: w for w in journal.writes if "desc" in w.values}
    problems, traced = [], 0
    for view in journal.views:
        image, writer = view.image, writers.get(view.image["desc"])
        if image["status"] != 1 or (writer and writer.reply.settled == INF):
            continue  # pending, or written by a request whose answer was lost
        if writer is None:
            problems.append(f"{view.name}: {view.source} showed desc {image['desc']!r}, "
                            "which no request sent")
            continue
        traced += 1
        task = final.tasks.get(writer.task_id or "", {})
        sent = {k: writer.values[k] for k in ("desc", "alias", "version")}
        shown = {k: image[k] for k in sent}
        if shown != sent:
            problems.append(f"{view.name}: {view.source} showed {shown}, a mix: {writer.op} "
                            f"{writer.task_id} sent {sent}")
        elif task.get("status") != "SUCCESS":
            problems.append(f"{view.name}: {view.source} showed the values of {writer.op} "
                            f"{writer.task_id} answered {writer.reply.status}, task "
                            f"{task.get('status')}")
        else:
            problems += [f"{view.name}: {view.source} showed {writer.op} {writer.task_id} after "
                         f"{later['operation']} {later['task_id']} was seen ended"
                         for later in by_uuid.get(image["uuid"], [])
                         if later["operation"] in ("import", "update")
                         and later.get("status") == "SUCCESS"
                         and later["finished"] > task["finished"]
                         and journal.ended.get(later["task_id"], INF) < view.reply.sent]
    return problems, traced


def _check_sync_views(final: Final, journal: Journal) -> tuple[list[str], int]:
    problems, compared = [], 0
    for name, reply in final.api_images.items():
        if reply.status != 200 or not reply.etag:
            continue
        for view in journal.views:
            if view.name == name and view.reply.etag == reply.etag:
                compared += 1
                if view.image != reply.body["result"]:
                    problems.append(f"{name}: {view.source} answered the final ETag "
                                    f"{view.reply.etag} with another image"
                                    f"{_diff(view.image, reply.body['result'])}")
    return problems, compared


def _check_dc_bound(final: Final, journal: Journal) -> tuple[list[str], int]:
    events: dict[str, list[tuple[float, float, bool]]] = collections.defaultdict(list)
    for view in journal.views:
        events[view.image["uuid"]].append((view.reply.sent, view.reply.acked,
                                           view.image["dc_bound"]))
    for write in journal.writes:
        if write.op == "import" and write.task_id:
            events[write.values["uuid"]].append((write.reply.sent, write.reply.acked, True))
    unsure = {w.name for w in journal.writes if w.op == "dc_bound" and w.reply.settled == INF}
    problems, determinate = [], 0
    for name, item in final.images.items():
        seen = [] if name in unsure else events.get(item["uuid"], [])
        latest = {bound for _, acked, bound in seen
                  if not any(acked < other_sent for other_sent, _, _ in seen)}
        determinate += len(latest) == 1
        if latest and (item.get("dc_bound") is not None) not in latest:
            problems.append(f"{name}: dc_bound {item.get('dc_bound')!r}, the latest answers "
                            f"showed {sorted(latest)}")
    return problems, determinate


def _check_quiet_windows(journal: Journal) -> tuple[list[str], int]:
    problems, compared = [], 0
    for name in NAMES:
        views = sorted((v for v in journal.views if v.name == name), key=lambda v: v.reply.sent)
        starts = [view.reply.sent for view in views]
        writes = [w.reply for w in journal.writes if w.name == name and w.may_have_written]
        for first in views:
            later = bisect.bisect_right(starts, first.reply.acked)
            if first.image["status"] != 1 or later == len(views):
                continue
            then = views[later]
            if any(w is not first.reply and w.sent < then.reply.acked and
                   w.settled > first.reply.sent for w in writes):
                continue
            compared += 1
            if (then.image, then.reply.etag) != (first.image, first.reply.etag):
                problems.append(f"{name}: {first.source} answered ETag {first.reply.etag}, the "
                                f"next {then.source} (no write in between) ETag "
                                f"{then.reply.etag}{_diff(first.image, then.image)}")
    return problems, compared


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    changed = [f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
               for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]
    return (", " + ", ".join(changed)) if changed else ", same fields"


INVARIANTS: dict[str, Callable[[Final, Journal], Check]] = {
    "no_pending_image_without_running_task": check_pending_images,
    "no_task_left_pending": check_tasks_done,
    "no_store_object_without_image": check_store,
    "guards_match_images": check_guards,
    "dc_image_count": check_dc_counts,
    "changes_visible_or_superseded": check_changes,
    "api_list_equals_table": check_api_list,
    "ok_images_have_store_objects": check_store_objects,
}


# ---------------------------------------------------------------------------------------------
def print_counts(journal: Journal, seconds: float) -> None:
    print(f"operations in {seconds:.1f} s (count, per second):")
    for (op, status), n in sorted(journal.counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        print(f"  {op:8} {status!s:8} {n:6d}  {n / seconds:7.2f}/s")
    total = sum(journal.counts.values())
    print(f"  {'all':17} {total:6d}  {total / seconds:7.2f}/s")


def check_all(final: Final, journal: Journal) -> int:
    total, details = 0, []
    lines = []
    for name, check in INVARIANTS.items():
        problems, note = check(final, journal)
        total += len(problems)
        details += [f"  {name}: {p}" for p in problems[:10]]
        lines.append(f"{name}: {len(problems)}" + (f"  ({note})" if note else ""))
    if details:
        print("violations (first 10 of each):")
        print("\n".join(details))
    print("\n".join(lines))
    return total


def dump(path: Path, journal: Journal, final: Final) -> None:
    """Everything the clients saw and the final state, as JSON, for investigating violations
    (client times are time.monotonic(); add `monotonic_to_wall` for the wall clock)."""
    path.write_text(json.dumps({
        "monotonic_to_wall": time.time() - time.monotonic(),
        "writes": [asdict(w) | {"task_id": w.task_id} for w in journal.writes],
        "views": [asdict(v) for v in journal.views],
        "ended": journal.ended, "final": asdict(final),
    }, default=str, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they run (60)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the clients' choices")
    parser.add_argument("--stack-log", type=Path, help="write the stack's output here")
    parser.add_argument("--dump", type=Path, help="write what was seen and read here (JSON)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the stack
    injected: dict[str, Any] = {}

    key = secrets.token_urlsafe(30)
    repo = Repository(args.seed)
    repo.start()
    with tempfile.TemporaryDirectory(prefix="imageapi-soak-") as workdir:
        try:
            stack = start_stack(Path(workdir), key, **{  # the stack's env is cleaned: pass on
                name: os.environ[name] for name in ("DEVSTACK_FAULTS", "DEVSTACK_FAULTS_SEED")
                if os.environ.get(name)})
        except StackError as exc:
            print(exc, file=sys.stderr)
            return 1
        try:
            journal = Journal()
            seconds = run_clients(stack.api_url, key, repo, journal, args.clients,
                                  args.seconds, args.seed)
            api, emulator = Api(stack.api_url, key), Emulator(stack.state)
            waited = quiesce(api, emulator)
            final: Final | None = read_final(api, emulator, journal)
            injected = emulator.faults_injected()
        except (BotoCoreError, ClientError) as exc:
            print(f"the final state could not be read from the emulator: {exc}")
            final = None
        finally:
            stop_stack(stack, args.stack_log)
            repo.shutdown()
    print(f"clients: {args.clients}, seed: {args.seed}, names: {len(NAMES)}, quiesced after "
          f"{waited:.1f} s, stack tracebacks: {stack.tracebacks}")
    print_counts(journal, seconds)
    if injected.get("by_fault"):
        print(f"faults injected (rate {injected['rate']}, "
              f"DEVSTACK_FAULTS_SEED={injected['seed']}):")
        for what, n in injected["by_fault"].items():
            print(f"  {what:60} {n:5d}")
    print(f"faults_injected: {injected.get('injected', 0)} of {injected.get('requests', 0)} "
          "requests")
    if final is None:
        print("final_state_read: 1")
        violations = 1
    else:
        violations = check_all(final, journal)
        if args.dump:
            dump(args.dump, journal, final)
    print(f"soak_violations: {violations}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
