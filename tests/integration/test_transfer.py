"""Streaming into the store (SPEC §5.4) against the emulator's S3 over HTTP.

Each test gets its own bucket. Nothing here may reach a non-loopback address: a guard fails any
socket connect outside 127.0.0.0/8 / ::1.
"""
from __future__ import annotations

import hashlib
import ipaddress
import itertools
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pytest_httpserver import HTTPServer
from werkzeug import Response

from chalicelib.adapters.sources import SourceError, iter_body, open_stream
from chalicelib.adapters.transfer import (
    SOURCE_CHUNK_SIZE,
    TransferResult,
    TransferTooLarge,
    abort_incomplete_uploads,
    object_chunks,
    stream_to_store,
)
from chalicelib.domain.urlpolicy import SourcePolicy

MIB = 1 << 20
PART = 5 * MIB
LOOPBACK_OK = SourcePolicy(allow_loopback=True)


# --- fixtures and helpers ----------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, address) -> None:  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else str(address)
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise AssertionError(f"connect to non-loopback address {host} attempted")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture
def s3(stack) -> Any:  # noqa: ANN001 (the session stack points boto3 at the emulator)
    return boto3.client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"transfer-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    yield name
    abort_incomplete_uploads(s3, name, "")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", ()):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


def data_of(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def chunked(data: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    """`data` in chunks whose sizes cycle through `sizes`."""
    offset = 0
    for size in itertools.cycle(sizes):
        if offset >= len(data):
            return
        yield data[offset:offset + size]
        offset += size


def stored(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def uploads(s3: Any, bucket: str) -> list[dict]:
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] in ("404", "NoSuchKey"), exc.response
        return False
    return True


def parts_of(s3: Any, bucket: str, key: str) -> int:
    """Number of parts the object was stored with (0: a single PutObject), from its ETag."""
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return int(etag.split("-")[1]) if "-" in etag else 0


class Boom(Exception):
    pass


class Interrupt(BaseException):  # like KeyboardInterrupt / SystemExit
    pass


def failing_after(data: bytes, chunk: int, fail_at: int, error: BaseException) -> Iterator[bytes]:
    for offset in range(0, len(data), chunk):
        if offset >= fail_at:
            raise error
        yield data[offset:offset + chunk]


# --- exact bytes, SHA-1, sizes and chunkings ---------------------------------------------------

@pytest.mark.parametrize("max_workers", [1, 2])
@pytest.mark.parametrize("size, expected_parts", [
    (0, 0), (1, 0), (PART - 1, 0), (PART, 1), (PART + 1, 2), (3 * PART + 7, 4),
])
def test_stores_the_exact_bytes_and_sha1(s3: Any, bucket: str, size: int, expected_parts: int,
                                         max_workers: int) -> None:
    data = data_of(size)
    result = stream_to_store(chunked(data, [1, 7, MIB + 3, 65536]), s3=s3, bucket=bucket,
                             key="img/file", part_size=PART, max_workers=max_workers)
    assert isinstance(result, TransferResult)
    assert result.size == size
    assert result.sha1 == hashlib.sha1(data).hexdigest()
    assert result.seconds >= 0
    assert stored(s3, bucket, "img/file") == data
    assert parts_of(s3, bucket, "img/file") == expected_parts
    assert uploads(s3, bucket) == []


@pytest.mark.parametrize("sizes", [[1], [7], [MIB + 3], [3 * PART + 1]], ids=str)
def test_irregular_chunk_sizes(s3: Any, bucket: str, sizes: list[int]) -> None:
    size = 2 * PART + 11 if sizes[0] > 7 else 300_007  # byte-sized chunks: a smaller stream
    data = data_of(size)
    result = stream_to_store(chunked(data, sizes), s3=s3, bucket=bucket, key="k",
                             part_size=PART)
    assert (result.size, result.sha1) == (size, hashlib.sha1(data).hexdigest())
    assert stored(s3, bucket, "k") == data


def test_one_byte_chunks_across_part_boundaries(s3: Any, bucket: str) -> None:
    data = data_of(PART + 5)
    # the first part arrives in one piece, then the boundary and the rest byte by byte
    chunks = itertools.chain([data[:PART - 5]], chunked(data[PART - 5:], [1]))
    result = stream_to_store(chunks, s3=s3, bucket=bucket, key="k", part_size=PART)
    assert result.sha1 == hashlib.sha1(data).hexdigest()
    assert stored(s3, bucket, "k") == data
    assert parts_of(s3, bucket, "k") == 2


def test_bytearray_and_memoryview_chunks(s3: Any, bucket: str) -> None:
    data = data_of(PART + 100)
    chunks = [bytearray(data[:100]), memoryview(data)[100:PART + 50], b"", data[PART + 50:]]
    result = stream_to_store(chunks, s3=s3, bucket=bucket, key="k", part_size=PART)
    assert result.sha1 == hashlib.sha1(data).hexdigest()
    assert stored(s3, bucket, "k") == data


def test_part_size_below_the_s3_minimum_is_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ValueError):
        stream_to_store([b"x"], s3=s3, bucket=bucket, key="k", part_size=PART - 1)
    assert not exists(s3, bucket, "k")


def test_part_size_grows_to_fit_max_bytes_in_10000_parts(s3: Any, bucket: str) -> None:
    data = data_of(6 * MIB)
    # 10,000 parts of 5 MiB cannot hold max_bytes: parts become 6 MiB, so this is one part
    stream_to_store(chunked(data, [MIB]), s3=s3, bucket=bucket, key="k", part_size=PART,
                    max_bytes=10_000 * PART + 1)
    assert parts_of(s3, bucket, "k") == 1
    assert stored(s3, bucket, "k") == data


def test_replaces_an_existing_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old contents")
    data = data_of(PART + 3)
    stream_to_store([data], s3=s3, bucket=bucket, key="k", part_size=PART)
    assert stored(s3, bucket, "k") == data


# --- limits and failures: the upload is aborted, the original error propagates -----------------

@pytest.mark.parametrize("max_workers", [1, 2])
def test_more_than_max_bytes_is_refused_and_cleaned_up(s3: Any, bucket: str,
                                                       max_workers: int) -> None:
    data = data_of(3 * PART)
    with pytest.raises(TransferTooLarge) as info:
        stream_to_store(chunked(data, [MIB]), s3=s3, bucket=bucket, key="k", part_size=PART,
                        max_bytes=2 * PART + 1, max_workers=max_workers)
    assert info.value.limit == 2 * PART + 1
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, "k")


def test_max_bytes_below_one_part_is_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(TransferTooLarge):
        stream_to_store([b"12345", b"678901"], s3=s3, bucket=bucket, key="k", part_size=PART,
                        max_bytes=10)
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, "k")


def test_exactly_max_bytes_is_accepted(s3: Any, bucket: str) -> None:
    data = data_of(PART + 1)
    result = stream_to_store(chunked(data, [MIB]), s3=s3, bucket=bucket, key="k",
                             part_size=PART, max_bytes=PART + 1)
    assert result.size == PART + 1
    assert stored(s3, bucket, "k") == data


def test_too_large_is_raised_before_the_excess_is_read(s3: Any, bucket: str) -> None:
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i in range(10):
            read.append(i)
            yield b"x" * MIB

    with pytest.raises(TransferTooLarge):
        stream_to_store(chunks(), s3=s3, bucket=bucket, key="k", part_size=PART,
                        max_bytes=3 * MIB)
    assert read == [0, 1, 2, 3]


@pytest.mark.parametrize("max_workers", [1, 2])
@pytest.mark.parametrize("error", [Boom("source broke"), Interrupt(),
                                   SourceError("Connection broken")],
                         ids=["exception", "base-exception", "source-error"])
def test_failing_iterator_aborts_and_propagates(s3: Any, bucket: str, error: BaseException,
                                                max_workers: int) -> None:
    data = data_of(4 * PART)
    with pytest.raises(type(error)) as info:
        stream_to_store(failing_after(data, MIB, 3 * PART, error), s3=s3, bucket=bucket,
                        key="k", part_size=PART, max_workers=max_workers)
    assert info.value is error
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, "k")


def test_failing_iterator_before_a_full_part_leaves_nothing(s3: Any, bucket: str) -> None:
    with pytest.raises(Boom):
        stream_to_store(failing_after(data_of(MIB), 1000, 5000, Boom()), s3=s3, bucket=bucket,
                        key="k", part_size=PART)
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, "k")


class FlakyS3:
    """The real client, except that chosen operations fail (as the store might)."""

    def __init__(self, real: Any, fail: dict[str, int]) -> None:
        self._real = real
        self._fail = dict(fail)  # operation -> fail on its n-th call (1-based)
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in self._fail:
            return attr

        def call(**kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.calls[name] >= self._fail[name]:
                raise Boom(f"{name} failed")
            return attr(**kwargs)
        return call


@pytest.mark.parametrize("max_workers", [1, 2])
@pytest.mark.parametrize("operation", ["upload_part", "complete_multipart_upload"])
def test_store_failure_aborts_and_propagates(s3: Any, bucket: str, operation: str,
                                             max_workers: int) -> None:
    flaky = FlakyS3(s3, {operation: 2 if operation == "upload_part" else 1})
    with pytest.raises(Boom, match=operation):
        stream_to_store(chunked(data_of(4 * PART), [MIB]), s3=flaky, bucket=bucket, key="k",
                        part_size=PART, max_workers=max_workers)
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, "k")


class SlowPartsS3:
    """The real client, with slow part uploads and a log of when each call started and ended."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.log: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr) or name.startswith(("get_", "meta")):
            return attr

        def call(**kwargs: Any) -> Any:
            with self._lock:
                self.log.append(("start", name))
            try:
                if name == "upload_part":
                    time.sleep(0.3)
                return attr(**kwargs)
            finally:
                with self._lock:
                    self.log.append(("end", name))
        return call


def test_abort_waits_for_parts_in_flight(s3: Any, bucket: str) -> None:
    slow = SlowPartsS3(s3)
    with pytest.raises(Boom):
        stream_to_store(failing_after(data_of(3 * PART), MIB, 2 * PART + MIB, Boom()), s3=slow,
                        bucket=bucket, key="k", part_size=PART, max_workers=2)
    abort_at = slow.log.index(("start", "abort_multipart_upload"))
    assert ("end", "upload_part") in slow.log
    assert ("start", "upload_part") not in slow.log[abort_at:]
    assert ("end", "upload_part") not in slow.log[abort_at:]  # a part landing late could linger
    assert uploads(s3, bucket) == []


def test_failing_abort_does_not_mask_the_original_error(s3: Any, bucket: str) -> None:
    flaky = FlakyS3(s3, {"abort_multipart_upload": 1})
    with pytest.raises(Interrupt):
        stream_to_store(failing_after(data_of(2 * PART), MIB, PART + MIB, Interrupt()),
                        s3=flaky, bucket=bucket, key="k", part_size=PART)
    assert flaky.calls == {"abort_multipart_upload": 1}
    assert len(uploads(s3, bucket)) == 1  # left for the scheduled cleanup
    assert abort_incomplete_uploads(s3, bucket, "") == ["k"]


def test_failing_progress_callback_aborts(s3: Any, bucket: str) -> None:
    now = [0.0]

    def chunks() -> Iterator[bytes]:
        for _ in range(3 * 5):
            now[0] += 1.0
            yield b"y" * MIB

    def on_progress(done: int) -> None:
        if done > PART:
            raise Boom("progress store down")

    with pytest.raises(Boom, match="progress"):
        stream_to_store(chunks(), s3=s3, bucket=bucket, key="k", part_size=PART,
                        on_progress=on_progress, progress_interval=1.0, clock=lambda: now[0])
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, "k")


# --- progress ----------------------------------------------------------------------------------

def test_progress_is_throttled_by_the_clock(s3: Any, bucket: str) -> None:
    now = [100.0]
    seen: list[tuple[float, int]] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(24):  # one chunk every 0.5 s: 12 s in all
            now[0] += 0.5
            yield b"z" * (MIB // 2)

    result = stream_to_store(chunks(), s3=s3, bucket=bucket, key="k", part_size=PART,
                             on_progress=lambda done: seen.append((now[0], done)),
                             progress_interval=2.0, clock=lambda: now[0])
    assert seen == [(100.0 + t, t * MIB) for t in (2, 4, 6, 8, 10, 12)]
    assert result.seconds == 12.0
    assert result.size == 12 * MIB


def test_progress_never_more_often_than_the_interval(s3: Any, bucket: str) -> None:
    ticks = iter(random.Random(7).uniform(0, 0.7) for _ in range(10_000))
    now = [0.0]
    times: list[float] = []

    def clock() -> float:
        now[0] += next(ticks)
        return now[0]

    stream_to_store(chunked(data_of(PART + 7), [4096]), s3=s3, bucket=bucket, key="k",
                    part_size=PART, on_progress=lambda done: times.append(now[0]),
                    progress_interval=3.0, clock=clock)
    assert len(times) > 5
    assert all(b - a >= 3.0 for a, b in zip(times, times[1:]))


def test_no_progress_within_the_first_interval(s3: Any, bucket: str) -> None:
    calls: list[int] = []
    stream_to_store(chunked(data_of(PART + 1), [MIB]), s3=s3, bucket=bucket, key="k",
                    part_size=PART, on_progress=calls.append, progress_interval=3600.0)
    assert calls == []


# --- abort_incomplete_uploads ------------------------------------------------------------------

def test_abort_incomplete_uploads_under_a_prefix(s3: Any, bucket: str) -> None:
    for key in ("uploads/a", "uploads/b", "uploads/b", "other/c"):
        s3.create_multipart_upload(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key="uploads/done", Body=b"kept")

    # moto reports every upload as initiated on 2010-11-10: nothing is older than 2000
    assert abort_incomplete_uploads(s3, bucket, "uploads/",
                                    older_than=datetime(2000, 1, 1, tzinfo=UTC)) == []
    assert len(uploads(s3, bucket)) == 4

    cutoff = datetime.now(UTC) + timedelta(minutes=1)
    assert sorted(abort_incomplete_uploads(s3, bucket, "uploads/", older_than=cutoff)) == [
        "uploads/a", "uploads/b", "uploads/b"]
    assert [u["Key"] for u in uploads(s3, bucket)] == ["other/c"]
    assert stored(s3, bucket, "uploads/done") == b"kept"

    assert abort_incomplete_uploads(s3, bucket, "") == ["other/c"]  # no cut-off: all
    assert uploads(s3, bucket) == []
    assert abort_incomplete_uploads(s3, bucket, "") == []


def _upload(key: str, upload_id: str, initiated: datetime) -> dict:
    return {"Key": key, "UploadId": upload_id, "Initiated": initiated}


def test_abort_incomplete_uploads_pages_and_cutoff() -> None:
    """Pagination and mixed ages, which moto cannot show (it never truncates the listing and
    reports a fixed initiation date): the S3 API is stubbed, no request is sent."""
    client = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="x", aws_secret_access_key="x")
    cutoff = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    old, new = cutoff - timedelta(hours=25), cutoff + timedelta(minutes=5)
    with Stubber(client) as stub:
        stub.add_response("list_multipart_uploads", {
            "Uploads": [_upload("up/1", "u1", old), _upload("up/2", "u2", new)],
            "IsTruncated": True, "NextKeyMarker": "up/2", "NextUploadIdMarker": "u2",
        }, {"Bucket": "b", "Prefix": "up/"})
        stub.add_response("abort_multipart_upload", {},
                          {"Bucket": "b", "Key": "up/1", "UploadId": "u1"})
        stub.add_response("list_multipart_uploads", {
            "Uploads": [_upload("up/3", "u3", old), _upload("up/4", "u4", old)],
            "IsTruncated": False,
        }, {"Bucket": "b", "Prefix": "up/", "KeyMarker": "up/2", "UploadIdMarker": "u2"})
        stub.add_client_error("abort_multipart_upload", "NoSuchUpload", http_status_code=404,
                              expected_params={"Bucket": "b", "Key": "up/3", "UploadId": "u3"})
        stub.add_response("abort_multipart_upload", {},
                          {"Bucket": "b", "Key": "up/4", "UploadId": "u4"})
        # a naive cut-off is UTC
        assert abort_incomplete_uploads(client, "b", "up/",
                                        older_than=cutoff.replace(tzinfo=None)) == ["up/1", "up/4"]
        stub.assert_no_pending_responses()


def test_abort_incomplete_uploads_raises_other_errors() -> None:
    client = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("list_multipart_uploads", {
            "Uploads": [_upload("up/1", "u1", datetime(2020, 1, 1, tzinfo=UTC))],
            "IsTruncated": False})
        stub.add_client_error("abort_multipart_upload", "AccessDenied", http_status_code=403)
        with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):
            abort_incomplete_uploads(client, "b", "up/")


# --- object_chunks -----------------------------------------------------------------------------

def test_object_chunks_round_trip(s3: Any, bucket: str) -> None:
    data = data_of(3 * MIB + 5)
    s3.put_object(Bucket=bucket, Key="uploads/x", Body=data)
    chunks = list(object_chunks(s3, bucket, "uploads/x", chunk_size=MIB))
    assert b"".join(chunks) == data
    assert len(chunks) >= 4 and all(0 < len(c) <= MIB for c in chunks)
    assert list(object_chunks(s3, bucket, "uploads/x")) != []


def test_object_chunks_of_an_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="e", Body=b"")
    assert b"".join(object_chunks(s3, bucket, "e")) == b""


def test_object_chunks_of_a_missing_object(s3: Any, bucket: str) -> None:
    with pytest.raises(s3.exceptions.NoSuchKey):
        list(object_chunks(s3, bucket, "missing"))


def test_copy_into_place_while_hashing(s3: Any, bucket: str) -> None:
    """The snapshot-export step: an uploaded object is hashed while copied to its place."""
    data = data_of(2 * PART + 99)
    s3.put_object(Bucket=bucket, Key="uploads/snap", Body=data)
    result = stream_to_store(object_chunks(s3, bucket, "uploads/snap"), s3=s3, bucket=bucket,
                             key="images/snap/file", part_size=PART)
    assert (result.size, result.sha1) == (len(data), hashlib.sha1(data).hexdigest())
    assert stored(s3, bucket, "images/snap/file") == data


# --- from an HTTP source -----------------------------------------------------------------------

@pytest.fixture
def source(loopback_server: HTTPServer) -> HTTPServer:
    loopback_server.clear()
    return loopback_server


def test_streams_an_http_source_into_the_store(s3: Any, bucket: str, source: HTTPServer) -> None:
    data = data_of(2 * PART + 12345)
    source.expect_request("/image/file").respond_with_data(
        data, content_type="application/octet-stream")
    response = open_stream(source.url_for("/image/file"), policy=LOOPBACK_OK, timeout=5)
    with response:
        result = stream_to_store(iter_body(response, SOURCE_CHUNK_SIZE), s3=s3, bucket=bucket,
                                 key="images/i/file",
                                 part_size=PART, max_bytes=len(data))
    assert (result.size, result.sha1) == (len(data), hashlib.sha1(data).hexdigest())
    assert stored(s3, bucket, "images/i/file") == data
    assert parts_of(s3, bucket, "images/i/file") == 3


def test_a_truncated_http_source_aborts_the_upload(s3: Any, bucket: str,
                                                   source: HTTPServer) -> None:
    data = data_of(2 * PART)

    def truncated(_request: Any) -> Response:
        def body() -> Iterator[bytes]:
            yield data[:PART + MIB]  # then the connection closes, short of Content-Length
        return Response(body(), headers={"Content-Length": str(len(data))},
                        content_type="application/octet-stream")

    source.expect_request("/image/file").respond_with_handler(truncated)
    response = open_stream(source.url_for("/image/file"), policy=LOOPBACK_OK, timeout=5)
    with response, pytest.raises(SourceError) as info:
        stream_to_store(iter_body(response), s3=s3, bucket=bucket, key="images/i/file",
                        part_size=PART)
    assert info.value.reason == "Connection broken"
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, "images/i/file")
