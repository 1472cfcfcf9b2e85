"""The IMGAPI base for compute nodes in AWS (SPEC §4.10): a CloudFront distribution.

Image files cannot pass through API Gateway (10 MB) or a Lambda answer (6 MB), so:

- `/imgapi/images/*/file` → the image store, read through Origin Access Control (the bucket
  stays private; its policy lets this distribution, and only it, get `images/*`). A CloudFront
  Function on the viewer request checks the node token — from `ES-NODE-TOKEN`,
  `Authorization: Token` or HTTP Basic's password (what `imgadm` sends for
  `https://node:<token>@host/imgapi`) — against the SHA-256 kept in a CloudFront KeyValueStore
  under `node-token-sha256`, and rewrites the path to the store key `images/<uuid>/file`.
  Ranges are CloudFront's and S3's own. Files are immutable per uuid: cached (the check runs
  before the cache, on every request).
- everything else under `/imgapi/` → API Gateway (origin path = the stage), where the Lambda
  routes of chalicelib/api/imgapi.py check the token (or a user API key) themselves; nothing
  cached, every viewer header but Host forwarded (Authorization included).

The local stack plays the same part with devstack/imgapi_edge.py; `EDGE_FUNCTION_CODE` is
exercised by tests/integration/test_package.py with Node.
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import imgapi

TOKEN_KEY = "node-token-sha256"
# CloudFront's managed policies (ids are fixed by AWS, "Use managed cache policies").
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
FILE_PATTERN = f"{imgapi.BASE_PATH.lstrip('/')}/images/*/file"

# cloudfront-js-2.0. The token rule is chalicelib/domain/imgapi.presented_node_token's.
EDGE_FUNCTION_CODE = r"""import cf from 'cloudfront';
import crypto from 'crypto';

const kvs = cf.kvs();
const FILE = /^BASE\/images\/([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})\/file\/?$/i;

function answer(status, detail) {
    return {statusCode: status, statusDescription: status === 401 ? 'Unauthorized' : 'Not Found',
            headers: {'content-type': {value: 'application/json'}},
            body: JSON.stringify({detail: detail})};
}

function presentedToken(headers) {
    const direct = headers['es-node-token'] ? headers['es-node-token'].value.trim() : '';
    if (direct) { return direct; }
    const auth = headers['authorization'] ? headers['authorization'].value.trim() : '';
    const space = auth.indexOf(' ');
    if (space < 0) { return null; }
    const scheme = auth.slice(0, space).toLowerCase(), value = auth.slice(space + 1).trim();
    if (scheme === 'token' && value) { return value; }
    if (scheme === 'basic') {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const password = colon < 0 ? '' : decoded.slice(colon + 1);
        return password || null;
    }
    return null;
}

async function handler(event) {
    const request = event.request;
    const match = FILE.exec(request.uri);
    if (!match) { return answer(404, 'Not found'); }
    const token = presentedToken(request.headers);
    if (!token) { return answer(401, 'Authentication credentials were not provided.'); }
    let expected = null;
    try { expected = await kvs.get('TOKEN_KEY'); } catch (err) { expected = null; }
    const presented = crypto.createHash('sha256').update(token).digest('hex');
    if (!expected || presented !== expected) { return answer(401, 'Invalid token.'); }
    request.uri = '/images/' + match[1].toLowerCase() + '/file';
    request.querystring = {};
    return request;
}
""".replace("BASE", imgapi.BASE_PATH.replace("/", "\\/")).replace("TOKEN_KEY", TOKEN_KEY)


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def resources(prefix: str, *, store_policy: dict[str, Any]) -> dict[str, Any]:
    """The distribution, its origins, the access control and the token check; and the
    store's bucket policy (`store_policy`) with the statements letting the distribution in."""
    policy = store_policy["Properties"]["PolicyDocument"]
    policy["Statement"] = [*policy["Statement"], *bucket_statements()]
    return {
        "ImageStoreBucketPolicy": store_policy,
        "ImgapiTokenStore": {
            "Type": "AWS::CloudFront::KeyValueStore",
            "Properties": {"Name": f"{prefix}-imgapi-token",
                           "Comment": f"{TOKEN_KEY}: hex SHA-256 of the compute nodes' token"}},
        "ImgapiTokenCheck": {
            "Type": "AWS::CloudFront::Function",
            "Properties": {
                "Name": f"{prefix}-imgapi-token-check", "AutoPublish": True,
                "FunctionCode": EDGE_FUNCTION_CODE,
                "FunctionConfig": {
                    "Comment": "IMGAPI file paths: node token check, store key",
                    "Runtime": "cloudfront-js-2.0",
                    "KeyValueStoreAssociations": [
                        {"KeyValueStoreARN": {"Fn::GetAtt": ["ImgapiTokenStore", "Arn"]}}]}}},
        "ImgapiStoreAccess": {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {"OriginAccessControlConfig": {
                "Name": f"{prefix}-imgapi-store",
                "Description": "CloudFront reads the image store (SigV4, always signed)",
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always", "SigningProtocol": "sigv4"}}},
        "ImgapiFileHeaders": {
            "Type": "AWS::CloudFront::ResponseHeadersPolicy",
            "Properties": {"ResponseHeadersPolicyConfig": {
                "Name": f"{prefix}-imgapi-file",
                "Comment": "An image file is bytes, whatever the stored object's type",
                "CustomHeadersConfig": {"Items": [{
                    "Header": "Content-Type", "Value": "application/octet-stream",
                    "Override": True}]}}}},
        "ImgapiDistribution": {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {"DistributionConfig": {
                "Enabled": True, "Comment": f"{prefix}: IMGAPI for compute nodes' imgadm",
                "HttpVersion": "http2", "PriceClass": "PriceClass_100",
                "Origins": [
                    {"Id": "api",
                     "DomainName": _sub("${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
                     "OriginPath": "/api",
                     "CustomOriginConfig": {"OriginProtocolPolicy": "https-only",
                                            "OriginSSLProtocols": ["TLSv1.2"]}},
                    {"Id": "store",
                     "DomainName": {"Fn::GetAtt": ["ImageStoreBucket", "RegionalDomainName"]},
                     "OriginAccessControlId": {"Fn::GetAtt": ["ImgapiStoreAccess", "Id"]},
                     "S3OriginConfig": {"OriginAccessIdentity": ""}}],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "api", "ViewerProtocolPolicy": "https-only",
                    "AllowedMethods": ["GET", "HEAD"], "CachedMethods": ["GET", "HEAD"],
                    "CachePolicyId": CACHING_DISABLED,
                    "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST},
                "CacheBehaviors": [{
                    "PathPattern": FILE_PATTERN, "TargetOriginId": "store",
                    "ViewerProtocolPolicy": "https-only",
                    "AllowedMethods": ["GET", "HEAD"], "CachedMethods": ["GET", "HEAD"],
                    "CachePolicyId": CACHING_OPTIMIZED,
                    "ResponseHeadersPolicyId": {"Ref": "ImgapiFileHeaders"},
                    "FunctionAssociations": [{
                        "EventType": "viewer-request",
                        "FunctionARN": {"Fn::GetAtt": ["ImgapiTokenCheck", "FunctionARN"]}}]}],
            }}},
    }


def bucket_statements() -> list[dict[str, Any]]:
    """The store's policy: this distribution may read image files (and list, so that a
    missing file is a 404, not a 403). A condition on one distribution: not public."""
    distribution = _sub("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/"
                        "${ImgapiDistribution}")
    condition = {"StringEquals": {"AWS:SourceArn": distribution}}
    return [
        {"Sid": "ImgapiDistributionReadsImageFiles", "Effect": "Allow",
         "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
         "Resource": _sub("${ImageStoreBucket.Arn}/images/*"), "Condition": condition},
        {"Sid": "ImgapiDistributionSeesMissingFiles", "Effect": "Allow",
         "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:ListBucket",
         "Resource": {"Fn::GetAtt": ["ImageStoreBucket", "Arn"]}, "Condition": condition},
    ]


def outputs() -> dict[str, Any]:
    return {
        "ImgapiUrl": {"Description": "The IMGAPI base for `imgadm sources -a` (README "
                                     "\"Compute nodes\")",
                      "Value": _sub("https://${ImgapiDistribution.DomainName}"
                                    + imgapi.BASE_PATH)},
        "ImgapiTokenStoreArn": {"Description": f"Put `{TOKEN_KEY}` here (README)",
                                "Value": {"Fn::GetAtt": ["ImgapiTokenStore", "Arn"]}},
    }
