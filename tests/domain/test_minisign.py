"""The minisign formats (chalicelib/domain/minisign.py) against Debian's `minisign`: keys and
signatures it makes parse to what it prints, and the reverse — signatures this format's
understanding makes (key id byte order, prehash, global signature) are accepted by
`minisign -V`, and rejected by it when the trusted comment is changed."""
from __future__ import annotations

import base64
import hashlib
import os

import pytest

from chalicelib.adapters import ed25519
from chalicelib.domain import minisign
from tests.minisign_tool import KeyPair, new_key_pair, sign, verifies


@pytest.fixture
def pair(tmp_path) -> KeyPair:
    return new_key_pair(tmp_path / "key")


@pytest.fixture
def message(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_bytes(b'{"uuid": "0b0d6f1c-5b7e-4c1e-9d59-0c1b8f4f5a11", "v": 2}\n')
    return path


def test_a_public_key_parses_whole_or_as_its_line(pair):
    whole = minisign.parse_public_key(pair.public_text)
    assert whole.key_id == pair.key_id and minisign.normalized_key_id(whole.key_id) == whole.key_id
    assert whole.line == pair.public_line
    assert whole.comment == f"minisign public key {pair.printed_id}"
    assert len(whole.key) == 32
    line_only = minisign.parse_public_key(pair.public_line + "\n")
    assert (line_only.key_id, line_only.key, line_only.comment) == (whole.key_id, whole.key, "")
    assert minisign.parse_public_key(pair.public_text.replace("\n", "\r\n")) == whole


@pytest.mark.parametrize("legacy", [False, True])
def test_a_signature_parses_and_verifies(pair, message, legacy):
    text = sign(pair, message, trusted_comment="release 1.0", legacy=legacy)
    signature = minisign.parse_signature(text)
    assert signature.algorithm == (minisign.LEGACY if legacy else minisign.PREHASHED)
    assert signature.key_id == pair.key_id
    assert signature.trusted_comment == "release 1.0"
    key = minisign.parse_public_key(pair.public_text).key
    body = message.read_bytes()
    assert ed25519.verify(key, signature.signature, minisign.signed_message(signature, body))
    assert ed25519.verify(key, signature.global_signature, minisign.global_message(signature))
    assert not ed25519.verify(key, signature.signature,
                              minisign.signed_message(signature, body + b" "))


@pytest.mark.parametrize("text", [
    "", "untrusted comment: x\n", "RWQ=", "untrusted comment: a\nRWQ!!!\n",
    "untrusted comment: a\nb\nc\n",
    # a signature's line where a key's belongs
    "untrusted comment: x\nRUSzdR0CT/hCSAL7rKHK9nhsKqm5FG94Nj74qWUl9lyoChBP7KydcbgF0m91O1cvOZQt"
    "pwU+1VORBvXCTn/58M26wUS0Mp8VqAQ=\n",
])
def test_what_is_not_a_public_key(text):
    with pytest.raises(minisign.MalformedKey):
        minisign.parse_public_key(text)


def test_what_is_not_a_signature(pair, message):
    good = sign(pair, message)
    lines = good.splitlines()
    broken = [
        "", good[: len(good) // 2],                                   # truncated
        "\n".join(lines[:3]),                                         # no global signature
        "\n".join([lines[0], lines[1][:-8], *lines[2:]]),             # short signature
        "\n".join([lines[0], "RX" + lines[1][2:], *lines[2:]]),       # unknown algorithm
        "\n".join([lines[0], lines[1], "comment: x", lines[3]]),      # not a trusted comment
        pair.public_text,
    ]
    for text in broken:
        with pytest.raises(minisign.MalformedSignature):
            minisign.parse_signature(text)


def _minisig(key_id: bytes, algorithm: bytes, signature: bytes, comment: str,
             global_signature: bytes) -> str:
    """A .minisig in this format's understanding (the test's own writer)."""
    line = base64.b64encode(algorithm + key_id + signature).decode()
    return (f"untrusted comment: made by the test\n{line}\ntrusted comment: {comment}\n"
            f"{base64.b64encode(global_signature).decode()}\n")


@pytest.mark.parametrize("algorithm", [minisign.PREHASHED, minisign.LEGACY])
def test_the_tool_accepts_what_this_format_makes(tmp_path, message, algorithm):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    secret = Ed25519PrivateKey.generate()
    public = secret.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = os.urandom(8)
    pub = tmp_path / "made.pub"
    pub.write_text(f"untrusted comment: minisign public key {minisign.key_id_text(key_id)}\n"
                   f"{base64.b64encode(minisign.KEY_ALGORITHM + key_id + public).decode()}\n")
    parsed = minisign.parse_public_key(pub.read_text())
    assert parsed.key_id == minisign.key_id_text(key_id) and parsed.key == public

    body = message.read_bytes()
    signed = hashlib.blake2b(body, digest_size=64).digest() \
        if algorithm == minisign.PREHASHED else body
    signature = secret.sign(signed)
    comment = "timestamp:1 file:manifest.json"
    text = _minisig(key_id, algorithm, signature, comment,
                    secret.sign(signature + comment.encode()))
    pair = KeyPair(pub, tmp_path / "none.key")
    assert verifies(pair, message, text)
    # the same signature with another trusted comment: the tool refuses it too
    assert not verifies(pair, message, text.replace(comment, comment + "!"))
    parsed_sig = minisign.parse_signature(text)
    assert minisign.signed_message(parsed_sig, body) == signed
    assert minisign.global_message(parsed_sig) == signature + comment.encode()


@pytest.mark.parametrize("typed,kept", [
    ("0007060504030201", "0007060504030201"), ("7060504030201", "0007060504030201"),
    (" abcdef0123456789 ", "ABCDEF0123456789"), ("1", "0000000000000001"),
    ("", None), ("G", None), ("1" * 17, None), ("12 34", None), ("0x12", None)])
def test_a_typed_key_id_is_normalised_to_16_digits(typed, kept):
    assert minisign.normalized_key_id(typed) == kept
