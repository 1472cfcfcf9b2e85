"""SHA-1 whose state is saved by one process and resumed by another (adapters/resumable_sha1):
the digest equals hashlib's over the whole input, however it was split."""
from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import pytest

from chalicelib.adapters.resumable_sha1 import ResumableSha1, available
from devstack.process import ROOT

DATA = random.Random(1).randbytes(3 * 1024 * 1024 + 17)


def test_libcrypto_is_found():
    assert available()


def test_a_state_saved_here_is_resumed_in_another_process():
    first = ResumableSha1()
    first.update(DATA[:1_000_003])
    code = ("import sys; from chalicelib.adapters.resumable_sha1 import ResumableSha1; "
            "h = ResumableSha1(sys.argv[1]); h.update(sys.stdin.buffer.read()); "
            "print(h.state())")
    resumed = subprocess.run([sys.executable, "-c", code, first.state()], cwd=ROOT,
                             input=DATA[1_000_003:], capture_output=True, check=True)
    finished = ResumableSha1(resumed.stdout.decode().strip())
    assert finished.hexdigest() == hashlib.sha1(DATA).hexdigest()


@pytest.mark.parametrize("cuts", [[0], [1], [63, 64, 65], [5 * 1024 * 1024]])
def test_any_split_gives_hashlibs_digest(cuts):
    hasher, start = ResumableSha1(), 0
    for cut in [*cuts, len(DATA)]:
        hasher = ResumableSha1(hasher.state())  # saved and resumed at every cut
        hasher.update(memoryview(DATA)[start:cut])
        start = max(start, cut)
    assert hasher.hexdigest() == hashlib.sha1(DATA).hexdigest()


def test_inputs_of_every_buffer_kind():
    hasher = ResumableSha1()
    hasher.update(b"ab")
    hasher.update(bytearray(b"cd"))
    hasher.update(memoryview(b"xxefxx")[2:4])
    assert hasher.hexdigest() == hashlib.sha1(b"abcdef").hexdigest()


def test_a_state_that_is_not_one_is_refused():
    with pytest.raises(ValueError):
        ResumableSha1("openssl-sha1-v1:AAAA")
    with pytest.raises(ValueError):
        ResumableSha1("something else")
