"""An upload's part protocol as the caller sees it (SPEC §4.13): which part URLs it may ask
for at once, and whether the parts the store holds make a file that can be completed. The
store's own rules (adapters.multipart) are the limits: 10,000 parts, every part but the last
at least 5 MiB."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from chalicelib.domain import errors, field_texts
from chalicelib.domain.exports import MAX_PARTS

MAX_URLS_PER_CALL = 100
MIN_PART_BYTES = 5 << 20   # S3: every part but the last (field_texts.part_too_small says so)
FIELD = "parts"
CRC32_FIELD = "crc32"


def wanted_parts(body: dict[str, Any]) -> list[int]:
    """`{"parts": [1, 2, ...]}`: the part numbers asked for (each once, in order)."""
    parts = body.get(FIELD)
    if parts is None:
        raise errors.field_error(FIELD, field_texts.REQUIRED)
    if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_URLS_PER_CALL or not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_PARTS
            for n in parts):
        raise errors.field_error(FIELD, field_texts.PARTS_INVALID)
    return sorted(set(parts))


def part_checksums(body: dict[str, Any], numbers: list[int]) -> dict[int, str]:
    """`{"crc32": {"1": "<base64>", ...}}` (optional, per part asked for): each part's CRC32,
    signed into its URL so the store refuses a part whose bytes do not match it."""
    given = body.get(CRC32_FIELD)
    if given is None:
        return {}
    if not isinstance(given, dict) or not all(
            isinstance(k, str) and k.isdigit() and int(k) in numbers and _is_crc32(v)
            for k, v in given.items()):
        raise errors.field_error(CRC32_FIELD, field_texts.CRC32_INVALID)
    return {int(k): str(v) for k, v in given.items()}


def _is_crc32(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 8:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 4
    except (binascii.Error, ValueError):
        return False


def described(stored: list[dict[str, Any]]) -> dict[str, Any]:
    """What GET /task/<id>/upload/ shows of ListParts: every part's number and size."""
    parts = [{"number": int(p["PartNumber"]), "size": int(p["Size"])} for p in stored]
    return {"parts": parts, "bytes": sum(p["size"] for p in parts)}


def completion_errors(stored: list[dict[str, Any]]) -> list[str]:
    """Why the stored parts cannot be completed into one file (none: they can): parts 1..N
    with no gap, each but the last at least 5 MiB."""
    numbers = [int(p["PartNumber"]) for p in stored]
    if not numbers:
        return [field_texts.NO_PARTS]
    present = set(numbers)
    problems = [field_texts.part_missing(n) for n in range(1, max(numbers)) if n not in present]
    problems += [field_texts.part_too_small(int(p["PartNumber"]), int(p["Size"]))
                 for p in stored[:-1] if int(p["Size"]) < MIN_PART_BYTES]
    return problems[:10]
