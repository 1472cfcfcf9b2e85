"""The emulator's S3 checks the checksum a request carries, as S3 does
(devstack/store_checksums.py): a body that does not match is refused with 400 `BadDigest` and
nothing is stored.
`DEVSTACK_STORE_CHECKSUMS=off` (set before the stack starts) shows the refusals failing.
"""
from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devstack.store_checksums import claimed_checksum

BODY = b"the bytes S3 received" * 1000
PART = 5 * 1024 * 1024


def crc32_of(body: bytes) -> str:
    return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


def sha256_of(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def refused(call: Any, **arguments: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(**arguments)
    return info.value.response


@pytest.mark.parametrize(("member", "algorithm", "right", "wrong"), [
    ("ChecksumCRC32", "CRC32", crc32_of(BODY), crc32_of(BODY + b"!")),
    ("ChecksumSHA256", "SHA256", sha256_of(BODY), sha256_of(b"another body")),
], ids=["crc32", "sha256"])
def test_a_put_whose_checksum_does_not_match_its_body_is_bad_digest(
        s3: Any, bucket: str, member: str, algorithm: str, right: str, wrong: str) -> None:
    answer = refused(s3.put_object, Bucket=bucket, Key="k", Body=BODY, **{member: wrong})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert answer["Error"] == {"Code": "BadDigest", "Message": (
        f"The {algorithm} you specified did not match the calculated checksum.")}
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # nothing stored

    s3.put_object(Bucket=bucket, Key="k", Body=BODY, **{member: right})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY


def test_a_part_whose_crc32_does_not_match_is_refused_and_the_right_one_stored(
        s3: Any, bucket: str) -> None:
    part = bytes(PART)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")
    arguments = {"Bucket": bucket, "Key": "k", "UploadId": upload["UploadId"],
                 "PartNumber": 1, "Body": part, "ChecksumAlgorithm": "CRC32"}
    answer = refused(s3.upload_part, **arguments, ChecksumCRC32=crc32_of(part[1:]))
    assert answer["Error"]["Code"] == "BadDigest"
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload["UploadId"])
    assert listed.get("Parts", []) == []

    s3.upload_part(**arguments, ChecksumCRC32=crc32_of(part))
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload["UploadId"])
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, PART)]


def test_the_checksum_is_read_from_a_header_or_an_aws_chunked_trailer() -> None:
    value = crc32_of(BODY)
    assert claimed_checksum({"X-Amz-Checksum-Crc32": value}, b"") == ("crc32", value)
    assert claimed_checksum({"x-amz-checksum-type": "FULL_OBJECT"}, b"") is None
    chunked = f"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:{value}\r\n\r\n".encode()
    assert claimed_checksum({"x-amz-trailer": "x-amz-checksum-crc32"}, chunked) == (
        "crc32", value)
    assert claimed_checksum({}, chunked) is None  # no trailer announced: the body is data
