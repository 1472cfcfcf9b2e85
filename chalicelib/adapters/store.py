"""The image store: an S3 bucket holding, per image, `images/<uuid>/file` and `.../manifest`.

Snapshot exports land first under the upload prefix as `uploads/<task id>`.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters import aws
from chalicelib.config import settings


def s3() -> Any:
    return aws.client("s3")


class ObjectDownload:
    """A stored object read from byte `start` (the Download of a store object: same shape as
    an image source's, so one transfer code serves both)."""

    def __init__(self, key: str, start: int, etag: str | None) -> None:
        arguments: dict[str, Any] = {"Bucket": bucket(), "Key": key}
        if start:
            arguments["Range"] = f"bytes={start}-"
        if etag:
            arguments["IfMatch"] = etag  # the object must be the one the last run read
        from botocore.exceptions import ClientError
        self.start = start
        self.accepts_ranges = True
        self.body: Any = None
        self.validator: str | None = etag
        try:
            response = s3().get_object(**arguments)
        except ClientError as exc:
            if aws.error_code(exc) != "InvalidRange":
                raise
            return  # the object ends exactly where the last run stopped
        self.body = response["Body"]
        self.validator = response.get("ETag")

    def read_into(self, view: memoryview) -> int:
        return int(self.body.readinto(view)) if self.body is not None else 0

    def close(self) -> None:
        if self.body is not None:
            self.body.close()


def copy_file(source_uuid: str, target_uuid: str) -> int:
    """Server-side copy of one image's file to another's (multipart for large files); its
    size."""
    s3().copy({"Bucket": bucket(), "Key": file_key(source_uuid)}, bucket(),
              file_key(target_uuid))
    size = object_size(file_key(target_uuid))
    if size is None:
        raise RuntimeError(f"copied file of {target_uuid} is missing")
    return size


def bucket() -> str:
    return settings().image_store_bucket


def image_prefix(uuid: str) -> str:
    return f"images/{uuid}/"


def file_key(uuid: str) -> str:
    return image_prefix(uuid) + "file"


def manifest_key(uuid: str) -> str:
    return image_prefix(uuid) + "manifest"


def upload_key(task_id: str) -> str:
    return settings().upload_prefix + task_id


def put_manifest(uuid: str, manifest: dict[str, Any]) -> None:
    s3().put_object(Bucket=bucket(), Key=manifest_key(uuid), ContentType="application/json",
                    Body=_manifest_body(manifest))


def read_manifest(uuid: str) -> tuple[dict[str, Any], str] | None:
    """The stored manifest and its ETag; None when there is none."""
    from botocore.exceptions import ClientError
    try:
        response = s3().get_object(Bucket=bucket(), Key=manifest_key(uuid))
    except ClientError as exc:
        if aws.error_code(exc) in ("404", "NoSuchKey"):
            return None
        raise
    with response["Body"] as body:
        return json.loads(body.read()), str(response["ETag"])


def replace_manifest(uuid: str, manifest: dict[str, Any], etag: str) -> bool:
    """Write the manifest only over the object of `etag` (S3's conditional PutObject); False
    when the stored one is another by now, or gone."""
    from botocore.exceptions import ClientError
    try:
        s3().put_object(Bucket=bucket(), Key=manifest_key(uuid), IfMatch=etag,
                        ContentType="application/json", Body=_manifest_body(manifest))
    except ClientError as exc:
        if aws.error_code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404",
                                   "ConditionalRequestConflict", "409"):
            return False
        raise
    return True


def _manifest_body(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True).encode()


def object_size(key: str) -> int | None:
    """The object's size, or None when it does not exist."""
    from botocore.exceptions import ClientError
    try:
        return int(s3().head_object(Bucket=bucket(), Key=key)["ContentLength"])
    except ClientError as exc:
        if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def has_object(key: str) -> bool:
    return object_size(key) is not None


def has_image_objects(uuid: str) -> bool:
    """Both the file and the manifest are there (a missing bucket raises, unlike HeadObject,
    which cannot tell a missing bucket from a missing object)."""
    listed = s3().list_objects_v2(Bucket=bucket(), Prefix=image_prefix(uuid))
    keys = {item["Key"] for item in listed.get("Contents", ())}
    return {file_key(uuid), manifest_key(uuid)} <= keys


def delete_keys(keys: list[str]) -> None:
    """Idempotent: deleting what is not there is fine."""
    if keys:
        s3().delete_objects(Bucket=bucket(), Delete={"Objects": [{"Key": k} for k in keys],
                                                    "Quiet": True})


def delete_image_objects(uuid: str) -> None:
    from chalicelib.adapters.transfer import abort_incomplete_uploads
    abort_incomplete_uploads(s3(), bucket(), image_prefix(uuid))
    delete_keys([file_key(uuid), manifest_key(uuid)])


def delete_upload(task_id: str) -> None:
    from chalicelib.adapters.transfer import abort_incomplete_uploads
    abort_incomplete_uploads(s3(), bucket(), upload_key(task_id))
    delete_keys([upload_key(task_id)])


# A caller's file upload asks the store for a CRC32 per part: S3 checks the one a client signed
# into a part's URL (computes it when none was sent) and the completion names each part's.
PART_CHECKSUM = "CRC32"


def start_upload(task_id: str, checksum: str | None = None) -> str:
    """A multipart upload of a snapshot export (its parts come from the node agent) or of a
    caller's file (`checksum`: PART_CHECKSUM)."""
    extra = {"ChecksumAlgorithm": checksum} if checksum else {}
    return str(s3().create_multipart_upload(Bucket=bucket(), Key=upload_key(task_id),
                                            **extra)["UploadId"])


def presign_part(task_id: str, upload_id: str, number: int, expires: int,
                 crc32: str | None = None) -> str:
    """A URL that lets its holder PUT one part of one upload, until it expires; with `crc32`
    (base64) the PUT must send it as `x-amz-checksum-crc32` (signed) and the bytes must match."""
    extra = {"ChecksumCRC32": crc32} if crc32 else {}
    return str(s3().generate_presigned_url(
        "upload_part", ExpiresIn=expires,
        Params={"Bucket": bucket(), "Key": upload_key(task_id), "UploadId": upload_id,
                "PartNumber": number, **extra}))


def export_upload(task_id: str, upload_id: str) -> Any:
    """The export's multipart upload (adapters.multipart), to list and complete it."""
    from chalicelib.adapters.multipart import MIN_PART_SIZE, MultipartUpload
    return MultipartUpload(s3(), bucket(), upload_key(task_id), MIN_PART_SIZE,
                           upload_id=upload_id, max_workers=1)


def presign_download(uuid: str, expires: int = 300) -> str:
    return str(s3().generate_presigned_url("get_object", ExpiresIn=expires,
                                           Params={"Bucket": bucket(), "Key": file_key(uuid)}))
