"""Upload part checksums (SPEC §4.13, issue 19's speed work): the caller's multipart upload is
opened with ChecksumAlgorithm CRC32, and a part URL asked for with the part's CRC32 has it
signed in, so the store takes that part only with that checksum (S3 then checks the bytes)."""
from __future__ import annotations

import base64
import zlib

import boto3
import pytest
import requests

from chalicelib.persistence.models import Image
from tests.integration.upload_support import PART, complete, manifest_for, open_upload
from tests.integration.workflow_support import wait_task
from tests.support import Api

CONTENT = bytes(range(256)) * (PART // 256) + b"the last, short part"
CRC32_INVALID = ("Enter an object mapping part numbers asked for to their CRC32 checksums "
                 "(base64 of the 4 bytes, big-endian).")


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


def crc32_of(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def checked_urls(api: Api, task_id: str, chunks: dict[int, bytes]) -> dict[str, str]:
    r = api.post(f"/task/{task_id}/upload/", {
        "parts": list(chunks), "crc32": {str(n): crc32_of(c) for n, c in chunks.items()}})
    assert r.status_code == 200, r.text
    return dict(r.json()["parts"])


def test_parts_sent_with_their_signed_crc32_make_an_ok_image(server, admin):
    task_id = open_upload(admin, "up-crc", manifest_for(CONTENT))
    upload = next(u for u in boto3.client("s3").list_multipart_uploads(
        Bucket=server.bucket)["Uploads"] if u["Key"].endswith(task_id))
    assert upload.get("ChecksumAlgorithm") == "CRC32"
    chunks = {1: CONTENT[:PART], 2: CONTENT[PART:]}
    urls = checked_urls(admin, task_id, chunks)
    assert all("x-amz-checksum-crc32" in url for url in urls.values())
    for number, chunk in chunks.items():
        r = requests.put(urls[str(number)], data=chunk, timeout=30,
                         headers={"x-amz-checksum-crc32": crc32_of(chunk)})
        assert r.status_code == 200, r.text
    assert complete(admin, task_id).status_code == 201
    assert wait_task(admin, task_id).status_code == 200
    assert Image.count("up-crc") == 1


def test_a_part_sent_with_another_crc32_than_signed_is_refused(server, admin):
    task_id = open_upload(admin, "up-crc-other", manifest_for(CONTENT))
    url = checked_urls(admin, task_id, {1: CONTENT[:PART]})["1"]
    r = requests.put(url, data=CONTENT[:PART], timeout=30,
                     headers={"x-amz-checksum-crc32": crc32_of(b"other bytes")})
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
    assert admin.get(f"/task/{task_id}/upload/").json()["parts"] == []
    assert admin.put(f"/task/{task_id}/cancel").status_code == 410


@pytest.mark.parametrize("crc32", ["AAAAAA==", [], {"2": "AAAAAA=="}, {"1": "AAAA"},
                                   {"1": "not-b64!"}, {"1": 7}, {"one": "AAAAAA=="}])
def test_bad_checksums_are_400_naming_crc32(server, admin, crc32):
    task_id = open_upload(admin, "up-crc-bad", manifest_for(b"x"))
    r = admin.post(f"/task/{task_id}/upload/", {"parts": [1], "crc32": crc32})
    assert r.status_code == 400, r.text
    assert r.json()["result"] == {"crc32": [CRC32_INVALID]}
    admin.put(f"/task/{task_id}/cancel")
