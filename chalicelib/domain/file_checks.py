"""Whether a stored file is the one its manifest announced (`files[0]`): size, then digest.

One rule for every way a file arrives (a URL import, an upload, ...), so a further digest
(SHA-256, SPEC §4.14) is added here, beside SHA-1, once.
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


def mismatch(expected: dict[str, Any], size: int, sha1: str) -> StepError | None:
    """The esimg error for a file of `size` bytes with this SHA-1, or None when it matches."""
    error = size_error(expected, size)
    if error is not None:
        return error
    if expected.get("sha1") and str(expected["sha1"]).lower() != sha1:
        return StepError(task_texts.RC_IMAGE_FILE,
                         task_texts.checksum_mismatch(str(expected["sha1"]).lower(), sha1))
    return None
