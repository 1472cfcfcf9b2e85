"""Password hashes (chalicelib.domain.passwords): scrypt, salted, self-describing."""
from __future__ import annotations

import hashlib
import re

import pytest

from chalicelib.domain import passwords


def test_round_trip():
    stored = passwords.hash_password("correct horse battery staple")
    assert "correct horse" not in stored
    assert passwords.verify_password("correct horse battery staple", stored)


def test_wrong_password_does_not_verify():
    stored = passwords.hash_password("s3cret")
    for wrong in ("s3cret ", "S3cret", "s3cre", "", "x" * 2000):
        assert not passwords.verify_password(wrong, stored), wrong


def test_format_is_self_describing_and_matches_scrypt():
    stored = passwords.hash_password("pw")
    match = re.fullmatch(r"scrypt\$(\d+)\$(\d+)\$(\d+)\$([0-9a-f]{32})\$([0-9a-f]{64})", stored)
    assert match, stored
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    assert (n, r, p) == (2 ** 14, 8, 1)
    expected = hashlib.scrypt(b"pw", salt=bytes.fromhex(match.group(4)), n=n, r=r, p=p, dklen=32)
    assert expected.hex() == match.group(5)


def test_salt_differs_each_time():
    first, second = passwords.hash_password("same"), passwords.hash_password("same")
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]
    assert passwords.verify_password("same", first) and passwords.verify_password("same", second)


def test_stored_parameters_are_read_from_the_string():
    cheaper = passwords.hash_password("pw", n=2 ** 10, r=4, p=2)
    assert cheaper.startswith("scrypt$1024$4$2$")
    assert passwords.verify_password("pw", cheaper)
    assert not passwords.verify_password("pw2", cheaper)


@pytest.mark.parametrize("stored", [
    None, "", "pw", "md5$1$2$3$00$00", "scrypt$16384$8$1$zz$00",
    "scrypt$16383$8$1$00112233$" + "00" * 32,          # n not a power of two
    "scrypt$4194304$8$1$00112233$" + "00" * 32,        # n beyond what may be asked for
    "scrypt$16384$8$1$$" + "00" * 32,                  # no salt
    "scrypt$16384$8$1$00112233$0011",                  # short hash
])
def test_no_or_malformed_hash_never_verifies(stored):
    assert not passwords.verify_password("pw", stored)
    if stored:
        assert not passwords.is_valid_hash(stored)


def test_empty_or_overlong_passwords_are_refused():
    with pytest.raises(ValueError):
        passwords.hash_password("")
    with pytest.raises(ValueError):
        passwords.hash_password("x" * (passwords.MAX_PASSWORD_CHARS + 1))
