"""Make the emulator's S3 GetObject stream an object's bytes, as S3 does.

moto 5.2.5 answers every GetObject with `key.value`: the whole object read into memory (a
Range request too: it slices that copy). Serving a 1 GiB image file to a compute node would
take 1 GiB of the stack's memory per request. `install()` makes GetObject answer with
`StoredBytes`, a view of the object's stored data (moto keeps it in a spooled temporary file)
that moto's range handling can measure and slice and Werkzeug sends chunk by chunk.

`DEVSTACK_EMULATOR_STREAMING=off` leaves moto as it is (for showing the memory test failing).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

CHUNK = 1 << 20
_installed = False
_answering = threading.local()


def enabled() -> bool:
    return os.environ.get("DEVSTACK_EMULATOR_STREAMING", "on").strip().lower() != "off"


class StoredBytes:
    """Bytes `[start, stop)` of a stored object, read from its buffer only when iterated."""

    def __init__(self, key: Any, start: int = 0, stop: int | None = None) -> None:
        self.key = key
        self.start = start
        self.stop = key.size if stop is None else stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, part: slice) -> StoredBytes:
        if not isinstance(part, slice) or part.step not in (None, 1):
            raise TypeError("StoredBytes takes a contiguous slice")
        begin, end, _ = part.indices(len(self))
        return StoredBytes(self.key, self.start + begin, self.start + max(begin, end))

    def __iter__(self) -> Iterator[bytes]:
        position = self.start
        while position < self.stop:
            with self.key.lock:  # one buffer, one file position: seek and read together
                self.key._value_buffer.seek(position)
                chunk = self.key._value_buffer.read(min(CHUNK, self.stop - position))
            if not chunk:
                return
            position += len(chunk)
            yield chunk


def install() -> None:
    """Patch moto's S3 GetObject (idempotent). Call before the server handles requests."""
    global _installed
    if _installed or not enabled():
        return
    _installed = True
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    stored_value = FakeKey.value

    # moto reads `key.value` for the body at the end of GetObject: while this thread answers
    # a GetObject, that read is a view; everywhere else it stays the bytes.
    def value(key: Any) -> Any:
        if getattr(_answering, "get_object", False):
            return StoredBytes(key)
        return stored_value.fget(key)

    FakeKey.value = property(value, stored_value.fset)  # type: ignore[method-assign,assignment]
    original_get_object = S3Response.get_object

    def get_object(self: Any) -> Any:
        _answering.get_object = True
        try:
            return original_get_object(self)
        finally:
            _answering.get_object = False

    S3Response.get_object = get_object  # type: ignore[method-assign]
