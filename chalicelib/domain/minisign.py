"""The minisign formats (public key and signature), parsed without any cryptography.

A public key (`minisign -G`): an optional "untrusted comment: ..." line, then base64 of
"Ed" + 8-byte key id + 32-byte Ed25519 key. A signature (.minisig): "untrusted comment: ...",
base64 of the algorithm ("Ed": the message itself is signed, legacy; "ED": its BLAKE2b-512 is,
minisign >= 0.10's default) + key id + 64-byte signature, "trusted comment: ...", base64 of the
global signature over signature || trusted comment. The key id is shown as minisign prints it:
the 8 bytes as a little-endian number, 16 upper-case hex digits.

Verifying needs Ed25519 and is done in services/images/signatures.py, which imports the library
only when a signature is checked.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

UNTRUSTED_PREFIX = "untrusted comment: "
TRUSTED_PREFIX = "trusted comment: "
KEY_ALGORITHM = b"Ed"
LEGACY = b"Ed"        # the signature is over the message itself
PREHASHED = b"ED"     # the signature is over BLAKE2b-512 of the message
MAX_COMMENT_CHARS = 1024   # minisign's own limit on a comment line is about this size
MAX_SIGNATURE_BYTES = 8 * 1024   # SPEC §4.14's cap on a signature (one is < 1 KiB)

_PUBLIC_KEY_BYTES = 2 + 8 + 32
_SIGNATURE_BYTES = 2 + 8 + 64
_GLOBAL_SIGNATURE_BYTES = 64


class MalformedKey(ValueError):
    """Not a minisign public key."""


class MalformedSignature(ValueError):
    """Not a minisign signature."""


@dataclass(frozen=True)
class PublicKey:
    key_id: str        # 16 upper-case hex digits, as minisign prints it
    line: str          # the base64 line, exactly as `minisign -G` wrote it
    comment: str       # the untrusted comment (without its prefix), "" when none was given
    key: bytes         # the 32-byte Ed25519 public key


@dataclass(frozen=True)
class Signature:
    algorithm: bytes   # LEGACY or PREHASHED
    key_id: str
    signature: bytes   # 64 bytes over the message (or its BLAKE2b-512)
    trusted_comment: str
    global_signature: bytes  # 64 bytes over signature || trusted comment

    @property
    def prehashed(self) -> bool:
        return self.algorithm == PREHASHED


def normalized_key_id(text: str) -> str | None:
    """A key id as the service keeps it (16 upper-case hex digits) from one as a person types
    it: either case, and as minisign prints it (`%llX`: without its leading zeros)."""
    wanted = text.strip().upper()
    if not re.fullmatch(r"[0-9A-F]{1,16}", wanted):
        return None
    return wanted.zfill(16)


def key_id_text(raw: bytes) -> str:
    """minisign prints the 8 id bytes as a little-endian 64-bit number in hex."""
    return raw[::-1].hex().upper()


def _b64(line: str) -> bytes | None:
    try:
        return base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _lines(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.strip().split("\n")]


def parse_public_key(text: str) -> PublicKey:
    """The whole `minisign -G` .pub text, or its base64 line alone."""
    if not isinstance(text, str) or not text.strip():
        raise MalformedKey("empty key")
    lines = [line.strip() for line in _lines(text) if line.strip()]
    comment = ""
    if lines[0].startswith(UNTRUSTED_PREFIX):
        comment = lines.pop(0)[len(UNTRUSTED_PREFIX):]
    if len(lines) != 1:
        raise MalformedKey("expected one base64 line (with an optional untrusted comment line "
                           "before it)")
    if len(comment) > MAX_COMMENT_CHARS:
        raise MalformedKey("the untrusted comment is too long")
    raw = _b64(lines[0])
    if raw is None or len(raw) != _PUBLIC_KEY_BYTES:
        raise MalformedKey("the key line is not the base64 of a minisign public key")
    if raw[:2] != KEY_ALGORITHM:
        raise MalformedKey("not an Ed25519 minisign public key")
    return PublicKey(key_id_text(raw[2:10]), lines[0], comment, raw[10:])


def parse_signature(text: str) -> Signature:
    """A .minisig file's four lines (a trailing newline or CRLF line ends are fine)."""
    if not isinstance(text, str):
        raise MalformedSignature("not text")
    lines = _lines(text)
    if len(lines) != 4 or not lines[0].startswith(UNTRUSTED_PREFIX) \
            or not lines[2].startswith(TRUSTED_PREFIX):
        raise MalformedSignature("expected 4 lines: untrusted comment, signature, trusted "
                                 "comment, global signature")
    raw = _b64(lines[1])
    if raw is None or len(raw) != _SIGNATURE_BYTES or raw[:2] not in (LEGACY, PREHASHED):
        raise MalformedSignature("the signature line is not a minisign signature")
    global_sig = _b64(lines[3])
    if global_sig is None or len(global_sig) != _GLOBAL_SIGNATURE_BYTES:
        raise MalformedSignature("the global signature line is not a minisign signature")
    return Signature(raw[:2], key_id_text(raw[2:10]), raw[10:],
                     lines[2][len(TRUSTED_PREFIX):], global_sig)


def signed_message(signature: Signature, message: bytes) -> bytes:
    """What the signature's Ed25519 covers: the message, or (prehashed) its BLAKE2b-512."""
    if signature.prehashed:
        return hashlib.blake2b(message, digest_size=64).digest()
    return message


def global_message(signature: Signature) -> bytes:
    """What the global signature covers: the signature bytes, then the trusted comment."""
    return signature.signature + signature.trusted_comment.encode("utf-8")
