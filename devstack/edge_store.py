"""How the local edge reads the image store: one function, its own S3 client.

In AWS, CloudFront reads the bucket through Origin Access Control (its own principal, allowed
by the bucket policy for the distribution only). The local edge reads the emulator's bucket
here and nowhere else, so it can be given a principal of its own the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError


@dataclass
class StoreRead:
    status: int                       # 200, 206; 404 (no such object), 416 (range outside)
    headers: dict[str, str]           # Content-Length, Content-Range, ETag, Last-Modified
    body: Any = None                  # a stream with .read(n) and .close(), when 200/206


def read_store_object(bucket: str, key: str, byte_range: str | None) -> StoreRead:
    """GetObject, passing a viewer's `Range` on as CloudFront does to an S3 origin."""
    arguments: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if byte_range:
        arguments["Range"] = byte_range
    try:
        response = boto3.client("s3").get_object(**arguments)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
        if code in ("NoSuchKey", "NoSuchBucket", "404") or status == 404:
            return StoreRead(404, {})
        if code == "InvalidRange" or status == 416:
            return StoreRead(416, {})
        raise
    raw = response["ResponseMetadata"].get("HTTPHeaders", {})
    headers = {"Content-Length": str(response["ContentLength"])}
    for name, field in (("Content-Range", "content-range"), ("ETag", "etag"),
                        ("Last-Modified", "last-modified")):
        if raw.get(field):
            headers[name] = raw[field]
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return StoreRead(206 if status == 206 else 200, headers, response["Body"])
