"""Helpers for tests: an HTTP client speaking like Danube Cloud's clients, data set-up, a repo."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

import boto3
import requests

DEFAULT_HEADERS = {"Content-Type": "application/json; indent=4", "ES-STREAM": "es"}
QUEUE_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed")


class Api:
    """requests, with the ES-API-KEY header, trailing slashes and JSON bodies like `es` sends."""

    def __init__(self, base_url: str, key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key

    def request(self, method: str, path: str, *, params: dict | None = None,
                json_body: Any = None, data: bytes | str | None = None,
                headers: dict | None = None, slash: bool = True,
                allow_redirects: bool = False) -> requests.Response:
        url = self.base_url + path
        if slash and not url.endswith("/"):
            url += "/"
        hdrs = dict(DEFAULT_HEADERS)
        if self.key:
            hdrs["ES-API-KEY"] = self.key
        hdrs.update(headers or {})
        if json_body is not None:
            data = json.dumps(json_body)
        return self.transport().request(method, url, params=params, data=data, headers=hdrs,
                                        timeout=30, allow_redirects=allow_redirects)

    def transport(self) -> Any:
        """What sends a request: `requests` itself (a new connection each time)."""
        return requests

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, json_body=body if body is not None else {}, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, json_body=body if body is not None else {}, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, json_body=body if body is not None else {}, **kw)


class LocalStackHandle:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.api_url = stack.api_url
        self.admin_key = stack.admin_key
        self.emulator_url = stack.emulator.url

    def use_image_server(self, on: bool) -> None:
        """Switch the running app between DB-only and image-server mode (settings are read
        per call, so this takes effect at once)."""
        import os

        from chalicelib import config
        os.environ["IMAGE_STORE_BUCKET"] = self.bucket if on else ""
        config.reload()

    @property
    def bucket(self) -> str:
        return self.stack.bucket

    def empty_store(self) -> None:
        s3 = boto3.client("s3")
        for upload in s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                      UploadId=upload["UploadId"])
        for obj in s3.list_objects_v2(Bucket=self.bucket).get("Contents", []):
            s3.delete_object(Bucket=self.bucket, Key=obj["Key"])

    def store_keys(self) -> list[str]:
        return sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(
            Bucket=self.bucket).get("Contents", []))

    def open_uploads(self) -> list[str]:
        return [u["Key"] for u in boto3.client("s3").list_multipart_uploads(
            Bucket=self.bucket).get("Uploads", [])]

    def api(self, key: str | None) -> Api:
        return Api(self.api_url, key)

    def user(self, name: str, *, roles: dict[str, list[str]] | None = None,
             super_admin: bool = False) -> Api:
        from chalicelib.services.identity import accounts
        return self.api(accounts.create_user(name, super_admin=super_admin, roles=roles or {}))

    def dc(self, name: str, image_limit: int | None = None) -> None:
        from chalicelib.services.identity import accounts
        accounts.create_dc(name, image_limit)

    def events_delivered(self, handler: str, timeout: float = 15.0) -> None:
        """Wait until every event routed to the app's event handler `handler` (its `name`,
        e.g. "on_platform_event") so far has been handled.

        The local event bus gives each handler one SQS queue; EventBridge puts a matching
        event on it within PutEvents, and the pump deletes a message only after the handler
        returned (a failing one stays until its last retry). So once the queue holds no
        message, visible, in flight or delayed, every event put before this call was handled
        or never matched the handler's rule. This does not rely on SQS keeping any order. The
        queue must be seen empty twice in a row: the emulator counts visible and in-flight
        messages one after the other, and a message whose visibility lapsed in between would
        be counted in neither."""
        sqs = boto3.client("sqs")
        try:
            queue = self.stack.bus.queues[handler]
        except KeyError:
            raise AssertionError(f"no event handler {handler!r}; the stack routes events to "
                                 f"{sorted(self.stack.bus.queues)}") from None

        def counts() -> dict[str, int]:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue, AttributeNames=QUEUE_COUNTS)["Attributes"]
            return {name: int(attributes[name]) for name in QUEUE_COUNTS}

        def twice() -> dict[str, int]:
            first, second = counts(), counts()
            return {name: max(first[name], second[name]) for name in QUEUE_COUNTS}

        wait_for(twice, timeout, until=lambda seen: not any(seen.values()),
                 message=lambda seen: f"events for {handler} still queued: {seen}")

    def put_event(self, detail_type: str, detail: dict[str, Any],
                  source: str = "danube.platform", bus: str | None = None) -> None:
        """Through the emulator's EventBridge, as the platform would publish it: on the
        platform's bus unless `bus` names another (e.g. "default", as a forger would)."""
        from chalicelib.domain import names
        bus = bus or names.platform_event_bus_name(os.environ["IMAGE_API_TABLE_PREFIX"])
        result = boto3.client("events").put_events(Entries=[{
            "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail),
            "EventBusName": bus}])
        assert result["FailedEntryCount"] == 0, result


def image_admin_roles(*dcs: str, importer: bool = True) -> dict[str, list[str]]:
    roles = ["admin", "image_admin"] + (["image_import_admin"] if importer else [])
    return dict.fromkeys(dcs, roles)


def reset_data(stack: LocalStackHandle) -> None:
    """Empty every table, then recreate DC `main` and the SuperAdmin."""
    from chalicelib.persistence.models import ALL_MODELS
    from chalicelib.services.identity import accounts
    from chalicelib.services.identity import authentication as auth
    for model in ALL_MODELS:
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)
    accounts.ensure_dc("main")
    accounts.ensure_admin("admin", stack.admin_key)
    auth.forget_cache()


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1, *,
             until: Callable[[Any], Any] = bool,
             message: str | Callable[[Any], str] | None = None) -> Any:
    """Poll `check()` until `until(value)` holds (by default: the value is truthy); returns
    that value. The one polling loop of the tests: everything asynchronous (event delivery,
    task ends, executions, a subprocess's output) is awaited through it.

    An exception from `check` ends the wait at once (an unexpected answer fails the test
    there). On timeout the AssertionError says what was awaited: `message`, or
    `message(last_value)` when it is callable, or else the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if until(last):
            return last
        if time.monotonic() > deadline:
            if callable(message):
                text = message(last)
            else:
                text = message or "condition not reached"
                text += f" (last value seen: {_shown(last)})"
            raise AssertionError(f"{text} [waited {timeout:g} s]")
        time.sleep(interval)


def _shown(value: Any) -> str:
    """A readable last value: an HTTP response shows its status and the start of its body."""
    if isinstance(value, requests.Response):
        return f"HTTP {value.status_code} {value.text[:300]!r}"
    text = repr(value)
    return text if len(text) <= 500 else text[:500] + "..."


def file_sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


BASE_MANIFEST = {
    "v": 2,
    "uuid": "",
    "owner": "00000000-0000-0000-0000-000000000000",
    "name": "centos-7",
    "version": "1.2.3",
    "state": "active",
    "disabled": False,
    "public": True,
    "published_at": "2024-01-01T00:00:00Z",
    "type": "zvol",
    "os": "linux",
    "description": "CentOS 7 server image",
    "image_size": 10240,
    "homepage": "https://example.invalid/centos",
    "requirements": {"min_platform": {"7.0": "20200101T000000Z"}},
    "tags": {"erigones": ["linux", "centos"], "resize": True, "deploy": False},
    "files": [{"sha1": "", "size": 0, "compression": "none"}],
}


class Repository:
    """An image repository served by pytest-httpserver on 127.0.0.1."""

    def __init__(self, httpserver: Any) -> None:
        self.server = httpserver

    def manifest(self, content: bytes = b"image-bytes", **overrides: Any) -> dict[str, Any]:
        manifest = copy.deepcopy(BASE_MANIFEST)
        manifest["uuid"] = str(uuidlib.uuid4())
        manifest["files"] = [{"sha1": file_sha1(content), "size": len(content),
                              "compression": "none"}]
        manifest.update(overrides)
        return manifest

    def publish(self, manifest: Any, path: str | None = None, *,
                content: bytes | None = None, status: int = 200) -> str:
        """Serve `manifest` (a dict, or raw bytes) at `path`; returns the manifest URL."""
        path = path or f"/images/{uuidlib.uuid4()}"
        body = manifest if isinstance(manifest, (bytes, str)) else json.dumps(manifest)
        self.server.expect_request(path).respond_with_data(
            body, status=status, content_type="application/json")
        if content is not None:
            self.server.expect_request(path + "/file").respond_with_data(content)
        return self.server.url_for(path)
