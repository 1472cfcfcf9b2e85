"""Debian's `minisign`, run from the tests: keys made by `minisign -G`, signatures by
`minisign -S` (prehashed "ED" by default, legacy "Ed" with `legacy=True`), checks by
`minisign -V`. `make test` installs it when missing; without it a test fails in CI (env CI
set) and is skipped elsewhere, with one line saying how to get it."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL_HINT = "`minisign` is needed for the signed-image tests: apt-get install minisign"


def tool() -> str:
    path = shutil.which("minisign")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    return path


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool(), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


@dataclass(frozen=True)
class KeyPair:
    public_path: Path
    secret_path: Path

    @property
    def public_text(self) -> str:
        return self.public_path.read_text()

    @property
    def public_line(self) -> str:
        return self.public_text.strip().splitlines()[1]

    @property
    def printed_id(self) -> str:
        """As minisign prints it at the end of the public key's comment: `%llX`, so an id
        with leading zero digits is printed shorter than 16."""
        return self.public_text.splitlines()[0].rsplit(" ", 1)[1]

    @property
    def key_id(self) -> str:
        """The id as the service shows it: always 16 digits."""
        return self.printed_id.zfill(16)


def new_key_pair(folder: Path) -> KeyPair:
    """`minisign -G -W`: a key pair without a password."""
    folder.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(folder / "minisign.pub", folder / "minisign.key")
    done = _run("-G", "-W", "-p", str(pair.public_path), "-s", str(pair.secret_path))
    assert done.returncode == 0, done.stderr
    return pair


def sign(pair: KeyPair, message: Path, *, trusted_comment: str | None = None,
         legacy: bool = False) -> str:
    """The .minisig text `minisign -S` writes for the file."""
    out = message.with_name(message.name + (".legacy" if legacy else "") + ".minisig")
    args = ["-S", "-s", str(pair.secret_path), "-m", str(message), "-x", str(out)]
    if legacy:
        args.append("-l")
    if trusted_comment is not None:
        args += ["-t", trusted_comment]
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    return out.read_text()


def verifies(pair: KeyPair, message: Path, signature_text: str) -> bool:
    """`minisign -V`: does the tool accept this signature of the file with this key?"""
    sig = message.with_name(message.name + ".check.minisig")
    sig.write_text(signature_text)
    return _run("-V", "-p", str(pair.public_path), "-m", str(message), "-x",
                str(sig)).returncode == 0
