"""Streaming image files into the store (SPEC §5.4): multipart upload, SHA-1 in the same pass.

Memory stays flat whatever the file size: bytes are copied once, into a part buffer that goes to
the S3 client as it is and is reused once its part is uploaded (a few buffers when parts upload
concurrently). A failure of any kind aborts the multipart upload, so no partial data is left.

The S3 client is passed in (any boto3 S3 client); nothing here imports boto3.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.aws import error_code

log = logging.getLogger(__name__)

MIB = 1 << 20
MIN_PART_SIZE = 5 * MIB        # S3: every part but the last
MAX_PART_SIZE = 5 * 1024 * MIB  # S3: any part
MAX_PARTS = 10_000             # S3: parts per upload
# Chunk size to read sources with (`sources.iter_body(response, SOURCE_CHUNK_SIZE)`): fewer,
# larger reads cost less CPU per byte than the 64 KiB default (measured by bench/transfer.py).
SOURCE_CHUNK_SIZE = 1 * MIB


@dataclass(frozen=True)
class TransferResult:
    size: int
    sha1: str
    seconds: float


class TransferTooLarge(Exception):
    """The stream carried more bytes than allowed (or than one S3 upload can hold)."""

    def __init__(self, limit: int, message: str | None = None) -> None:
        super().__init__(message or f"More than {limit} bytes")
        self.limit = limit


def stream_to_store(  # noqa: C901, PLR0915 (split up by the checkpointed transfer)
        chunks: Iterable[bytes], *, s3: Any, bucket: str, key: str, part_size: int,
                    max_bytes: int | None = None,
                    on_progress: Callable[[int], None] | None = None,
                    progress_interval: float = 2.0,
                    clock: Callable[[], float] = time.monotonic,
                    max_workers: int = 2) -> TransferResult:
    """Stream `chunks` into `s3://bucket/key`, hashing (SHA-1) and counting in the same pass.

    Parts are `part_size` bytes (≥ 5 MiB; raised when `max_bytes` would need more than 10,000
    parts). A stream shorter than one part (0 bytes included) is stored with one PutObject.
    More than `max_bytes` bytes raises TransferTooLarge before the excess is stored.
    `on_progress(bytes_done)` runs at most once per `progress_interval` seconds of `clock`.
    Up to `max_workers` parts upload concurrently (1: in this thread); memory is at most
    `max_workers + 1` part buffers, allocated once. On any exception (BaseException included)
    the multipart upload is aborted — best effort, never hiding the original error — and the
    error re-raised.
    """
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    part_size = _effective_part_size(part_size, max_bytes)
    started = clock()
    last_progress = started
    sha1 = hashlib.sha1()
    upload = _MultipartUpload(s3, bucket, key, part_size, max_workers)
    try:
        buffer = upload.free_buffer()
        filled = 0  # bytes of the current part in `buffer`
        total = 0
        for chunk in chunks:
            if not isinstance(chunk, (bytes, bytearray)):
                chunk = memoryview(chunk).cast("B")
            size = len(chunk)
            if not size:
                continue
            total += size
            if max_bytes is not None and total > max_bytes:
                raise TransferTooLarge(max_bytes)
            if filled + size < part_size:  # the common case: the chunk fits in the part
                buffer[filled:filled + size] = chunk  # same length: copied in place
                filled += size
            else:
                source = memoryview(chunk)
                offset = 0
                while offset < size:
                    take = min(part_size - filled, size - offset)
                    buffer[filled:filled + take] = source[offset:offset + take]
                    filled += take
                    offset += take
                    if filled == part_size:
                        upload.add_part(buffer)
                        sha1.update(buffer)  # while the part uploads (both only read it)
                        buffer = upload.free_buffer()
                        filled = 0
            if on_progress is not None:
                now = clock()
                if now - last_progress >= progress_interval:
                    last_progress = now
                    on_progress(total)
        del buffer[filled:]  # the last part's exact size, in place
        sha1.update(buffer)
        if upload.started:
            if filled:
                upload.add_part(buffer)
            upload.complete()
        else:  # shorter than one part: a single request, no multipart upload to clean up
            upload.put_object(buffer)
    except BaseException:
        upload.abort()
        raise
    finally:
        upload.close()
    return TransferResult(size=total, sha1=sha1.hexdigest(), seconds=clock() - started)


def abort_incomplete_uploads(s3: Any, bucket: str, prefix: str,
                             older_than: datetime | None = None) -> list[str]:
    """Abort the incomplete multipart uploads under `prefix` (initiated before `older_than`,
    if given; a naive datetime is taken as UTC). Returns the key of every upload aborted here
    (a key appears once per aborted upload); uploads that vanish meanwhile are skipped."""
    if older_than is not None and older_than.tzinfo is None:
        older_than = older_than.replace(tzinfo=UTC)
    aborted: list[str] = []
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Uploads", ()):
            if older_than is not None and not _initiated_before(item, older_than):
                continue
            try:
                s3.abort_multipart_upload(Bucket=bucket, Key=item["Key"],
                                          UploadId=item["UploadId"])
            except Exception as exc:
                if error_code(exc) == "NoSuchUpload":  # completed or aborted meanwhile
                    continue
                raise
            aborted.append(item["Key"])
    return aborted


def object_chunks(s3: Any, bucket: str, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The body of `s3://bucket/key` in chunks of up to `chunk_size` bytes, streamed."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


# --- helpers ------------------------------------------------------------------------------------

def _effective_part_size(part_size: int, max_bytes: int | None) -> int:
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
    if max_bytes is not None and max_bytes > part_size * MAX_PARTS:
        needed = -(-max_bytes // MAX_PARTS)
        part_size = min(MAX_PART_SIZE, -(-needed // MIB) * MIB)  # whole MiB
    return part_size


def _initiated_before(item: dict[str, Any], cutoff: datetime) -> bool:
    initiated = item.get("Initiated")
    if not isinstance(initiated, datetime):
        return False  # unknown age: leave it for a later run
    if initiated.tzinfo is None:
        initiated = initiated.replace(tzinfo=UTC)
    return initiated < cutoff


def _checksum_algorithm(s3: Any) -> str | None:
    config = getattr(getattr(s3, "meta", None), "config", None)
    if getattr(config, "request_checksum_calculation", None) == "when_required":
        return None
    return "CRC32"


class _MultipartUpload:
    """One multipart upload, created when the first full part is ready, and its part buffers.

    A full buffer is handed to the S3 client as it is (botocore checksums, signs and sends a
    bytearray without copying it) and refilled only after its upload returned. With
    `max_workers` > 1 parts upload on a small thread pool, at most `max_workers` in flight;
    buffers are allocated once, at most `max_workers + 1`, and recycled.
    """

    def __init__(self, s3: Any, bucket: str, key: str, part_size: int, max_workers: int) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.max_workers = max_workers
        self.upload_id: str | None = None
        self.parts: dict[int, dict[str, Any]] = {}
        self.next_part = 1
        self._free: list[bytearray] = []
        self._allocated = 0
        self._pool: Any = None
        self._pending: set[Any] = set()
        # Like boto3's upload_fileobj: per-part CRC32 checksums (checked by S3 on every part and
        # combined on completion) unless the client is configured to send checksums only when
        # an operation requires them (some S3-compatible stores lack support).
        self.checksum = _checksum_algorithm(s3)
        self._extra = {"ChecksumAlgorithm": self.checksum} if self.checksum else {}

    @property
    def started(self) -> bool:
        return self.upload_id is not None

    def free_buffer(self) -> bytearray:
        """A part buffer not in use: recycled, new (below the limit), or once a part is done."""
        if not self._free and self._allocated > self.max_workers:
            self._wait(below=len(self._pending))  # at least one part finishes
        if self._free:
            return self._free.pop()
        self._allocated += 1
        return bytearray(self.part_size)

    def add_part(self, data: bytearray) -> None:
        """Upload `data` as the next part; it must not be touched until it is free again."""
        if self.upload_id is None:
            response = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                       **self._extra)
            self.upload_id = response["UploadId"]
        number = self.next_part
        if number > MAX_PARTS:
            limit = self.part_size * MAX_PARTS
            raise TransferTooLarge(limit, f"More than {MAX_PARTS} parts ({limit} bytes)")
        self.next_part += 1
        if self.max_workers == 1:
            self.parts[number] = self._upload_part(number, data)
            self._free.append(data)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="upload-part")
        self._pending.add(self._pool.submit(self._numbered_part, number, data))

    def complete(self) -> None:
        self._wait(below=1)
        parts = [self.parts[n] for n in sorted(self.parts)]
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key,
                                          UploadId=self.upload_id,
                                          MultipartUpload={"Parts": parts})
        self.upload_id = None  # completed: nothing to abort any more

    def put_object(self, body: bytearray) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, **self._extra)

    def abort(self) -> None:
        """Best effort: stop queued parts, let running ones end, abort the upload. Never raises
        an Exception (the caller is already handling the original error)."""
        for future in self._pending:
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # a part landing after the abort would linger
        self._pending.clear()
        if self.upload_id is None:
            return
        upload_id, self.upload_id = self.upload_id, None
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
        except Exception as exc:
            if error_code(exc) == "NoSuchUpload":
                return  # a rollback (a cancel, say) aborted it first: the outcome wanted
            log.warning("Could not abort multipart upload %s of s3://%s/%s (%s)", upload_id,
                        self.bucket, self.key, error_code(exc) or type(exc).__name__)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._free.clear()

    def _upload_part(self, number: int, body: bytearray) -> dict[str, Any]:
        """Upload one part; returns its entry for CompleteMultipartUpload."""
        response = self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                       PartNumber=number, Body=body, ContentLength=len(body),
                                       **self._extra)
        part = {"PartNumber": number, "ETag": response["ETag"]}
        member = f"Checksum{self.checksum}"
        if self.checksum and response.get(member):
            part[member] = response[member]
        return part

    def _numbered_part(self, number: int, body: bytearray) -> tuple[int, dict[str, Any], bytearray]:
        return number, self._upload_part(number, body), body

    def _wait(self, below: int) -> None:
        """Collect finished parts (recycling their buffers) until fewer than `below` are in
        flight; a failed part's exception is raised here."""
        from concurrent.futures import FIRST_COMPLETED, wait
        while self._pending and len(self._pending) >= below:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            for future in done:
                number, part, buffer = future.result()
                self.parts[number] = part
                self._free.append(buffer)
