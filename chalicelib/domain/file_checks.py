"""Whether a stored file is the one its manifest announced (`files[0]`): size, then SHA-1, then
SHA-256 (SPEC §4.14), each checked when the manifest names it.

One rule for every way a file arrives (a URL import, an upload, a reused identical file).
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import task_texts
from chalicelib.domain.task_results import StepError


def size_error(expected: dict[str, Any], size: int) -> StepError | None:
    """The esimg error for a file of `size` bytes, or None when the manifest allows it."""
    if expected.get("size") is not None and int(expected["size"]) != size:
        return StepError(task_texts.RC_IMAGE_FILE,
                         task_texts.size_mismatch(int(expected["size"]), size))
    return None


def mismatch(expected: dict[str, Any], size: int, sha1: str,
             sha256: str | None) -> StepError | None:
    """The esimg error for a file of `size` bytes with these digests, or None when it matches.
    An unknown `sha256` (None) cannot match a SHA-256 the manifest names."""
    error = size_error(expected, size)
    if error is not None:
        return error
    for name, actual in (("sha1", sha1), ("sha256", sha256)):
        wanted = str(expected.get(name) or "").lower()
        if wanted and wanted != actual:
            return StepError(task_texts.RC_IMAGE_FILE,
                             task_texts.checksum_mismatch(wanted, str(actual)))
    return None
