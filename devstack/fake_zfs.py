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

     "exists": true}          false: the snapshot is missing on this node

Strict as ZFS (OpenZFS's zfs_main.c, libzfs_dataset.c, zfs_namecheck.c), in ZFS's order and
words: an unknown option or a missing or extra operand is a usage error (exit 2); a terminal
on stdout is refused; a name ZFS would not accept fails with `cannot open '<name>': <why>`
(exit 1) — one '@' at most, components of letters, digits and `_-.: ` (`%` too, as ZFS
allows it when opening), no empty, `.` or `..` component, no leading or trailing '/', under
256 bytes; a missing snapshot is `cannot open '<name>': dataset does not exist` (exit 1); and a
filesystem or volume without '@' is refused as ZFS refuses a mounted one (the VM is using it).
Any other subcommand exits 2 with a usage message.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator

BLOCK = 64 * 1024
DEFAULT = {"size": 4 << 20, "rate": 0, "random": False, "fail_at": None, "exit": 1,
           "stderr": "cannot send snapshot: I/O error", "hang_at": None, "exists": True}
MAX_NAME_BYTES = 256  # ZFS_MAX_DATASET_NAME_LEN: a name must be shorter
NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "0123456789-_.: ")
# `zfs send` flags that take no argument (OpenZFS 2.x); the fake ignores what they change
SEND_FLAGS = frozenset("DLPRUVbcehnpsvwS")
SEND_FLAGS_WITH_ARGUMENTS = frozenset("iItdX")
EMPTY_COMPONENT = "empty component or misplaced '@' or '#' delimiter in name"


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


def name_problem(name: str) -> str | None:
    """Why ZFS would not open `name` as a filesystem, volume or snapshot (None: it would):
    libzfs's zfs_validate_name for ZFS_TYPE_DATASET, then entity_namecheck, step by step (the
    first problem found is the one ZFS reports)."""
    if "#" in name:
        return "bookmark delimiter '#' is not expected here"
    if len(name.encode()) >= MAX_NAME_BYTES:
        return "name is too long"
    if name.startswith("/"):
        return "leading slash in name"
    if not name:
        return EMPTY_COMPONENT
    delimited = False
    for start, end in _components(name):
        problem = _component_problem(name, start, end, delimited)
        if problem:
            return problem
        delimited = delimited or (end < len(name) and name[end] in "@#")
    return None


def _components(name: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each component between '/', '@' and '#'."""
    start = 0
    while True:
        end = start
        while end < len(name) and name[end] not in "/@#":
            end += 1
        yield start, end
        if end == len(name):
            return
        start = end + 1


REFERENCES = {".": "self reference, '.' is found in name",
              "..": "parent reference, '..' is found in name"}


def _component_problem(name: str, start: int, end: int, delimited: bool) -> str | None:
    """One turn of entity_namecheck's loop; `delimited`: an '@' came before this component."""
    last = end == len(name)
    after = "" if last else name[end]
    if last and name[end - 1] == "/":
        return "trailing slash in name"
    bad = [c for c in name[start:end] if c not in NAME_CHARACTERS and c != "%"]
    if bad:
        return f"invalid character '{bad[0]}' in name"
    if after in ("", "/") and name[start:end] in REFERENCES:
        return REFERENCES[name[start:end]]
    if after in ("@", "#") and delimited:
        return "multiple '@' and/or '#' delimiters in name"
    if start == end:
        return EMPTY_COMPONENT
    if after == "/" and delimited:
        return "trailing slash in name"
    return None


def usage(problem: str) -> int:
    print(f"{problem}\nusage:\n\tsend [-DLPbcehnpsVvw] <snapshot>\n"
          "(the fake zfs knows `send` of one snapshot and flags without an argument)",
          file=sys.stderr)
    return 2


def refuse(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def send_command(arguments: list[str]) -> int:
    """`zfs send [flags] <name>` as ZFS checks it before any byte is written."""
    operands, refused = _operands(arguments)
    if refused is not None:
        return refused
    if not operands:
        return usage("missing snapshot argument")
    if len(operands) > 1:
        return usage("too many arguments")
    if sys.stdout.isatty():
        return refuse("Error: Stream can not be written to a terminal.\n"
                      "You must redirect standard output.")
    name = operands[0]
    problem = name_problem(name)
    if problem:
        return refuse(f"cannot open '{name}': {problem}")
    if "@" not in name:  # a filesystem or volume: ZFS sends one only while it is unmounted
        return refuse(f"warning: cannot send '{name}': target is busy; if a filesystem, it "
                      "must not be mounted")
    if not control(name.split("@", 1)[1])["exists"]:
        return refuse(f"cannot open '{name}': dataset does not exist")
    try:
        return send(name)
    except BrokenPipeError:
        return 1


def _operands(arguments: list[str]) -> tuple[list[str], int | None]:
    """The operands after the flags, or the usage error's exit status for a flag zfs (or the
    fake) does not take."""
    operands = list(arguments)
    while operands and operands[0].startswith("-") and operands[0] != "-":
        option = operands.pop(0)
        if option == "--":
            break
        for flag in option[1:]:
            if flag in SEND_FLAGS_WITH_ARGUMENTS or option.startswith("--"):
                return [], usage(f"fake zfs: option '{option}' is not supported")
            if flag not in SEND_FLAGS:
                return [], usage(f"invalid option '{flag}'")
    return operands, None


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "send":
        return usage("fake zfs: only `send` is known")
    return send_command(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
