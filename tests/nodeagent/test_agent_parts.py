"""How the agent cuts an export into parts and paces it: nodeagent/parts.py."""
from __future__ import annotations

import pytest

from nodeagent import parts
from nodeagent.parts import MIB, Bandwidth, Throttled, capacity, part_size

TIB = 1 << 40


@pytest.mark.parametrize("first_mib", [5, 8, 16, 64])
def test_ten_thousand_parts_hold_at_least_5_tib(first_mib):
    assert capacity(first_mib * MIB) >= 5 * TIB


def test_documented_capacities():
    assert round(capacity(5 * MIB) / TIB, 1) == 9.3
    assert round(capacity(8 * MIB) / TIB, 1) == 11.9


@pytest.mark.parametrize("first_mib", [5, 8, 5120])
def test_every_part_is_within_s3s_limits(first_mib):
    sizes = [part_size(n, first_mib * MIB) for n in range(1, parts.MAX_PARTS + 1)]
    assert min(sizes) >= 5 * MIB and max(sizes) <= 5 * 1024 * MIB
    assert sizes == sorted(sizes)  # never shrink: a part is never smaller than the one before


def test_sizes_double_every_900_parts():
    assert [part_size(n, 5 * MIB) for n in (1, 900, 901, 1800, 1801)] == [
        5 * MIB, 5 * MIB, 10 * MIB, 10 * MIB, 20 * MIB]


class Clock:
    """time.monotonic/time.sleep for Bandwidth: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(parts, "time", made)
    return made


def test_bandwidth_paces_to_its_rate(clock):
    bandwidth = Bandwidth(2 * MIB)  # a burst of one second, then 2 MiB/s
    started = clock.now
    for _ in range(40):
        bandwidth.take(256 * 1024)  # 10 MiB in all
    assert 10 / 2 - 1 <= clock.now - started <= 10 / 2 + 0.01


def test_unlimited_bandwidth_never_waits(clock):
    bandwidth = Bandwidth(0)
    bandwidth.take(1 << 40)
    assert clock.now == 1000.0


def test_throttled_body_reads_everything_in_blocks(clock):
    data = bytes(range(256)) * 4096  # 1 MiB
    body = Throttled(data, Bandwidth(MIB // 2), block=64 * 1024)
    assert len(body) == len(data)
    read = b""
    while chunk := body.read(1 << 20):
        assert len(chunk) <= 64 * 1024
        read += chunk
    assert read == data and len(body) == 0
    assert clock.now - 1000.0 >= 0.99  # 1 MiB at 0.5 MiB/s after a 0.5 MiB burst
