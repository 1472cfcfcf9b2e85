"""SHA-1 and SHA-256 whose state can be saved and resumed in another process (a transfer that
spans several step runs hashes each byte once, across runs).

`hashlib` objects cannot be saved. OpenSSL's own `SHA1_*` and `SHA256_*` (Init/Update/Final)
keep their whole state in a plain struct whose bytes are the saved state: `SHA_CTX` (96 bytes:
five 32-bit chaining words, the 64-bit bit count, the 64-byte block, its fill) and
`SHA256_CTX` (112 bytes: eight chaining words, the bit count, the block, its fill and the
digest length), the same layouts in OpenSSL 1.0, 1.1 and 3. The functions are taken from the
libcrypto that Python's own `_hashlib` is linked against (already loaded in this process), so
nothing extra ships with the app and the speed is hashlib's: the work happens in the same C
code. The two algorithms differ only in the `Algorithm` rows below.

`available()` is False where no usable libcrypto is found; transfers then hash with hashlib
and cannot be resumed (they run as one step, as a source without HTTP Range does).
"""
from __future__ import annotations

import base64
import ctypes
import ctypes.util
import functools
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Algorithm:
    name: str            # hashlib's name
    prefix: str          # OpenSSL's function prefix: <prefix>_Init/Update/Final
    ctx_size: int        # sizeof(<prefix>_CTX)
    digest_size: int
    abc: str             # FIPS 180's digest of b"abc": the library is checked against it

    @property
    def state_prefix(self) -> str:  # "openssl-sha1-v1:" is the SHA-1 checkpoints' since ever
        return f"openssl-{self.name}-v1:"


SHA1 = Algorithm("sha1", "SHA1", 96, 20, "a9993e364706816aba3e25717850c26c9cd0d89d")
SHA256 = Algorithm("sha256", "SHA256", 112, 32,
                   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


class ResumableDigest:
    """`update()` bytes, `state()` to save, `ResumableDigest(algorithm, state)` to resume,
    `hexdigest()`."""

    def __init__(self, algorithm: Algorithm, state: str | None = None) -> None:
        self.algorithm = algorithm
        fns = _functions(algorithm)
        if fns is None:
            raise RuntimeError(f"no libcrypto with {algorithm.prefix}_Init/Update/Final")
        self._fns = fns
        self._ctx = ctypes.create_string_buffer(algorithm.ctx_size)
        if state is None:
            if self._fns.init(self._ctx) != 1:
                raise RuntimeError(f"{algorithm.prefix}_Init failed")
        else:
            self._ctx.raw = _decode(algorithm, state)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        if not view.c_contiguous:
            view = memoryview(view.tobytes())
        if view.readonly:  # bytes: its own storage when the view is all of it
            whole = isinstance(view.obj, bytes) and view.nbytes == len(view.obj)
            pointer: Any = ctypes.c_char_p(view.obj if whole else view.tobytes())  # type: ignore[arg-type]
        else:
            pointer = (ctypes.c_char * view.nbytes).from_buffer(view)
        if self._fns.update(self._ctx, pointer, ctypes.c_size_t(view.nbytes)) != 1:
            raise RuntimeError(f"{self.algorithm.prefix}_Update failed")

    def state(self) -> str:
        """The whole hashing state, as text (about 130-170 characters)."""
        return self.algorithm.state_prefix + base64.b64encode(self._ctx.raw).decode()

    def hexdigest(self) -> str:
        """The digest of everything hashed so far (the object can go on afterwards)."""
        ctx = ctypes.create_string_buffer(self._ctx.raw, self.algorithm.ctx_size)
        digest = ctypes.create_string_buffer(self.algorithm.digest_size)
        if self._fns.final(digest, ctx) != 1:
            raise RuntimeError(f"{self.algorithm.prefix}_Final failed")
        return digest.raw.hex()


class ResumableSha1(ResumableDigest):
    def __init__(self, state: str | None = None) -> None:
        super().__init__(SHA1, state)


class ResumableSha256(ResumableDigest):
    def __init__(self, state: str | None = None) -> None:
        super().__init__(SHA256, state)


def available() -> bool:
    return all(_functions(algorithm) is not None for algorithm in (SHA1, SHA256))


def _decode(algorithm: Algorithm, state: str) -> bytes:
    if not state.startswith(algorithm.state_prefix):
        raise ValueError(f"not a saved {algorithm.name} state")
    raw = base64.b64decode(state[len(algorithm.state_prefix):], validate=True)
    if len(raw) != algorithm.ctx_size:
        raise ValueError(f"a saved {algorithm.name} state has {algorithm.ctx_size} bytes")
    return raw


@dataclass(frozen=True)
class _Functions:
    init: Any
    update: Any
    final: Any


@functools.cache
def _functions(algorithm: Algorithm) -> _Functions | None:
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            fns = _Functions(*(getattr(lib, f"{algorithm.prefix}_{part}")
                               for part in ("Init", "Update", "Final")))
        except (OSError, AttributeError):
            continue
        fns.init.argtypes = [ctypes.c_char_p]
        fns.update.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
        fns.final.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        for function in (fns.init, fns.update, fns.final):
            function.restype = ctypes.c_int
        if _known_answer(algorithm, fns):
            return fns
    return None


@functools.lru_cache(maxsize=1)
def _candidates() -> tuple[str, ...]:
    """The libcrypto hashlib uses first (already mapped into this process), then the system's."""
    import _hashlib  # noqa: F401  (maps its libcrypto into the process)
    found: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                match = re.search(r"(/\S*libcrypto[^/\s]*\.so[^/\s]*)$", line.strip())
                if match and match.group(1) not in found:
                    found.append(match.group(1))
    except OSError:
        pass
    system = ctypes.util.find_library("crypto")
    if system:
        found.append(system)
    return tuple(found)


def _known_answer(algorithm: Algorithm, fns: _Functions) -> bool:
    """The library computes the digest of "abc" as FIPS 180 says."""
    ctx = ctypes.create_string_buffer(algorithm.ctx_size)
    digest = ctypes.create_string_buffer(algorithm.digest_size)
    ok = fns.init(ctx) == 1 and fns.update(ctx, b"abc", 3) == 1 and fns.final(digest, ctx) == 1
    return ok and digest.raw.hex() == algorithm.abc
