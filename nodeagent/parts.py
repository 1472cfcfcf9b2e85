"""How an export is cut into parts, and how fast it may go.

S3 allows 10,000 parts per upload, of 5 MiB to 5 GiB (the last may be smaller). Parts start at
the configured size and double every 900 parts, so memory stays small for ordinary exports and
10,000 parts still hold more than 5 TiB whatever the starting size:
  5 MiB first parts: 9.3 TiB; 8 MiB (the default): 11.9 TiB.
"""
from __future__ import annotations

import threading
import time

MIB = 1 << 20
MAX_PART = 5 * 1024 * MIB
MAX_PARTS = 10_000
DOUBLING = 900


def part_size(number: int, first: int) -> int:
    """The size of part `number` (1-based) of an export whose first part has `first` bytes."""
    return min(MAX_PART, first << ((number - 1) // DOUBLING))


def capacity(first: int) -> int:
    """What 10,000 parts hold."""
    return sum(part_size(n, first) for n in range(1, MAX_PARTS + 1))


class Bandwidth:
    """A token bucket over all of the agent's uploads (`rate` bytes/s; 0: unlimited). Callers
    take what they are about to send and sleep while the bucket is short."""

    def __init__(self, rate: float, burst_seconds: float = 1.0) -> None:
        self.rate = rate
        self.capacity = rate * burst_seconds
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self, count: int) -> None:
        if self.rate <= 0:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= min(count, self.capacity):
                    self.tokens -= count
                    return
                wait = (min(count, self.capacity) - self.tokens) / self.rate
            time.sleep(wait)


class Throttled:
    """A part's bytes as a file for `requests` (its length known, so it is sent with
    Content-Length), read in blocks that each wait for the bandwidth."""

    def __init__(self, data: bytes | bytearray | memoryview, bandwidth: Bandwidth,
                 block: int = 256 * 1024) -> None:
        self.view = memoryview(data)
        self.bandwidth = bandwidth
        self.block = block
        self.offset = 0

    def __len__(self) -> int:
        return len(self.view) - self.offset

    def read(self, size: int = -1) -> bytes:
        size = self.block if size is None or size < 0 else min(size, self.block)
        chunk = self.view[self.offset:self.offset + size]
        self.offset += len(chunk)
        self.bandwidth.take(len(chunk))
        return bytes(chunk)
