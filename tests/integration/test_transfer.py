"""Streaming into the store (SPEC §5.4) with `transfer()`, against the emulator's S3 over HTTP.

Each test gets its own bucket. Nothing here may reach a non-loopback address: a guard fails any
socket connect outside 127.0.0.0/8 / ::1.
"""
from __future__ import annotations

import hashlib
import ipaddress
import itertools
import json
import logging
import random
import socket
import threading
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from pytest_httpserver import HTTPServer
from werkzeug import Response

from chalicelib.adapters import store
from chalicelib.adapters.aws import s3_config
from chalicelib.adapters.multipart import crc32_base64
from chalicelib.adapters.sources import SourceError, open_download
from chalicelib.adapters.transfer import (
    READ_BYTES,
    Checkpoint,
    MultipartUpload,
    ReadInto,
    TransferResult,
    TransferTooLarge,
    abort_incomplete_uploads,
    transfer,
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


def data_of(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def chunked(data: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    """`data` in chunks whose sizes cycle through `sizes`."""
    offset = 0
    for size in itertools.cycle(sizes):
        if offset >= len(data):
            return
        yield data[offset:offset + size]
        offset += size


def reader(chunks: Iterable[bytes | bytearray | memoryview]) -> ReadInto:
    """A source's `read_into` serving `chunks`: each read copies at most the rest of one."""
    pending, current = iter(chunks), memoryview(b"")

    def read_into(view: memoryview) -> int:
        nonlocal current
        while not current:
            chunk = next(pending, None)
            if chunk is None:
                return 0
            current = memoryview(chunk).cast("B")
        count = min(len(view), len(current))
        view[:count] = current[:count]
        current = current[count:]
        return count

    return read_into


def send(chunks: Iterable[bytes], s3: Any, bucket: str, key: str = "k",
         **options: Any) -> TransferResult:
    """`transfer()` of `chunks` into s3://bucket/key, in parts of PART bytes unless told."""
    return transfer(reader(chunks), s3=s3, bucket=bucket, key=key,
                    **{"part_size": PART, **options})


def stored(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def uploads(s3: Any, bucket: str) -> list[dict]:
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def open_upload(s3: Any, bucket: str, key: str) -> tuple[str, list[int]]:
    """The one multipart upload of `key` left open: its id and the numbers of its parts."""
    [upload] = [u for u in uploads(s3, bucket) if u["Key"] == key]
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    return upload["UploadId"], [part["PartNumber"] for part in listed.get("Parts", [])]


def gives_up(s3: Any, bucket: str, key: str) -> None:
    """What the caller does when it gives up after a failure (transfer() leaves the upload and
    its parts for a retry): it aborts the upload, and nothing is left."""
    assert abort_incomplete_uploads(s3, bucket, key) == [key]
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, key)


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
def test_stores_the_exact_bytes_and_both_digests(s3: Any, bucket: str, size: int,
                                                 expected_parts: int, max_workers: int) -> None:
    data = data_of(size)
    outcome = send(chunked(data, [1, 7, MIB + 3, 65536]), s3, bucket, key="img/file",
                   max_workers=max_workers)
    assert isinstance(outcome, TransferResult)
    assert outcome.done
    assert outcome.size == size
    assert outcome.sha1 == sha1(data)
    assert outcome.sha256 == hashlib.sha256(data).hexdigest()
    assert stored(s3, bucket, "img/file") == data
    assert parts_of(s3, bucket, "img/file") == expected_parts
    assert uploads(s3, bucket) == []


@pytest.mark.parametrize("sizes", [[1], [7], [MIB + 3], [3 * PART + 1]], ids=str)
def test_irregular_chunk_sizes(s3: Any, bucket: str, sizes: list[int]) -> None:
    size = 2 * PART + 11 if sizes[0] > 7 else 300_007  # byte-sized chunks: a smaller stream
    data = data_of(size)
    outcome = send(chunked(data, sizes), s3, bucket)
    assert (outcome.size, outcome.sha1) == (size, sha1(data))
    assert stored(s3, bucket, "k") == data


def test_one_byte_chunks_across_part_boundaries(s3: Any, bucket: str) -> None:
    data = data_of(PART + 5)
    # the first part arrives in one piece, then the boundary and the rest byte by byte
    chunks = itertools.chain([data[:PART - 5]], chunked(data[PART - 5:], [1]))
    outcome = send(chunks, s3, bucket)
    assert outcome.sha1 == sha1(data)
    assert stored(s3, bucket, "k") == data
    assert parts_of(s3, bucket, "k") == 2


@pytest.mark.parametrize("max_workers", [1, 2])
def test_reads_go_straight_into_a_few_reused_part_buffers(s3: Any, bucket: str,
                                                          max_workers: int) -> None:
    """`read_into` is handed writable byte views of the part buffers themselves, never past
    the end of a part nor longer than READ_BYTES (each read is hashed while it is in the CPU's
    cache), and the buffers are recycled: at most max_workers + 1 of them however many parts
    the file has."""
    data = data_of(6 * PART + 100)
    serve = reader([bytearray(data[:100]), memoryview(data)[100:PART + 50], b"",
                    data[PART + 50:]])
    reads: list[tuple[int, int]] = []  # (length of the view, bytes read into it)
    buffers: list[object] = []

    def read_into(view: memoryview) -> int:
        assert not view.readonly and view.format == "B" and view.c_contiguous
        assert isinstance(view.obj, bytearray)
        if not any(view.obj is known for known in buffers):
            buffers.append(view.obj)
        count = serve(view)
        reads.append((len(view), count))
        return count

    outcome = transfer(read_into, s3=s3, bucket=bucket, key="k", part_size=PART,
                       max_workers=max_workers)
    assert (outcome.size, outcome.sha1) == (len(data), sha1(data))
    assert stored(s3, bucket, "k") == data
    assert parts_of(s3, bucket, "k") == 7
    filled = 0
    for length, count in reads:
        assert length == min(READ_BYTES, PART - filled)  # what is left of the current part
        filled = (filled + count) % PART
    assert reads[-1][1] == 0 and filled == 100
    assert 1 <= len(buffers) <= max_workers + 1


def test_a_part_carries_the_crc32_it_is_given_and_the_store_checks_it(s3: Any,
                                                                     bucket: str) -> None:
    """The transfer hands each part's CRC32 (computed read by read) to the upload, which sends
    it as the part's checksum instead of letting botocore read the part once more: a wrong one
    is refused by the store (as S3 refuses it), the right one stored. The transfers above all
    pass the same check with the CRC32 they computed."""
    upload = MultipartUpload(s3, bucket, "k", PART, max_workers=1)
    part = bytearray(data_of(PART))
    with pytest.raises(ClientError, match="BadDigest"):
        upload.add_part(1, part, crc32=zlib.crc32(part) ^ 1)
    upload.add_part(1, part, crc32=zlib.crc32(part))
    upload.complete()
    assert stored(s3, bucket, "k") == part

    small = MultipartUpload(s3, bucket, "small", PART, max_workers=1)
    with pytest.raises(ClientError, match="BadDigest"):
        small.put_object(bytearray(b"short"), crc32=zlib.crc32(b"other"))
    small.put_object(bytearray(b"short"), crc32=zlib.crc32(b"short"))
    assert stored(s3, bucket, "small") == b"short"


class _EmptyBody:
    """The raw body of an answer made up at `before-send`."""

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        return iter(())


def test_on_https_a_part_with_its_crc32_is_sent_as_it_is() -> None:
    """What the given CRC32 saves on AWS (HTTPS, where the emulator cannot show it): botocore
    sends the part buffer itself with the checksum header, where without one it would wrap the
    part into an aws-chunked body with a trailer, reading and copying it once more. Nothing
    leaves the process: the request is answered at botocore's `before-send`."""
    client = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s",
                                   region_name="us-east-1").client(
        "s3", endpoint_url="https://s3.us-east-1.amazonaws.com", config=s3_config())
    sent: list[Any] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 200, {"ETag": '"e"'}, _EmptyBody())

    client.meta.events.register("before-send.s3.UploadPart", answer)
    part = bytearray(data_of(PART))
    upload = MultipartUpload(client, "b", "k", PART, upload_id="u", max_workers=1)
    upload.add_part(1, part, crc32=zlib.crc32(part))
    upload.add_part(2, part)  # botocore's own CRC32, for contrast
    ours, botocores = sent
    assert ours.body is part
    assert ours.headers["x-amz-checksum-crc32"] == crc32_base64(zlib.crc32(part)).encode()
    assert ours.headers["X-Amz-Content-SHA256"] == b"UNSIGNED-PAYLOAD"
    assert "Transfer-Encoding" not in ours.headers
    assert botocores.headers["Content-Encoding"] == b"aws-chunked"
    assert botocores.body is not part


def test_part_size_below_the_s3_minimum_is_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ValueError):
        send([b"x"], s3, bucket, part_size=PART - 1)
    assert not exists(s3, bucket, "k")


def test_part_size_grows_to_fit_max_bytes_in_10000_parts(s3: Any, bucket: str) -> None:
    data = data_of(6 * MIB)
    # 10,000 parts of 5 MiB cannot hold max_bytes: parts become 6 MiB, so this is one part
    outcome = send(chunked(data, [MIB]), s3, bucket, max_bytes=10_000 * PART + 1)
    assert outcome.checkpoint.part_size == 6 * MIB
    assert parts_of(s3, bucket, "k") == 1
    assert stored(s3, bucket, "k") == data


def test_replaces_an_existing_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old contents")
    data = data_of(PART + 3)
    send([data], s3, bucket)
    assert stored(s3, bucket, "k") == data


# --- limits and failures: the original error propagates; the parts stored are kept (and
# checkpointed) for a retry, and the caller aborts the upload when it gives up ----------------

@pytest.mark.parametrize("max_workers", [1, 2])
def test_more_than_max_bytes_is_refused_and_the_stored_parts_kept(s3: Any, bucket: str,
                                                                  max_workers: int) -> None:
    data = data_of(3 * PART)
    saved: list[Checkpoint] = []
    with pytest.raises(TransferTooLarge) as info:
        send(chunked(data, [MIB]), s3, bucket, max_bytes=2 * PART + 1, max_workers=max_workers,
             on_checkpoint=saved.append)
    assert info.value.limit == 2 * PART + 1
    assert not exists(s3, bucket, "k")
    upload_id, parts = open_upload(s3, bucket, "k")
    assert parts == [1, 2]
    assert (saved[-1].parts, saved[-1].upload_id) == (2, upload_id)
    gives_up(s3, bucket, "k")


def test_max_bytes_below_one_part_is_refused(s3: Any, bucket: str) -> None:
    saved: list[Checkpoint] = []
    with pytest.raises(TransferTooLarge):
        send([b"12345", b"678901"], s3, bucket, max_bytes=10, on_checkpoint=saved.append)
    assert uploads(s3, bucket) == []  # no upload was started
    assert not exists(s3, bucket, "k")
    assert saved == []


def test_exactly_max_bytes_is_accepted(s3: Any, bucket: str) -> None:
    data = data_of(PART + 1)
    outcome = send(chunked(data, [MIB]), s3, bucket, max_bytes=PART + 1)
    assert outcome.size == PART + 1
    assert stored(s3, bucket, "k") == data


def test_too_large_is_raised_before_the_excess_is_read_or_reported(s3: Any, bucket: str) -> None:
    read: list[int] = []
    progress: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i in range(10):
            read.append(i)
            yield b"x" * READ_BYTES

    with pytest.raises(TransferTooLarge):
        send(chunks(), s3, bucket, max_bytes=3 * READ_BYTES, on_progress=progress.append)
    assert read == [0, 1, 2, 3]
    assert progress == [READ_BYTES, 2 * READ_BYTES, 3 * READ_BYTES]


@pytest.mark.parametrize("max_workers", [1, 2])
@pytest.mark.parametrize("error", [Boom("source broke"), Interrupt(),
                                   SourceError("Connection broken")],
                         ids=["exception", "base-exception", "source-error"])
def test_a_failing_source_propagates_and_the_stored_parts_are_kept(
        s3: Any, bucket: str, error: BaseException, max_workers: int) -> None:
    data = data_of(4 * PART)
    saved: list[Checkpoint] = []
    with pytest.raises(type(error)) as info:
        send(failing_after(data, MIB, 3 * PART, error), s3, bucket, max_workers=max_workers,
             on_checkpoint=saved.append)
    assert info.value is error
    assert not exists(s3, bucket, "k")
    upload_id, parts = open_upload(s3, bucket, "k")
    assert parts == [1, 2, 3]  # every part handed over ended (stored) before the error left
    if isinstance(error, Exception):  # and was checkpointed: a retry resumes after it
        assert (saved[-1].parts, saved[-1].upload_id) == (3, upload_id)
    gives_up(s3, bucket, "k")


def test_a_source_failing_before_a_full_part_leaves_nothing(s3: Any, bucket: str) -> None:
    saved: list[Checkpoint] = []
    with pytest.raises(Boom):
        send(failing_after(data_of(MIB), 1000, 5000, Boom()), s3, bucket,
             on_checkpoint=saved.append)
    assert uploads(s3, bucket) == []
    assert not exists(s3, bucket, "k")
    assert saved == []


def test_a_retry_resumes_from_the_checkpoint_of_a_failed_run(s3: Any, bucket: str) -> None:
    """Why the parts are kept: the next run reads the source from the checkpoint's offset,
    hashes on from its SHA-1 and SHA-256 states and completes the same upload."""
    data = data_of(3 * PART + 7)
    saved: list[Checkpoint] = []
    with pytest.raises(SourceError):
        send(failing_after(data, MIB, 2 * PART + MIB, SourceError("Connection broken")), s3,
             bucket, on_checkpoint=saved.append)
    # carried over as JSON, as the task record carries it
    checkpoint = Checkpoint.from_dict(json.loads(json.dumps(saved[-1].as_dict())))
    assert (checkpoint.parts, checkpoint.offset) == (2, 2 * PART)
    outcome = send(chunked(data[checkpoint.offset:], [MIB]), s3, bucket, checkpoint=checkpoint)
    assert (outcome.done, outcome.size, outcome.sha1) == (True, len(data), sha1(data))
    assert outcome.sha256 == hashlib.sha256(data).hexdigest()
    assert stored(s3, bucket, "k") == data
    assert parts_of(s3, bucket, "k") == 4


def test_a_checkpoint_without_a_sha256_state_is_not_resumed(s3: Any, bucket: str) -> None:
    """A checkpoint of the version that hashed SHA-1 only: it says it cannot be resumed (the
    step starts such a file over), and a transfer refuses to continue from it."""
    old = Checkpoint.from_dict({"part_size": PART, "parts": 2, "upload_id": "u",
                                "sha1": "openssl-sha1-v1:AAAA"})
    assert not old.resumable() and Checkpoint(PART).resumable()
    with pytest.raises(ValueError):
        send(chunked(data_of(PART), [MIB]), s3, bucket, checkpoint=old)
    assert uploads(s3, bucket) == []


def releasing_on_failure(chunks: Iterator[bytes], release: threading.Event) -> Iterator[bytes]:
    """`chunks`, setting `release` at the moment they fail: what waits for it (a part upload)
    is then in flight when the source breaks, whatever the machine's speed."""
    try:
        yield from chunks
    except BaseException:
        release.set()
        raise


class FlakyS3:
    """The real client, except that chosen operations fail (as the store might); a failing
    call first waits for `hold` when one is given."""

    def __init__(self, real: Any, fail: dict[str, int],
                 hold: threading.Event | None = None) -> None:
        self._real = real
        # operation -> its first call that fails, and every later one (1-based); for
        # upload_part: the first part number that fails (parts may be sent in any order)
        self._fail = dict(fail)
        self._hold = hold
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in self._fail:
            return attr

        def call(**kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                number = kwargs["PartNumber"] if name == "upload_part" else self.calls[name]
            if number >= self._fail[name]:
                if self._hold is not None:
                    assert self._hold.wait(60), "never released"
                raise Boom(f"{name} failed")
            return attr(**kwargs)
        return call


@pytest.mark.parametrize("max_workers", [1, 2])
@pytest.mark.parametrize("operation", ["upload_part", "complete_multipart_upload"])
def test_a_store_failure_propagates_and_the_stored_parts_are_kept(
        s3: Any, bucket: str, operation: str, max_workers: int) -> None:
    flaky = FlakyS3(s3, {operation: 2 if operation == "upload_part" else 1})
    saved: list[Checkpoint] = []
    with pytest.raises(Boom, match=operation):
        send(chunked(data_of(4 * PART), [MIB]), flaky, bucket, max_workers=max_workers,
             on_checkpoint=saved.append)
    assert not exists(s3, bucket, "k")
    upload_id, parts = open_upload(s3, bucket, "k")
    assert parts == ([1] if operation == "upload_part" else [1, 2, 3, 4])
    assert all(c.upload_id == upload_id and c.parts <= len(parts) for c in saved)
    if max_workers == 1:  # one part at a time: each is checkpointed as soon as it is stored
        assert saved[-1].parts == len(parts)
    gives_up(s3, bucket, "k")


class HeldPartsS3:
    """The real client, whose part uploads wait for `release`, with a log of when each call
    started and ended."""

    def __init__(self, real: Any, release: threading.Event) -> None:
        self._real = real
        self._release = release
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
                    assert self._release.wait(60), "never released"
                return attr(**kwargs)
            finally:
                with self._lock:
                    self.log.append(("end", name))
        return call


def test_a_failure_waits_for_the_parts_in_flight_and_checkpoints_them(s3: Any,
                                                                      bucket: str) -> None:
    source_failed = threading.Event()  # the parts are held in flight until the source fails
    slow = HeldPartsS3(s3, source_failed)
    saved: list[Checkpoint] = []
    with pytest.raises(Boom):
        send(releasing_on_failure(failing_after(data_of(3 * PART), MIB, 2 * PART + MIB, Boom()),
                                  source_failed), slow, bucket,
             max_workers=2, on_checkpoint=saved.append)
    assert slow.log.count(("start", "upload_part")) == 2
    assert slow.log.count(("end", "upload_part")) == 2  # both ended before the error left
    assert ("start", "abort_multipart_upload") not in slow.log  # the upload is kept
    assert saved[-1].parts == 2
    # the caller gives up: once it aborts, no part lands late (it would linger)
    MultipartUpload(slow, bucket, "k", PART, upload_id=saved[-1].upload_id).abort()
    abort_at = slow.log.index(("start", "abort_multipart_upload"))
    assert ("start", "upload_part") not in slow.log[abort_at:]
    assert ("end", "upload_part") not in slow.log[abort_at:]
    assert uploads(s3, bucket) == []


def test_failures_while_cleaning_up_do_not_mask_the_original_error(
        s3: Any, bucket: str, caplog: pytest.LogCaptureFixture) -> None:
    """A part in flight that fails while the run waits for it is only logged; the caller's
    abort that fails is only logged too, and leaves the upload for the scheduled cleanup."""
    source_failed = threading.Event()  # part 2 fails only once the source has failed
    flaky = FlakyS3(s3, {"upload_part": 2, "abort_multipart_upload": 1}, hold=source_failed)
    error = Boom("source broke")
    with caplog.at_level(logging.INFO, logger="chalicelib.adapters"), \
            pytest.raises(Boom) as info:
        send(releasing_on_failure(failing_after(data_of(3 * PART), MIB, 2 * PART + MIB, error),
                                  source_failed), flaky, bucket, max_workers=2)
    assert info.value is error
    assert "parts in flight were not all stored" in caplog.text
    upload_id, parts = open_upload(s3, bucket, "k")
    assert parts == [1]
    MultipartUpload(flaky, bucket, "k", PART, upload_id=upload_id).abort()  # does not raise
    assert flaky.calls["abort_multipart_upload"] == 1
    assert "Could not abort multipart upload" in caplog.text
    assert len(uploads(s3, bucket)) == 1  # left for the scheduled cleanup
    assert abort_incomplete_uploads(s3, bucket, "") == ["k"]


def test_a_failing_progress_callback_propagates_and_the_stored_parts_are_kept(
        s3: Any, bucket: str) -> None:
    def on_progress(done: int) -> None:
        if done > PART:
            raise Boom("progress store down")

    saved: list[Checkpoint] = []
    with pytest.raises(Boom, match="progress"):
        send((b"y" * MIB for _ in range(3 * 5)), s3, bucket, on_progress=on_progress,
             on_checkpoint=saved.append)
    assert not exists(s3, bucket, "k")
    upload_id, parts = open_upload(s3, bucket, "k")
    assert parts == [1]
    assert (saved[-1].parts, saved[-1].upload_id) == (1, upload_id)
    gives_up(s3, bucket, "k")


# --- progress ----------------------------------------------------------------------------------

def test_progress_is_reported_after_every_read(s3: Any, bucket: str) -> None:
    """`on_progress(bytes_done)` runs after every read (whoever listens throttles itself)."""
    seen: list[int] = []
    half = READ_BYTES // 2
    outcome = send((b"z" * half for _ in range(48)), s3, bucket, on_progress=seen.append)
    assert seen == [n * half for n in range(1, 49)]
    assert outcome.size == 48 * half


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


# --- from a stored object (the snapshot export's upload: store.ObjectDownload) ----------------

@pytest.fixture
def in_store(bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store's bucket is this test's."""
    monkeypatch.setattr(store, "bucket", lambda: bucket)
    return bucket


def read_all(download: store.ObjectDownload, buffer_size: int = MIB) -> list[bytes]:
    """Everything `download.read_into` gives through one reused buffer, read by read."""
    buffer, pieces = bytearray(buffer_size), []
    try:
        while count := download.read_into(memoryview(buffer)):
            pieces.append(bytes(buffer[:count]))
    finally:
        download.close()
    return pieces


def test_object_download_round_trip(s3: Any, in_store: str) -> None:
    data = data_of(3 * MIB + 5)
    s3.put_object(Bucket=in_store, Key="uploads/x", Body=data)
    pieces = read_all(store.ObjectDownload("uploads/x", 0, None))
    assert b"".join(pieces) == data
    assert len(pieces) >= 4 and all(0 < len(p) <= MIB for p in pieces)
    etag = s3.head_object(Bucket=in_store, Key="uploads/x")["ETag"]
    assert b"".join(read_all(store.ObjectDownload("uploads/x", MIB + 1, etag))) == data[MIB + 1:]


def test_object_download_of_an_empty_object(s3: Any, in_store: str) -> None:
    s3.put_object(Bucket=in_store, Key="e", Body=b"")
    assert read_all(store.ObjectDownload("e", 0, None)) == []


def test_object_download_of_a_missing_object(in_store: str) -> None:
    with pytest.raises(ClientError) as info:
        store.ObjectDownload("missing", 0, None)
    assert info.value.response["Error"]["Code"] == "NoSuchKey"


def test_copy_into_place_while_hashing(s3: Any, in_store: str) -> None:
    """The snapshot-export step: an uploaded object is hashed while copied to its place."""
    data = data_of(2 * PART + 99)
    s3.put_object(Bucket=in_store, Key="uploads/snap", Body=data)
    download = store.ObjectDownload("uploads/snap", 0, None)
    try:
        outcome = transfer(download.read_into, s3=s3, bucket=in_store, key="images/snap/file",
                           part_size=PART)
    finally:
        download.close()
    assert (outcome.size, outcome.sha1) == (len(data), sha1(data))
    assert stored(s3, in_store, "images/snap/file") == data


# --- from an HTTP source (sources.open_download, as the import step reads it) ------------------

@pytest.fixture
def source(loopback_server: HTTPServer) -> HTTPServer:
    loopback_server.clear()
    return loopback_server


def test_streams_an_http_source_into_the_store(s3: Any, bucket: str, source: HTTPServer) -> None:
    data = data_of(2 * PART + 12345)
    source.expect_request("/image/file").respond_with_data(
        data, content_type="application/octet-stream")
    download = open_download(source.url_for("/image/file"), policy=LOOPBACK_OK, timeout=5)
    try:
        outcome = transfer(download.read_into, s3=s3, bucket=bucket, key="images/i/file",
                           part_size=PART, max_bytes=len(data))
    finally:
        download.close()
    assert (outcome.size, outcome.sha1) == (len(data), sha1(data))
    assert stored(s3, bucket, "images/i/file") == data
    assert parts_of(s3, bucket, "images/i/file") == 3


def test_a_truncated_http_source_fails_and_the_stored_parts_are_kept(
        s3: Any, bucket: str, source: HTTPServer) -> None:
    data = data_of(2 * PART)

    def truncated(_request: Any) -> Response:
        def body() -> Iterator[bytes]:
            yield data[:PART + MIB]  # then the connection closes, short of Content-Length
        return Response(body(), headers={"Content-Length": str(len(data))},
                        content_type="application/octet-stream")

    source.expect_request("/image/file").respond_with_handler(truncated)
    download = open_download(source.url_for("/image/file"), policy=LOOPBACK_OK, timeout=5)
    saved: list[Checkpoint] = []
    try:
        with pytest.raises(SourceError) as info:
            transfer(download.read_into, s3=s3, bucket=bucket, key="images/i/file",
                     part_size=PART, on_checkpoint=saved.append)
    finally:
        download.close()
    assert info.value.reason == "Connection broken"
    assert not exists(s3, bucket, "images/i/file")
    upload_id, parts = open_upload(s3, bucket, "images/i/file")
    assert parts == [1]
    assert (saved[-1].parts, saved[-1].upload_id) == (1, upload_id)
    gives_up(s3, bucket, "images/i/file")
