"""Presigned store URLs are checked as S3 checks them (README "IAM and presigned URLs in the
local stack"): signature over method, key and every parameter, the signer's secret, expiry.

The URLs are made by the app's own store adapter, signed as the API function signs them.
`DEVSTACK_IAM=off` switches the check off: then every tampering test here fails (200).
"""
from __future__ import annotations

import datetime
import re
import uuid

import boto3
import pytest
import requests

from chalicelib.adapters import store
from devstack.iam import presign
from devstack.iam.acting import acting_as

PART = b"p" * 1024


@pytest.fixture
def image(server):
    """Two stored image files; returns their uuids."""
    s3 = boto3.client("s3")
    uuids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for number, name in enumerate(uuids):
        s3.put_object(Bucket=server.bucket, Key=store.file_key(name), Body=b"file %d" % number)
    return uuids


@pytest.fixture
def upload(server):
    """An export's multipart upload (two of them); returns [(task id, upload id), ...]."""
    made = []
    for _ in range(2):
        task_id = f"eu-{uuid.uuid4()}"
        made.append((task_id, store.start_upload(task_id)))
    yield made
    for task_id, upload_id in made:
        boto3.client("s3").abort_multipart_upload(Bucket=server.bucket,
                                                  Key=store.upload_key(task_id),
                                                  UploadId=upload_id)


def _refusal(response: requests.Response) -> str:
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/xml"
    found = re.search(r"<Code>([^<]+)</Code>", response.text)
    assert found, response.text
    return found.group(1)


def _download_url(name: str, expires: int = 300) -> str:
    with acting_as("APIHandler"):
        return store.presign_download(name, expires)


def _part_url(task_id: str, upload_id: str, number: int) -> str:
    with acting_as("APIHandler"):
        return store.presign_part(task_id, upload_id, number, 300)


def test_a_download_url_reads_its_own_key_only(image):
    url = _download_url(image[0])
    assert requests.get(url, timeout=10).content == b"file 0"
    other = url.replace(image[0], image[1])
    assert _refusal(requests.get(other, timeout=10)) == "SignatureDoesNotMatch"


def test_a_part_url_puts_its_own_part_number_only(upload):
    task_id, upload_id = upload[0]
    url = _part_url(task_id, upload_id, 1)
    assert requests.put(url, data=PART, timeout=10).status_code == 200
    other = url.replace("partNumber=1&", "partNumber=2&")
    assert other != url
    assert _refusal(requests.put(other, data=PART, timeout=10)) == "SignatureDoesNotMatch"


def test_a_part_url_puts_into_its_own_upload_only(upload):
    (task_id, upload_id), (_, other_upload) = upload
    url = _part_url(task_id, upload_id, 1)
    other = url.replace(upload_id, other_upload)
    assert other != url
    assert _refusal(requests.put(other, data=PART, timeout=10)) == "SignatureDoesNotMatch"


def test_a_longer_lifetime_is_tampering(upload):
    task_id, upload_id = upload[0]
    url = _part_url(task_id, upload_id, 1)
    longer = url.replace("X-Amz-Expires=300", "X-Amz-Expires=3600")
    assert longer != url
    assert _refusal(requests.put(longer, data=PART, timeout=10)) == "SignatureDoesNotMatch"


def test_an_expired_url_is_refused(image, monkeypatch):
    url = _download_url(image[0], expires=60)
    later = presign.utc_now() + datetime.timedelta(seconds=61)
    monkeypatch.setattr(presign, "clock", lambda: later)   # the store's clock, a minute on
    response = requests.get(url, timeout=10)
    assert _refusal(response) == "AccessDenied"
    assert "<Message>Request has expired</Message>" in response.text


def test_a_put_url_does_not_read(upload):
    task_id, upload_id = upload[0]
    url = _part_url(task_id, upload_id, 1)
    assert _refusal(requests.get(url, timeout=10)) == "SignatureDoesNotMatch"


def test_a_url_signed_with_another_secret_is_refused(image):
    """Signed with the API's key id but not its secret (a forger knows key ids, not secrets)."""
    from botocore.credentials import Credentials
    from botocore.session import get_session

    from devstack.iam import policies
    key, _ = policies.current().credentials("APIHandler")
    session = get_session()
    session._credentials = Credentials(key, "not-the-secret")
    s3 = session.create_client("s3", config=store.s3().meta.config)
    url = s3.generate_presigned_url("get_object", ExpiresIn=60, Params={
        "Bucket": store.bucket(), "Key": store.file_key(image[0])})
    assert _refusal(requests.get(url, timeout=10)) == "SignatureDoesNotMatch"
