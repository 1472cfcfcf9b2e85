"""S3's check of the checksum a PutObject or UploadPart carries (moto stores whatever it gets).

S3 computes the checksum a request names (header `x-amz-checksum-<algorithm>`, or the trailer
of an aws-chunked body) over the bytes it received and refuses the request with 400
`BadDigest` if the two differ; moto only echoes the value. The transfer sends the CRC32 it
computed itself while hashing (chalicelib/adapters/transfer.py): without this check a wrong
value would pass here and fail every upload on AWS. `install()` makes the emulator check
CRC32, SHA-1 and SHA-256 (those the standard library computes) before anything is stored; a
checksum of another algorithm passes unchecked, as before.

`DEVSTACK_STORE_CHECKSUMS=off` leaves moto as it is (for showing the check's test failing).
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
import zlib
from collections.abc import Callable
from typing import Any

_installed = False

# S3's names (in the header) and how the standard library computes each
_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "crc32": lambda body: (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big"),
    "sha1": lambda body: hashlib.sha1(body).digest(),
    "sha256": lambda body: hashlib.sha256(body).digest(),
}
_TRAILER = re.compile(rb"x-amz-checksum-(\w+):\s*([A-Za-z0-9+/=]+)")


def enabled() -> bool:
    return os.environ.get("DEVSTACK_STORE_CHECKSUMS", "on").strip().lower() != "off"


def install() -> None:
    """Idempotent; call before the emulator handles requests."""
    global _installed
    if _installed or not enabled():
        return
    _installed = True
    from moto.s3.responses import S3Response
    for name in ("put_object", "upload_part"):
        setattr(S3Response, name, _checked(getattr(S3Response, name)))


def _checked(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(handler)
    def wrapper(self: Any) -> Any:
        claimed = claimed_checksum(self.headers, self.raw_body)
        if claimed is not None:
            check(*claimed, self.body)
        return handler(self)
    return wrapper


def claimed_checksum(headers: Any, raw_body: bytes | None) -> tuple[str, str] | None:
    """The algorithm and base64 value a request names, from its header or its trailer."""
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("x-amz-checksum-") and lowered[15:] not in ("type", "mode"):
            return lowered[15:], value
    if headers.get("x-amz-trailer") and isinstance(raw_body, bytes):
        found = _TRAILER.search(raw_body)
        if found:
            return found.group(1).decode().lower(), found.group(2).decode()
    return None


def check(algorithm: str, claimed: str, body: bytes) -> None:
    """Raise S3's BadDigest if `body` does not have the checksum the request claims."""
    digest = _DIGESTS.get(algorithm)
    if digest is None:
        return  # CRC32C, CRC64NVME: would need a library the emulator does not have
    try:
        matches = base64.b64decode(claimed, validate=True) == digest(bytes(body or b""))
    except binascii.Error:
        matches = False
    if not matches:
        from moto.s3.exceptions import S3ClientError
        raise S3ClientError("BadDigest", f"The {algorithm.upper()} you specified did not "
                                         "match the calculated checksum.")
