"""SHA-1 and SHA-256 whose state is saved by one process and resumed by another
(adapters/resumable_digest): the digest equals hashlib's over the whole input, however it was
split; a SHA-1 state saved by the version before SHA-256 still resumes."""
from __future__ import annotations

import base64
import hashlib
import random
import subprocess
import sys

import pytest

from chalicelib.adapters.resumable_digest import (
    ResumableDigest,
    ResumableSha1,
    ResumableSha256,
    available,
)
from devstack.process import ROOT

DATA = random.Random(1).randbytes(3 * 1024 * 1024 + 17)
KINDS = [pytest.param(ResumableSha1, "sha1", id="sha1"),
         pytest.param(ResumableSha256, "sha256", id="sha256")]


def test_libcrypto_is_found():
    assert available()


@pytest.mark.parametrize("kind, name", KINDS)
def test_a_state_saved_here_is_resumed_in_another_process(kind, name):
    first = kind()
    first.update(DATA[:1_000_003])
    code = ("import sys; from chalicelib.adapters import resumable_digest as r; "
            f"h = r.{kind.__name__}(sys.argv[1]); h.update(sys.stdin.buffer.read()); "
            "print(h.state())")
    resumed = subprocess.run([sys.executable, "-c", code, first.state()], cwd=ROOT,
                             input=DATA[1_000_003:], capture_output=True, check=True)
    finished = kind(resumed.stdout.decode().strip())
    assert finished.hexdigest() == hashlib.new(name, DATA).hexdigest()


@pytest.mark.parametrize("kind, name", KINDS)
@pytest.mark.parametrize("cuts", [[0], [1], [63, 64, 65], [5 * 1024 * 1024]])
def test_any_split_gives_hashlibs_digest(kind, name, cuts):
    hasher, start = kind(), 0
    for cut in [*cuts, len(DATA)]:
        hasher = kind(hasher.state())  # saved and resumed at every cut
        hasher.update(memoryview(DATA)[start:cut])
        start = max(start, cut)
    assert hasher.hexdigest() == hashlib.new(name, DATA).hexdigest()


@pytest.mark.parametrize("kind, name", KINDS)
def test_inputs_of_every_buffer_kind(kind, name):
    hasher = kind()
    hasher.update(b"ab")
    hasher.update(bytearray(b"cd"))
    hasher.update(memoryview(b"xxefxx")[2:4])
    assert hasher.hexdigest() == hashlib.new(name, b"abcdef").hexdigest()


def test_a_sha1_state_of_the_previous_version_resumes():
    """The checkpoints saved before SHA-256 existed: "openssl-sha1-v1:" and the 96-byte
    SHA_CTX (here built by hand: h0..h4 after one block of 64 "a", Nl=512, Nh=0, num=0)."""
    import struct
    block = b"a" * 64
    words = _sha1_compress(block)
    ctx = struct.pack("<5I", *words) + struct.pack("<II", 512, 0) + bytes(64) + struct.pack(
        "<I", 0)
    saved = "openssl-sha1-v1:" + base64.b64encode(ctx).decode()
    hasher = ResumableSha1(saved)
    hasher.update(b"tail")
    assert hasher.hexdigest() == hashlib.sha1(block + b"tail").hexdigest()


@pytest.mark.parametrize("kind, name", KINDS)
def test_a_state_that_is_not_one_is_refused(kind, name):
    with pytest.raises(ValueError):
        kind(f"openssl-{name}-v1:AAAA")
    with pytest.raises(ValueError):
        kind("something else")
    other = ResumableSha256 if kind is ResumableSha1 else ResumableSha1
    with pytest.raises(ValueError):  # one algorithm's state is not the other's
        kind(other().state())
    assert isinstance(kind(), ResumableDigest)


def _sha1_compress(block: bytes) -> list[int]:
    """FIPS 180-4's SHA-1 compression of one block from the initial value (pure Python)."""
    import struct
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    w = list(struct.unpack(">16I", block))
    for t in range(16, 80):
        x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]
        w.append(((x << 1) | (x >> 31)) & 0xFFFFFFFF)
    a, b, c, d, e = h
    for t in range(80):
        if t < 20:
            f, k = (b & c) | (~b & d), 0x5A827999
        elif t < 40:
            f, k = b ^ c ^ d, 0x6ED9EBA1
        elif t < 60:
            f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
        else:
            f, k = b ^ c ^ d, 0xCA62C1D6
        rotated = ((a << 5) | (a >> 27)) & 0xFFFFFFFF
        a, b, c, d, e = ((rotated + f + e + k + w[t]) & 0xFFFFFFFF, a,
                         ((b << 30) | (b >> 2)) & 0xFFFFFFFF, c, d)
    return [(x + y) & 0xFFFFFFFF for x, y in zip(h, [a, b, c, d, e], strict=True)]
