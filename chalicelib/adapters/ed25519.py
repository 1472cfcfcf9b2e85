"""Ed25519 signature checks, from `cryptography` (its OpenSSL build).

The library is imported inside `verify`, on the first signature checked, never at cold start:
`import app` stays without it (tests/integration/test_cold_start.py keeps the rule).
"""
from __future__ import annotations


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is `public_key`'s Ed25519 signature of `message`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
