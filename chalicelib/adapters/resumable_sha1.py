"""SHA-1 whose state can be saved and resumed in another process (a transfer that spans several
step runs hashes each byte once, across runs).

`hashlib` objects cannot be saved. OpenSSL's own `SHA1_Init/Update/Final` keep their whole
state in a plain 96-byte `SHA_CTX` (five 32-bit chaining words, the 64-bit bit count, the
64-byte block buffer and its fill), the same layout in OpenSSL 1.0, 1.1 and 3; its bytes are
the saved state. The functions are taken from the libcrypto that Python's own `_hashlib` is
linked against (already loaded in this process), so nothing extra ships with the app and the
speed is hashlib's: the work happens in the same C code.

`available()` is False where no usable libcrypto is found; transfers then hash with hashlib
and cannot be resumed (they run as one step, as a source without HTTP Range does).
"""
from __future__ import annotations

import base64
import ctypes
import ctypes.util
import functools
import re
from typing import Any

CTX_SIZE = 96
_STATE_PREFIX = "openssl-sha1-v1:"


class ResumableSha1:
    """`update()` bytes, `state()` to save, `ResumableSha1(state)` to resume, `hexdigest()`."""

    def __init__(self, state: str | None = None) -> None:
        self._lib = _libcrypto()
        if self._lib is None:
            raise RuntimeError("no libcrypto with SHA1_Init/Update/Final in this process")
        self._ctx = ctypes.create_string_buffer(CTX_SIZE)
        if state is None:
            if self._lib.SHA1_Init(self._ctx) != 1:
                raise RuntimeError("SHA1_Init failed")
        else:
            self._ctx.raw = _decode(state)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        if not view.c_contiguous:
            view = memoryview(view.tobytes())
        if view.readonly:  # bytes: its own storage when the view is all of it
            whole = isinstance(view.obj, bytes) and view.nbytes == len(view.obj)
            pointer: Any = ctypes.c_char_p(view.obj if whole else view.tobytes())  # type: ignore[arg-type]
        else:
            pointer = (ctypes.c_char * view.nbytes).from_buffer(view)
        if self._lib.SHA1_Update(self._ctx, pointer, ctypes.c_size_t(view.nbytes)) != 1:
            raise RuntimeError("SHA1_Update failed")

    def state(self) -> str:
        """The whole hashing state, as text (about 130 characters)."""
        return _STATE_PREFIX + base64.b64encode(self._ctx.raw).decode()

    def hexdigest(self) -> str:
        """The digest of everything hashed so far (the object can go on afterwards)."""
        ctx = ctypes.create_string_buffer(self._ctx.raw, CTX_SIZE)
        digest = ctypes.create_string_buffer(20)
        if self._lib.SHA1_Final(digest, ctx) != 1:
            raise RuntimeError("SHA1_Final failed")
        return digest.raw.hex()


def available() -> bool:
    return _libcrypto() is not None


def _decode(state: str) -> bytes:
    if not state.startswith(_STATE_PREFIX):
        raise ValueError("not a saved SHA-1 state")
    raw = base64.b64decode(state[len(_STATE_PREFIX):], validate=True)
    if len(raw) != CTX_SIZE:
        raise ValueError("a saved SHA-1 state has 96 bytes")
    return raw


@functools.lru_cache(maxsize=1)
def _libcrypto() -> Any:
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            for name in ("SHA1_Init", "SHA1_Update", "SHA1_Final"):
                getattr(lib, name)
        except (OSError, AttributeError):
            continue
        lib.SHA1_Init.argtypes = [ctypes.c_char_p]
        lib.SHA1_Update.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
        lib.SHA1_Final.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        for function in (lib.SHA1_Init, lib.SHA1_Update, lib.SHA1_Final):
            function.restype = ctypes.c_int
        if _known_answer(lib):
            return lib
    return None


def _candidates() -> list[str]:
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
    return found


def _known_answer(lib: Any) -> bool:
    """The library computes SHA-1("abc") as FIPS 180 says."""
    ctx = ctypes.create_string_buffer(CTX_SIZE)
    digest = ctypes.create_string_buffer(20)
    ok = (lib.SHA1_Init(ctx) == 1 and lib.SHA1_Update(ctx, b"abc", 3) == 1
          and lib.SHA1_Final(digest, ctx) == 1)
    return ok and digest.raw.hex() == "a9993e364706816aba3e25717850c26c9cd0d89d"
