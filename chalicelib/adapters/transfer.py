"""Streaming image files into the store (SPEC §5.4): a multipart upload, SHA-1 and SHA-256 in
the same pass (§4.14), and resumable at any part boundary.

`transfer()` reads its source straight into part buffers (no intermediate copies), hashes
every read as it arrives (SHA-1, SHA-256 and the part's CRC32, while the bytes are still in
the CPU's cache and the previous part uploads), and hands each full part to the upload.
Memory stays flat whatever the file size. A run may stop at a part boundary (`stop_at`) with
a `Checkpoint`: the parts stored so far, the upload id and the hashing states after them,
small enough for a task record. A later run, in another process, continues from there. On a
failure the upload is kept (with the parts stored so far) for a retry; the caller aborts it
when it gives up.

The S3 client is passed in (any boto3 S3 client); nothing here imports boto3.
"""
from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import file_hashes
from chalicelib.adapters.aws import error_code
from chalicelib.adapters.multipart import (  # noqa: F401 (part of this module's interface)
    MAX_PARTS,
    MIB,
    MIN_PART_SIZE,
    MultipartUpload,
    TransferTooLarge,
    effective_part_size,
)

log = logging.getLogger(__name__)

ReadInto = Callable[[memoryview], int]

# A read asks for at most this much, and is hashed at once: hashing a whole 8 MiB part after
# it filled, from memory rather than cache, costs about half as much CPU again
# (README "Benchmarks", transfer_cpu_ratio).
READ_BYTES = 256 * 1024


@dataclass
class Checkpoint:
    """Where a transfer stands between runs: parts 1..`parts` (all of `part_size` bytes) are
    stored in upload `upload_id`, and `sha1`/`sha256` are the hashing states after their bytes
    (a checkpoint saved before SHA-256 existed has `sha1` only: see `resumable()`)."""

    part_size: int
    parts: int = 0
    upload_id: str | None = None
    sha1: str | None = None
    sha256: str | None = None

    def resumable(self) -> bool:
        """Whether a run can continue from here (else the file starts over)."""
        return self.parts == 0 or file_hashes.SavedState(self.sha1, self.sha256).complete()

    @property
    def offset(self) -> int:
        return self.parts * self.part_size

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(part_size=int(data["part_size"]), parts=int(data["parts"]),
                   upload_id=data.get("upload_id"), sha1=data.get("sha1"),
                   sha256=data.get("sha256"))


@dataclass(frozen=True)
class TransferResult:
    done: bool
    checkpoint: Checkpoint     # the last one saved (when not done: where the next run starts)
    size: int                  # bytes read and stored (when not done: the checkpoint's offset)
    sha1: str | None = None    # hex digests, when done
    sha256: str | None = None


def can_resume() -> bool:
    """Whether a transfer can save its hashing state (see resumable_digest)."""
    return file_hashes.can_save()


def transfer(read_into: ReadInto, *, s3: Any, bucket: str, key: str, part_size: int,
             max_bytes: int | None = None, checkpoint: Checkpoint | None = None,
             stop_at: float | None = None,
             on_checkpoint: Callable[[Checkpoint], None] | None = None,
             on_progress: Callable[[int], None] | None = None,
             clock: Callable[[], float] = time.monotonic, max_workers: int = 2) -> TransferResult:
    """Store the source into `s3://bucket/key`, counting and hashing it on the way.

    `read_into(view)` fills the start of `view` and returns how many bytes it wrote (0 at the
    end of the source); with a `checkpoint`, the source must start at its offset. The run
    stops at the first part boundary after `stop_at` (on `clock`), having waited for its parts;
    `on_checkpoint` hears of every part stored, in order, and may raise to stop the run.
    `on_progress(bytes_done)` runs after every read. On an error the upload is left as it is
    (parts stored up to the last checkpoint stay usable); the caller aborts it when it gives up.
    """
    run = _Run(s3, bucket, key, checkpoint or Checkpoint(effective_part_size(part_size, max_bytes)),
               max_bytes, max_workers, on_checkpoint)
    try:
        return run.pump(read_into, stop_at, clock, on_progress)
    except Exception:
        run.keep_what_is_stored()
        raise
    finally:
        run.upload.close()


class _Run:
    """One run of a transfer: its upload, its hash, the checkpoints of the parts it stores."""

    def __init__(self, s3: Any, bucket: str, key: str, start: Checkpoint,
                 max_bytes: int | None, max_workers: int,
                 on_checkpoint: Callable[[Checkpoint], None] | None) -> None:
        self.saved = start
        self.max_bytes = max_bytes
        self.on_checkpoint = on_checkpoint
        self.resumable = can_resume()
        saved = file_hashes.SavedState(start.sha1, start.sha256) if start.parts else None
        self.hasher = file_hashes.FileHashes(saved, resumable=self.resumable)  # first: may refuse
        self.upload = MultipartUpload(s3, bucket, key, start.part_size, upload_id=start.upload_id,
                                      max_workers=max_workers)
        self.parts = start.parts                 # parts handed to the upload
        self.states: dict[int, file_hashes.SavedState] = {}  # part -> hashes after it, until stored
        self.stored: set[int] = set()            # parts stored but not yet checkpointed
        self.part_crc32 = 0                      # of the part being filled, so far

    def pump(self, read_into: ReadInto, stop_at: float | None,
             clock: Callable[[], float],
             on_progress: Callable[[int], None] | None) -> TransferResult:
        total = self.saved.offset
        part_size = self.saved.part_size
        buffer, filled = self.upload.free_buffer(), 0
        while True:
            count = self._read(read_into, buffer, filled, min(filled + READ_BYTES, part_size))
            if count == 0:
                return self._finish(buffer, filled, total)
            filled += count
            total += count
            if self.max_bytes is not None and total > self.max_bytes:
                raise TransferTooLarge(self.max_bytes)
            if on_progress is not None:
                on_progress(total)
            if filled < part_size:
                continue
            self._add_part(buffer)
            buffer, filled = self.upload.free_buffer(), 0
            self._checkpoint(self.upload.done())
            if stop_at is not None and self.resumable and clock() >= stop_at:
                self._checkpoint(self.upload.wait())
                self.upload.stop()
                return TransferResult(False, self.saved, self.saved.offset)

    def keep_what_is_stored(self) -> None:
        """After a failure: checkpoint the parts in flight that do get stored, so that a retry
        resumes as late as it can (best effort: the original error is what counts)."""
        try:
            self._checkpoint(self.upload.wait())
        except Exception:
            log.info("parts in flight were not all stored", exc_info=True)

    def _read(self, read_into: ReadInto, buffer: bytearray, start: int, end: int) -> int:
        """One read into `buffer[start:end]`, hashed while it is in the CPU's cache."""
        with memoryview(buffer)[start:end] as space:
            count = read_into(space)
            if count:
                with space[:count] as data:
                    self.hasher.update(data)
                    self.part_crc32 = zlib.crc32(data, self.part_crc32)
        return count

    def _add_part(self, buffer: bytearray) -> None:
        self.parts += 1
        self.upload.add_part(self.parts, buffer, self.part_crc32)
        self.part_crc32 = 0
        if self.resumable:
            self.states[self.parts] = self.hasher.saved()

    def _checkpoint(self, stored: list[int]) -> None:
        """Advance the checkpoint over the parts stored without a gap, and report it. The short
        last part has no saved state: a checkpoint never covers it (a retry sends it again)."""
        self.stored.update(stored)
        parts = self.saved.parts
        while parts + 1 in self.stored and parts + 1 in self.states:
            parts += 1
            self.stored.discard(parts)
        if parts == self.saved.parts or not self.resumable:
            return
        hashed = self.states.pop(parts)
        self.saved = Checkpoint(self.saved.part_size, parts, self.upload.upload_id,
                                hashed.sha1, hashed.sha256)
        for number in [n for n in self.states if n < parts]:
            del self.states[number]
        if self.on_checkpoint is not None:
            self.on_checkpoint(self.saved)

    def _finish(self, buffer: bytearray, filled: int, total: int) -> TransferResult:
        del buffer[filled:]  # the last part's exact size, in place
        if self.upload.started:
            if filled:
                self.parts += 1
                self.upload.add_part(self.parts, buffer, self.part_crc32)
            self.upload.complete()
        else:  # shorter than one part: a single request, no multipart upload to clean up
            self.upload.put_object(buffer, self.part_crc32)
        digests = self.hasher.digests()
        return TransferResult(True, self.saved, total, digests.sha1, digests.sha256)


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


def _initiated_before(item: dict[str, Any], cutoff: datetime) -> bool:
    initiated = item.get("Initiated")
    if not isinstance(initiated, datetime):
        return False  # unknown age: leave it for a later run
    if initiated.tzinfo is None:
        initiated = initiated.replace(tzinfo=UTC)
    return initiated < cutoff
