"""The app on a versioned image store, as the deploy template makes it (issue 18.10).

The template turns on bucket versioning; the app deletes without version IDs and lists current
objects only. Here the app runs against a versioned bucket of the emulator: a deleted image
and a removed orphan are gone for the app (delete markers), their data stays as noncurrent
versions (which the template's lifecycle rule expires), and the cleanup does not mistake a
noncurrent version for an orphan.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.services.maintenance import cleanup
from tests.integration.workflow_support import start_import, wait_task
from tests.support import Api

CONTENT = b"versioned-image" * 50000


@pytest.fixture
def versioned(server, settings_override):
    """The app's store is a versioned bucket for this test (the stack's own is not)."""
    s3 = boto3.client("s3")
    bucket = f"{server.bucket}-versioned"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    settings_override(IMAGE_STORE_BUCKET=bucket)
    yield bucket
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    s3.delete_bucket(Bucket=bucket)


def _current(bucket: str) -> list[str]:
    return sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(
        Bucket=bucket).get("Contents", []))


def _versions(bucket: str) -> tuple[list[str], list[str]]:
    """(keys with a noncurrent version, keys whose latest version is a delete marker)"""
    page = boto3.client("s3").list_object_versions(Bucket=bucket)
    return (sorted(v["Key"] for v in page.get("Versions", []) if not v["IsLatest"]),
            sorted(m["Key"] for m in page.get("DeleteMarkers", []) if m["IsLatest"]))


def test_a_deleted_image_is_gone_and_its_versions_stay(server, versioned, files):
    admin = Api(server.api_url, server.admin_key)
    task_id, manifest = start_import(admin, files, "img1", CONTENT)
    assert wait_task(admin, task_id).status_code == 200
    keys = [f"images/{manifest['uuid']}/file", f"images/{manifest['uuid']}/manifest"]
    assert _current(versioned) == keys
    task_id = admin.delete("/image/img1").json()["task_id"]
    assert wait_task(admin, task_id).status_code == 200
    assert admin.get("/image/img1").status_code == 404
    assert _current(versioned) == []
    assert _versions(versioned) == (keys, keys)  # kept until the lifecycle rule expires them
    # the name can be used again at once
    task_id, _ = start_import(admin, files, "img1", CONTENT)
    assert wait_task(admin, task_id).status_code == 200


def test_the_cleanup_removes_orphans_once(server, versioned, settings_override):
    s3 = boto3.client("s3")
    orphan = f"images/{uuid.uuid4()}/file"
    s3.put_object(Bucket=versioned, Key=orphan, Body=b"x")
    settings_override(CLEANUP_GRACE_SECONDS=0)
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert cleanup.run(now=later).orphans_deleted == [orphan]
    assert _current(versioned) == []
    assert _versions(versioned) == ([orphan], [orphan])
    # a noncurrent version and its delete marker are not objects: nothing left to delete
    assert cleanup.run(now=later).orphans_deleted == []
