"""Password hashes: scrypt (memory-hard, from the standard library) with a random salt.

Stored as one self-describing string, `scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`, so the
cost parameters can be raised later without making stored hashes unreadable. Only the hash
is ever stored; the password itself is neither stored nor logged.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 2 ** 14, 8, 1        # 16 MiB and about 50 ms per hash
SALT_BYTES = 16
HASH_BYTES = 32
MAX_PASSWORD_CHARS = 1024      # longer input is refused, not hashed
# bounds on what a stored string may ask for (a corrupt value must not exhaust a Lambda)
_MAX_MEMORY, _MAX_R, _MAX_P = 64 << 20, 32, 16


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # surrogatepass: any str a JSON body can carry hashes, none raises
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r,
                          p=p, dklen=HASH_BYTES, maxmem=128 * r * (n + p + 2) + (1 << 20))


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """The storable hash of `password` (a new random salt each time)."""
    if not password:
        raise ValueError("a password must not be empty")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"a password must not be longer than {MAX_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p)
    return f"{SCHEME}${n}${r}${p}${salt.hex()}${digest.hex()}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return None
    if not (n > 1 and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P
            and 128 * r * n <= _MAX_MEMORY and salt and len(digest) == HASH_BYTES):
        return None
    return n, r, p, salt, digest


def is_valid_hash(encoded: str) -> bool:
    return _parse(encoded) is not None


def verify_password(password: str, encoded: str | None) -> bool:
    """Whether `password` matches the stored hash (constant-time compare). No stored hash
    (a user made by a platform event), a malformed one, or an over-long password: False,
    after the same work as a real check, so the answer's timing tells nothing."""
    parsed = _parse(encoded) if encoded else None
    if parsed is None or not password or len(password) > MAX_PASSWORD_CHARS:
        _scrypt(password[:MAX_PASSWORD_CHARS], _dummy_salt(), N, R, P)
        return False
    n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


@functools.cache
def _dummy_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)
