#!/usr/bin/env python3
"""A stand-in for `zfs` on the local stack's "compute node" and in tests (standard library only).

Only `zfs send [options] <filesystem>@<snapshot>` is understood: it writes deterministic bytes
to stdout, shaped by a JSON file in the directory named by FAKE_ZFS_DIR — `<snapshot>.json`,
else `default.json`, else the built-in default (4 MiB, half compressible):

    {"size": 16777216,        bytes to write
     "rate": 0,               bytes per second (0: as fast as the reader takes them)
     "random": false,         true: incompressible bytes (a gzip stream as large as the input)
     "fail_at": null,         after this many bytes: print "stderr" and exit with "exit"
     "exit": 1,
     "stderr": "cannot send ...: I/O error",
     "hang_at": null}         after this many bytes: stop writing and never exit

Everything else exits 2 with a usage message, like zfs does for what it does not know.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time

BLOCK = 64 * 1024
DEFAULT = {"size": 4 << 20, "rate": 0, "random": False, "fail_at": None, "exit": 1,
           "stderr": "cannot send snapshot: I/O error", "hang_at": None}


def control(snapshot: str) -> dict:
    directory = os.environ.get("FAKE_ZFS_DIR", "")
    for name in (f"{snapshot}.json", "default.json"):
        path = os.path.join(directory, name) if directory else ""
        if path and os.path.exists(path):
            with open(path) as handle:
                return {**DEFAULT, **json.load(handle)}
    return dict(DEFAULT)


def blocks(seed: str, incompressible: bool):
    """Endless 64 KiB blocks; by default half of each is a repeated pattern (compressible)."""
    generator = random.Random(hashlib.sha256(seed.encode()).digest())
    while True:
        if incompressible:
            yield generator.randbytes(BLOCK)
        else:
            yield generator.randbytes(BLOCK // 2) + bytes(BLOCK // 2)


def send(source: str) -> int:
    snapshot = source.split("@", 1)[1]
    shape = control(snapshot)
    out = sys.stdout.buffer
    written, started = 0, time.monotonic()
    stops = [limit for limit in (shape["fail_at"], shape["hang_at"]) if limit is not None]
    end = min([shape["size"], *stops])
    for block in blocks(source, shape["random"]):
        if written >= end:
            break
        chunk = block[:end - written]
        out.write(chunk)
        written += len(chunk)
        if shape["rate"]:
            time.sleep(max(0.0, written / shape["rate"] - (time.monotonic() - started)))
    out.flush()
    if shape["hang_at"] is not None and written >= shape["hang_at"]:
        while True:
            time.sleep(3600)
    if shape["fail_at"] is not None and written >= shape["fail_at"]:
        print(shape["stderr"], file=sys.stderr, flush=True)
        return int(shape["exit"])
    return 0


def main(argv: list[str]) -> int:
    sources = [arg for arg in argv[1:] if not arg.startswith("-")]
    if len(argv) < 2 or argv[0] != "send" or len(sources) != 1 or "@" not in sources[0]:
        print("usage: zfs send [-options] <filesystem@snapshot>  (fake zfs: nothing else)",
              file=sys.stderr)
        return 2
    try:
        return send(sources[0])
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
