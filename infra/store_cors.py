"""The store's CORS rule: the console's browser PUTs upload parts straight to presigned store
URLs (SPEC §4.13, §13), from the console's origin. One rule, written once, for the template
and for the local stack's bucket.

Deployed, the console is served by the API (`https://<api id>.execute-api.<region>.amazonaws.com
/<stage>/console/`). The bucket cannot name the API's id (the API's function names the bucket:
a cycle), so the rule admits the region's execute-api hosts, plus `ConsoleOrigin` for a custom
domain. The presigned URL stays the credential: CORS only lets a browser page use it.
"""
from __future__ import annotations

from typing import Any

METHODS = ["PUT"]
HEADERS = ["content-type", "x-amz-checksum-crc32"]  # what a part PUT may carry
EXPOSE = ["ETag"]
MAX_AGE_SECONDS = 3000
HAS_CONSOLE_ORIGIN = "HasConsoleOrigin"


def bucket_rules(origins: list[str]) -> dict[str, Any]:
    """For S3's PutBucketCors (the local stack's bucket)."""
    return {"CORSRules": [{"AllowedMethods": METHODS, "AllowedOrigins": origins,
                           "AllowedHeaders": HEADERS, "ExposeHeaders": EXPOSE,
                           "MaxAgeSeconds": MAX_AGE_SECONDS}]}


def configuration() -> dict[str, Any]:
    """The bucket's `CorsConfiguration` in the template."""
    return {"CorsRules": [{
        "AllowedMethods": METHODS, "AllowedHeaders": HEADERS, "ExposedHeaders": EXPOSE,
        "MaxAge": MAX_AGE_SECONDS,
        "AllowedOrigins": [
            {"Fn::Sub": "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
            {"Fn::If": [HAS_CONSOLE_ORIGIN, {"Ref": "ConsoleOrigin"}, {"Ref": "AWS::NoValue"}]}]}]}


PARAMETERS = {
    "ConsoleOrigin": {
        "Type": "String", "Default": "", "AllowedPattern": r"^$|^https://[A-Za-z0-9.-]+(:[0-9]+)?$",
        "Description": "The operators' console's origin when the API has a custom domain "
                       "(https://host): the browser PUTs upload parts to the store from it. "
                       "Empty: only the API's own execute-api address"},
}
CONDITIONS = {HAS_CONSOLE_ORIGIN: {"Fn::Not": [{"Fn::Equals": [{"Ref": "ConsoleOrigin"}, ""]}]}}
