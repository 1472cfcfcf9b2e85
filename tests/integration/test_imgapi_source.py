"""Compute nodes pull images with SmartOS's own imgadm (issue 16, SPEC §4.10).

Driven with Joyent's IMGAPI client (sdc-clients 13.0.6, what imgadm's IMGAPI source uses) and
manifests checked with imgmanifest 3.2.1's `validateDcManifest`, against the local stack's
IMGAPI base (`/imgapi`): the JSON paths through the API, the file paths through the local
edge (devstack/imgapi_edge.py), streamed from the emulator's store.
"""
from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
import requests

from chalicelib.persistence.models import Image
from tests.imgapi_client.runner import run
from tests.integration.workflow_support import wait_task

TOKEN = "node-secret-for-imgadm"
CONTENT = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and 4 bytes


def source_url(stack, token: str | None = TOKEN) -> str:
    """What an operator gives `imgadm sources -a`: the token as Basic userinfo."""
    parts = urlsplit(stack.stack.imgapi_url)
    netloc = f"node:{token}@{parts.netloc}" if token is not None else parts.netloc
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def node(server, settings_override):
    settings_override(NODE_TOKEN=TOKEN)
    return server


def _import(admin, files, name: str, content: bytes = CONTENT, **manifest_changes) -> Image:
    manifest = files.manifest(content, **manifest_changes)
    for key in [k for k, v in manifest_changes.items() if v is None]:
        del manifest[key]
    url = files.publish(manifest, content=content)
    r = admin.post(f"/image/{name}", {"manifest_url": url, "dc": "main"})
    assert r.status_code == 201, r.text
    assert wait_task(admin, r.json()["task_id"]).status_code == 200
    return Image.get(name)


@pytest.fixture
def images(node, admin, files):
    """Three images; `beta` has no `published_at` of its source (the service dates it)."""
    return [_import(admin, files, name, CONTENT + name.encode(),
                    **({"published_at": None} if name == "beta" else {}))
            for name in ("alpha-one", "alpha-two", "beta")]


def test_ping_is_accepted_as_imgadm_accepts_it(node):
    answer = run(source_url(node), "ping")
    assert answer["accepted"], answer
    assert answer["pong"]["ping"] == "pong" and answer["pong"]["imgapi"] is True
    # Danube Cloud's own ping keeps its answer
    assert requests.get(f"{node.api_url}/ping", timeout=10).json()["result"] == "pong"


def test_list_get_and_every_file_with_its_sha1(node, images):
    listed = run(source_url(node), "list")
    assert sorted(m["uuid"] for m in listed["images"]) == sorted(i.uuid for i in images)
    assert listed["invalid"] == {}  # validateDcManifest passes for every image
    for image in images:
        got = run(source_url(node), "get", image.uuid)
        assert got["invalid"] is None, got
        manifest = got["manifest"]
        assert manifest["activated"] is True
        downloaded = run(source_url(node), "file", image.uuid)
        assert downloaded["statusCode"] == 200
        assert downloaded["sha1"] == manifest["files"][0]["sha1"]
        assert downloaded["size"] == manifest["files"][0]["size"]
        headers = downloaded["headers"]
        assert headers["content-type"] == "application/octet-stream"
        assert int(headers["content-length"]) == manifest["files"][0]["size"]
        if "content-md5" in headers:  # known for a single-part object only
            assert headers["content-md5"] == downloaded["md5"]


def test_filters_and_marker_limit_paging(node, images):
    url = source_url(node)
    names = lambda answer: [m["name"] for m in answer["images"]]  # noqa: E731
    assert names(run(url, "list", json.dumps({"name": "beta"}))) == ["beta"]
    assert sorted(names(run(url, "list", json.dumps({"name": "~alpha"})))) == [
        "alpha-one", "alpha-two"]
    assert names(run(url, "list", json.dumps({"os": "!linux"}))) == []
    everything = run(url, "list", json.dumps({"limit": 1000}))["images"]
    first = run(url, "list", json.dumps({"limit": 1}))["images"]
    assert [m["uuid"] for m in first] == [everything[0]["uuid"]]
    # IMGAPI's marker is inclusive: the client drops a first item equal to its marker
    page = run(url, "list", json.dumps({"limit": 2, "marker": everything[1]["uuid"]}))
    assert [m["uuid"] for m in page["images"]] == [m["uuid"] for m in everything[1:3]]


def test_a_range_is_honoured(node, images):
    image = images[0]
    content = CONTENT + b"alpha-one"
    answer = run(source_url(node), "file", image.uuid, "bytes=1000-1999")
    assert answer["statusCode"] == 206
    assert answer["headers"]["content-range"] == f"bytes 1000-1999/{len(content)}"
    assert answer["sha1"] == hashlib.sha1(content[1000:2000]).hexdigest()


@pytest.mark.parametrize("token", ["wrong-token", None], ids=["wrong", "missing"])
def test_a_wrong_or_missing_token_is_refused(node, images, token):
    url = source_url(node, token)
    ping = run(url, "ping")
    assert not ping["accepted"] and ping["statusCode"] == 401
    for answer in (run(url, "list"), run(url, "get", images[0].uuid),
                   run(url, "file", images[0].uuid)):
        assert answer["error"]["statusCode"] == 401, answer


def test_the_token_in_the_headers_that_worked_before(node, images):
    base = node.stack.imgapi_url
    for headers in ({"ES-NODE-TOKEN": TOKEN}, {"Authorization": f"Token {TOKEN}"}):
        assert requests.get(f"{base}/images", headers=headers, timeout=10).status_code == 200
        r = requests.get(f"{base}/images/{images[0].uuid}/file", headers=headers, timeout=10)
        assert r.status_code == 200 and r.content == CONTENT + b"alpha-one"


def test_bad_paging_and_unknown_images_are_clear_4xx(node, images):
    base, auth = node.stack.imgapi_url, ("node", TOKEN)
    for params in ({"limit": "abc"}, {"limit": "0"}, {"limit": "1001"}, {"marker": "bogus"},
                   {"marker": "0b0b0b0b-0000-4000-8000-000000000000"}):
        r = requests.get(f"{base}/images", params=params, auth=auth, timeout=10)
        assert r.status_code == 400, (params, r.text)
    unknown = "0b0b0b0b-0000-4000-8000-000000000000"
    assert requests.get(f"{base}/images/{unknown}", auth=auth, timeout=10).status_code == 404
    assert requests.get(f"{base}/images/{unknown}/file", auth=auth,
                        timeout=10).status_code == 404
    assert requests.get(f"{base}/images/{images[0].uuid}/file", auth=auth, timeout=10,
                        headers={"Range": "bytes=99999999-"}).status_code == 416


# --- a 1 GiB file, with the serving process's memory flat ---------------------------------

PART = 64 << 20
PARTS = 16                # 1 GiB
MEMORY_GROWTH_LIMIT = 256 << 20


def _rss_now() -> int:
    return _status_kib("VmRSS") << 10


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


class PeakRss:
    """The stack's (this process's) largest RSS while a block runs: the kernel's high-water
    mark, reset first (`/proc/self/clear_refs` 5), so no sampling is needed."""

    def __enter__(self) -> PeakRss:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        self.before = _rss_now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth = (_status_kib("VmHWM") << 10) - self.before


def _put_large_file(bucket: str, key: str) -> tuple[str, int]:
    """Store PARTS copies of one random part as `key`: a multipart upload whose parts are
    server-side copies of one stored part (no 1 GiB import, no 1 GiB sent); its SHA-1 is
    computed over the same bytes here."""
    part = os.urandom(PART)
    s3 = boto3.client("s3")
    source = key + ".part"
    s3.put_object(Bucket=bucket, Key=source, Body=part)
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    sha1, etags = hashlib.sha1(), []
    for number in range(1, PARTS + 1):
        etags.append(s3.upload_part_copy(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
            CopySource={"Bucket": bucket, "Key": source})["CopyPartResult"]["ETag"])
        sha1.update(part)
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    s3.delete_object(Bucket=bucket, Key=source)
    return sha1.hexdigest(), PART * PARTS


def test_a_1_gib_file_streams_with_flat_memory(node, admin, files):
    from chalicelib.adapters import store
    image = _import(admin, files, "large")
    sha1, size = _put_large_file(node.bucket, store.file_key(image.uuid))
    # the record now describes the stored 1 GiB file (as an import of it would have)
    manifest = dict(image.manifest_active)
    manifest["files"] = [{**manifest["files"][0], "sha1": sha1, "size": size}]
    image.update(actions=[Image.manifest_active.set(manifest)])
    served = run(source_url(node), "get", image.uuid)["manifest"]
    assert served["files"][0]["sha1"] == sha1
    with PeakRss() as memory:
        answer = run(source_url(node), "file", image.uuid)
    assert answer["statusCode"] == 200
    assert answer["size"] == size and answer["sha1"] == sha1
    assert memory.growth < MEMORY_GROWTH_LIMIT, f"RSS grew by {memory.growth >> 20} MiB"
