"""Helpers for tests of uploads (SPEC §4.13): a manifest for some bytes, the upload opened,
its parts PUT to the presigned URLs the API hands out, as any client would."""
from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import requests

from tests.support import BASE_MANIFEST, file_sha1

MiB = 1 << 20
PART = 5 * MiB


def manifest_for(content: bytes, **files: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(BASE_MANIFEST)
    manifest["uuid"] = str(uuid.uuid4())
    manifest["files"] = [{"sha1": file_sha1(content), "size": len(content),
                          "compression": "none", **files}]
    return manifest


def open_upload(api, name: str, manifest: Any, **fields: Any) -> str:
    r = api.post(f"/image/{name}", {"manifest": manifest, "upload": True, "dc": "main",
                                    **fields})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "PENDING" and body["result"] is None
    return str(body["task_id"])


def part_urls(api, task_id: str, numbers: list[int]) -> dict[str, str]:
    r = api.post(f"/task/{task_id}/upload/", {"parts": numbers})
    assert r.status_code == 200, r.text
    return dict(r.json()["parts"])


def put_part(url: str, data: bytes) -> requests.Response:
    return requests.put(url, data=data, timeout=30)


def send_parts(api, task_id: str, content: bytes, numbers: list[int] | None = None) -> None:
    """PUT `content` in 5 MiB parts (only those `numbers`, when given)."""
    chunks = [content[i:i + PART] for i in range(0, len(content), PART)] or [b""]
    wanted = numbers or list(range(1, len(chunks) + 1))
    urls = part_urls(api, task_id, wanted)
    for number in wanted:
        r = put_part(urls[str(number)], chunks[number - 1])
        assert r.status_code == 200, r.text


def complete(api, task_id: str) -> requests.Response:
    return api.post(f"/task/{task_id}/upload/complete/")


def as_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2)
