"""One S3 multipart upload written part by part from reused buffers, and resumable: a later
step run continues an upload by its id (the parts already stored stay; their ETags and
checksums come back from ListParts when the upload is completed).

A full part buffer goes to the S3 client as it is (botocore signs and sends a bytearray
without copying it) and is refilled only after its upload returned. The caller may hand over
the part's CRC32, computed while the bytes were still in the CPU's cache: botocore then sends
it as it is, instead of reading the whole part once more (and, on HTTPS, copying it into an
aws-chunked body with the checksum as trailer). With `max_workers` > 1 parts upload on a small
thread pool, at most `max_workers` in flight; buffers are allocated once, at most
`max_workers + 1`, and recycled.
"""
from __future__ import annotations

import base64
import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from chalicelib.adapters.aws import error_code

log = logging.getLogger(__name__)

MIB = 1 << 20
MIN_PART_SIZE = 5 * MIB        # S3: every part but the last
MAX_PART_SIZE = 5 * 1024 * MIB  # S3: any part
MAX_PARTS = 10_000             # S3: parts per upload


class TransferTooLarge(Exception):
    """The stream carried more bytes than allowed (or than one S3 upload can hold)."""

    def __init__(self, limit: int, message: str | None = None) -> None:
        super().__init__(message or f"More than {limit} bytes")
        self.limit = limit


class MultipartUpload:
    """Parts are numbered by the caller; `done()` lists the parts uploaded since the last call
    (in any order); `complete()` stores the object from every part the upload holds."""

    def __init__(self, s3: Any, bucket: str, key: str, part_size: int, *,
                 upload_id: str | None = None, max_workers: int = 2) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.s3, self.bucket, self.key = s3, bucket, key
        self.part_size = part_size
        self.upload_id = upload_id
        self.max_workers = max_workers
        self._free: list[bytearray] = []
        self._allocated = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[Future[int], bytearray] = {}
        self._finished: list[int] = []
        # Like boto3's upload_fileobj: per-part CRC32 checksums (checked by S3 on every part and
        # combined on completion) unless the client sends checksums only when an operation
        # requires them (some S3-compatible stores lack support).
        self.checksum = _checksum_algorithm(s3)
        self._extra = {"ChecksumAlgorithm": self.checksum} if self.checksum else {}

    @property
    def started(self) -> bool:
        return self.upload_id is not None

    def free_buffer(self) -> bytearray:
        """A part buffer not in use: recycled, new (below the limit), or once a part is done."""
        if not self._free and self._allocated > self.max_workers:
            self._collect(below=len(self._pending))  # until at least one part finishes
        if self._free:
            return self._free.pop()
        self._allocated += 1
        return bytearray(self.part_size)

    def add_part(self, number: int, data: bytearray, crc32: int | None = None) -> None:
        """Upload `data` as part `number`; it must not be touched until it is free again.
        `crc32`: zlib's CRC32 of `data`, if the caller has it (else botocore computes it)."""
        if number > MAX_PARTS:
            limit = self.part_size * MAX_PARTS
            raise TransferTooLarge(limit, f"More than {MAX_PARTS} parts ({limit} bytes)")
        if self.upload_id is None:
            response = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                       **self._extra)
            self.upload_id = response["UploadId"]
        if self.max_workers == 1:
            self._upload_part(number, data, crc32)
            self._finished.append(number)
            self._free.append(data)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="upload-part")
        self._pending[self._pool.submit(self._upload_part, number, data, crc32)] = data

    def done(self) -> list[int]:
        """The part numbers whose upload returned since the last call (without waiting)."""
        self._collect(below=None)
        finished, self._finished = self._finished, []
        return finished

    def wait(self) -> list[int]:
        """Wait until every part in flight is stored; their numbers, as `done()`."""
        self._collect(below=1)
        return self.done()

    def complete(self) -> None:
        self.wait()
        member = f"Checksum{self.checksum}" if self.checksum else None
        parts = [{"PartNumber": part["PartNumber"], "ETag": part["ETag"],
                  **({member: part[member]} if member and part.get(member) else {})}
                 for part in self.stored_parts()]
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key,
                                          UploadId=self.upload_id,
                                          MultipartUpload={"Parts": parts})
        self.upload_id = None  # completed: nothing to abort any more

    def put_object(self, body: bytearray | memoryview, crc32: int | None = None) -> None:
        """A whole object in one request (shorter than a part: no multipart upload at all)."""
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body,
                           **self._checksum(crc32))

    def stop(self) -> None:
        """Let parts in flight end (they are kept: a later run may resume the upload)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._pending.clear()

    def abort(self) -> None:
        """Best effort: stop, then abort the upload. Never raises an Exception (the caller is
        already handling the original error)."""
        for future in self._pending:
            future.cancel()
        self.stop()
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
        self.stop()
        self._free.clear()

    def _upload_part(self, number: int, body: bytearray, crc32: int | None) -> int:
        self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                            PartNumber=number, Body=body, ContentLength=len(body),
                            **self._checksum(crc32))
        return number

    def _checksum(self, crc32: int | None) -> dict[str, str]:
        """The checksum arguments of a request; S3 refuses the body if they do not match it."""
        if self.checksum == "CRC32" and crc32 is not None:
            return {**self._extra, "ChecksumCRC32": crc32_base64(crc32)}
        return self._extra

    def _collect(self, below: int | None) -> None:
        """Collect the finished parts (recycling their buffers; a failed part's exception is
        raised here); with `below`, wait until fewer than `below` are in flight."""
        while self._pending:
            for future in [f for f in self._pending if f.done()]:
                self._free.append(self._pending.pop(future))
                self._finished.append(future.result())
            if below is None or len(self._pending) < below:
                return
            wait(self._pending, return_when=FIRST_COMPLETED)

    def stored_parts(self) -> list[dict[str, Any]]:
        """Every part the upload holds, in order, as ListParts describes them (a resumed
        upload holds parts that earlier step runs stored, or that a node agent sent)."""
        parts: list[dict[str, Any]] = []
        pages = self.s3.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        for page in pages:
            parts.extend(page.get("Parts", ()))
        return sorted(parts, key=lambda part: part["PartNumber"])


def effective_part_size(part_size: int, max_bytes: int | None) -> int:
    """`part_size`, raised (to whole MiB) when `max_bytes` would need more than 10,000 parts."""
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
    if max_bytes is not None and max_bytes > part_size * MAX_PARTS:
        needed = -(-max_bytes // MAX_PARTS)
        part_size = min(MAX_PART_SIZE, -(-needed // MIB) * MIB)
    return part_size


def crc32_base64(crc32: int) -> str:
    """A CRC32 as S3's checksum headers carry it: its four bytes, big-endian, in base64."""
    return base64.b64encode((crc32 & 0xFFFFFFFF).to_bytes(4, "big")).decode("ascii")


def _checksum_algorithm(s3: Any) -> str | None:
    config = getattr(getattr(s3, "meta", None), "config", None)
    if getattr(config, "request_checksum_calculation", None) == "when_required":
        return None
    return "CRC32"
