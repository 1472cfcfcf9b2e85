"""The SHA-256 backfill (`./imagectl image digest --all | NAME`, SPEC §4.14): images stored
before files got a SHA-256 gain it, computed from their file in the store.

- streaming: the file is read once with ranged GETs (`IfMatch` its ETag) and hashed on the way;
  memory stays flat whatever its size. Its SHA-1 is computed in the same pass and must equal
  the recorded one, or nothing is written (a store object that is not the image's file is a
  finding for the operator, never a digest to record).
- resumable: after every `save_every` bytes the hashing states and the offset are saved, one
  checkpoint per image (a guard item `digest#sha256#<uuid>`); a run that was killed continues
  from there, as long as the object is still the one it read (same ETag).
- idempotent: an image that has its SHA-256 is not read again.
- never against an update: the stored manifest is read first (it must be the record's), the
  record is written under the condition that it did not change meanwhile, and only then the
  stored manifest, over the object read (S3's `If-Match`). An update that starts after the
  record write builds on the new manifest and its own write wins (ours then finds another
  object and writes nothing); one that started before made the record write fail. A crash
  between the two writes leaves the record ahead of the store: the next run, finding the
  SHA-256 known, puts the record's manifest in the store the same careful way.
- only images at rest (status ok) with a file; a pending one is left to its own task.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters import file_hashes, store
from chalicelib.adapters.aws import error_code
from chalicelib.domain.manifest import file_sha256
from chalicelib.domain.vocabulary import ImageStatus
from chalicelib.persistence.conditional import conditional_update
from chalicelib.persistence.models import Guard, Image, get_or_none

CHECKPOINT = "digest#sha256#"  # + image uuid: JSON {etag, offset, sha1, sha256}
CHUNK = 8 << 20                # bytes per read (the buffer is reused)
SAVE_EVERY = 256 << 20         # bytes between checkpoints


class NoSuchImage(LookupError):
    """The operator named an image that is not stored."""


@dataclass
class Report:
    images: int = 0                 # looked at
    filled: int = 0                 # gained their SHA-256 in this run
    known: int = 0                  # had it already
    skipped: list[str] = field(default_factory=list)    # "name: why" (run again later)
    problems: list[str] = field(default_factory=list)   # "name: what is wrong" (look at it)
    bytes_read: int = 0
    resumed: int = 0                # images continued from a checkpoint
    repaired: list[str] = field(default_factory=list)   # stored manifest caught up (see _one)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def backfill(names: list[str] | None = None, *, progress: Callable[[str], None] = lambda _: None,
             save_every: int = SAVE_EVERY) -> Report:
    """`names`: those images (NoSuchImage for one not stored); None: every image."""
    report = Report()
    images = [_named(name) for name in names] if names is not None else Image.scan()
    progress("computing the SHA-256 of stored files that lack it (resumable: run again after "
             "an interruption) ...")
    for image in images:
        report.images += 1
        _one(image, report, progress, save_every)
    progress(f"done: {report.filled} filled, {report.known} already known, "
             f"{len(report.skipped)} skipped, {len(report.problems)} problems, "
             f"{report.bytes_read} bytes read")
    return report


def _named(name: str) -> Image:
    image = get_or_none(Image, name)
    if image is None:
        raise NoSuchImage(f"image {name} not found")
    return image


def _one(image: Image, report: Report, progress: Callable[[str], None], save_every: int) -> None:
    file = ((image.manifest_active or {}).get("files") or [{}])[0]
    if file_sha256(image.manifest_active):
        report.known += 1
        if _store_behind(image):
            report.repaired.append(image.name)
            progress(f"{image.name}: the stored manifest now has the record's SHA-256")
        return
    if image.status != int(ImageStatus.OK):
        report.skipped.append(f"{image.name}: pending (its task writes the file; run again)")
        return
    if not file.get("sha1"):
        report.skipped.append(f"{image.name}: no file")
        return
    digests = _hash(image, report, progress, save_every)
    if digests is None:
        return
    size, sha1, sha256 = digests
    if (sha1, size) != (str(file["sha1"]).lower(), file.get("size", size)):
        report.problems.append(f"{image.name}: the stored file ({sha1}, {size} bytes) is not "
                               f"the recorded one ({file['sha1']}, {file.get('size')} bytes)")
        return
    if _record(image, sha256):
        Guard(CHECKPOINT + image.uuid).delete()
        report.filled += 1
        progress(f"{image.name}: sha256 {sha256}")
    else:
        report.skipped.append(f"{image.name}: changed meanwhile (run again)")


def _hash(image: Image, report: Report, progress: Callable[[str], None],
          save_every: int) -> tuple[int, str, str] | None:
    """(size, sha1, sha256) of the stored file, from the image's checkpoint if it has one."""
    from botocore.exceptions import ClientError
    key = store.file_key(image.uuid)
    saved = _saved(image.uuid)
    try:
        download = store.ObjectDownload(key, saved["offset"] if saved else 0,
                                        saved["etag"] if saved else None)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            report.problems.append(f"{image.name}: no file in the store")
            return None
        if not saved or error_code(exc) not in ("PreconditionFailed", "412"):
            raise
        saved = None  # the object changed since the checkpoint: from the first byte
        download = store.ObjectDownload(key, 0, None)
    if saved:
        report.resumed += 1
        progress(f"{image.name}: resuming at byte {saved['offset']}")
    try:
        return _read(image, download, saved, report, progress, save_every)
    finally:
        download.close()


def _read(image: Image, download: store.ObjectDownload, saved: dict[str, Any] | None,
          report: Report, progress: Callable[[str], None],
          save_every: int) -> tuple[int, str, str]:
    hashes = file_hashes.FileHashes(
        file_hashes.SavedState(saved["sha1"], saved["sha256"]) if saved else None)
    offset = int(saved["offset"]) if saved else 0
    unsaved, buffer = 0, bytearray(CHUNK)
    total = ((image.manifest_active or {}).get("files") or [{}])[0].get("size")
    while count := download.read_into(memoryview(buffer)):
        hashes.update(memoryview(buffer)[:count])
        offset += count
        unsaved += count
        report.bytes_read += count
        if unsaved >= save_every and hashes.resumable:
            state = hashes.saved()
            Guard(CHECKPOINT + image.uuid, image_name=json.dumps({
                "etag": download.validator, "offset": offset, "sha1": state.sha1,
                "sha256": state.sha256})).save()
            unsaved = 0
            progress(f"{image.name}: {offset} of {total} bytes")
    digests = hashes.digests()
    return offset, digests.sha1, digests.sha256


def _saved(uuid: str) -> dict[str, Any] | None:
    item = get_or_none(Guard, CHECKPOINT + uuid)
    return json.loads(item.image_name) if item is not None else None


def _record(image: Image, sha256: str) -> bool:
    """The record (unchanged since it was read), then the stored manifest: with `sha256`.
    False when the image changed meanwhile (see the module's docstring for the order)."""
    stored = store.read_manifest(image.uuid)
    if stored is None or stored[0] != image.manifest_active:
        return False
    active = _with_sha256(image.manifest_active, sha256)
    actions = [Image.manifest_active.set(active)]
    if image.manifest and image.manifest.get("files") == image.manifest_active.get("files"):
        actions.append(Image.manifest.set(_with_sha256(image.manifest, sha256)))
    if not conditional_update(image, actions, (Image.rev == image.rev) & (
            Image.status == int(ImageStatus.OK)), add_version_condition=False):
        return False
    store.replace_manifest(image.uuid, active, stored[1])  # False: an update's write won
    return True


def _store_behind(image: Image) -> bool:
    """Put the record's manifest in the store if the stored one is another (a run that died
    between its two writes) while the image is at rest; whether it did."""
    stored = store.read_manifest(image.uuid)
    if stored is None or stored[0] == image.manifest_active:
        return False
    try:  # read after the object, consistently (see _record)
        now = Image.get(image.name, consistent_read=True)
    except Image.DoesNotExist:
        return False
    if now.status != int(ImageStatus.OK) or now.uuid != image.uuid \
            or stored[0] == now.manifest_active:
        return False
    return store.replace_manifest(image.uuid, now.manifest_active, stored[1])


def _with_sha256(manifest: dict[str, Any], sha256: str) -> dict[str, Any]:
    files = list(manifest["files"])
    return {**manifest, "files": [{**files[0], "sha256": sha256}, *files[1:]]}
