"""The digests of a stored file, computed in one pass (SPEC §4.14): SHA-1 (IMGAPI's) and
SHA-256, each with a state that can be saved between step runs (resumable_digest), or plain
hashlib where no usable libcrypto is found (then nothing can be saved).

A state saved before SHA-256 existed holds SHA-1 only: `FileHashes.resumes()` says so, and the
caller starts such a file over rather than finish it with an unknown SHA-256.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters import resumable_digest


@dataclass(frozen=True)
class Digests:
    sha1: str
    sha256: str


@dataclass(frozen=True)
class SavedState:
    sha1: str | None
    sha256: str | None

    def complete(self) -> bool:
        """Both states are there (a checkpoint of an older version has SHA-1's only)."""
        return bool(self.sha1 and self.sha256)


def can_save() -> bool:
    return resumable_digest.available()


class FileHashes:
    """`update()` with every byte of the file once; `saved()` between runs; `digests()`."""

    def __init__(self, saved: SavedState | None = None, *, resumable: bool = True) -> None:
        self.resumable = resumable and can_save()
        if saved is not None and not saved.complete():
            raise ValueError("a saved hashing state without SHA-256 cannot be resumed")
        if self.resumable:
            self._sha1: Any = resumable_digest.ResumableSha1(saved.sha1 if saved else None)
            self._sha256: Any = resumable_digest.ResumableSha256(saved.sha256 if saved else None)
        else:
            if saved is not None:
                raise ValueError("a saved hashing state needs the resumable digests")
            self._sha1, self._sha256 = hashlib.sha1(), hashlib.sha256()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._sha1.update(data)
        self._sha256.update(data)

    def saved(self) -> SavedState:
        if not self.resumable:
            raise RuntimeError("hashlib's state cannot be saved")
        return SavedState(self._sha1.state(), self._sha256.state())

    def digests(self) -> Digests:
        return Digests(self._sha1.hexdigest(), self._sha256.hexdigest())
