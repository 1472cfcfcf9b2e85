"""What a request to the emulator asks IAM for: its action(s), resource ARN(s) and condition
keys, as AWS's Service Authorization Reference lists them for each API call.

- DynamoDB: the operation on the table ARN (or `table/<t>/index/<i>` with IndexName); a
  transaction is authorised item by item (PutItem, UpdateItem, DeleteItem, ConditionCheckItem,
  GetItem), a batch per table.
- S3 (path-style, as the stack's clients address it): object reads, writes, copies (GetObject
  on the source too), multipart calls and DeleteObjects per key; bucket calls on the bucket.
- SQS (JSON or query protocol): the queue ARN. Step Functions: the machine or execution ARN
  (the task-token actions on "*"). EventBridge PutEvents: each entry on its bus with
  events:source and events:detail-type. SSM: the parameter ARN (a SecureString read with
  decryption is also kms:Decrypt, with the context keys SSM sets).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree

from devstack.emulator import ACCOUNT, REGION
from devstack.iam.evaluate import Request

Body = Callable[[], bytes]


def derive(service: str, method: str, raw_path: str, query: str,
           headers: Mapping[str, str], body: Body) -> list[Request]:
    if service == "s3":
        return _s3(method, raw_path, query, headers, body)
    target = headers.get("X-Amz-Target", "")
    if service == "sqs":
        return _sqs(target, body)
    operation = target.rpartition(".")[2]
    payload = _json(body) if target else {}
    if service == "dynamodb":
        return _dynamodb(operation, payload)
    if service == "states":
        return _states(operation, payload)
    if service == "events":
        return _events(operation, payload)
    if service == "ssm":
        return _ssm(operation, payload)
    return [Request(f"{service}:{operation or method}", "*", {})]


def _json(body: Body) -> dict[str, Any]:
    try:
        value = json.loads(body() or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- DynamoDB -----------------------------------------------------------------------------------

def _table(name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


_TRANSACT_ITEMS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def _dynamodb(operation: str, payload: dict[str, Any]) -> list[Request]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        out = []
        for item in payload.get("TransactItems", []):
            for kind, spec in item.items():
                out.append(Request(f"dynamodb:{_TRANSACT_ITEMS.get(kind, kind)}",
                                   _table(spec.get("TableName", "")), {}))
        return out
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Request(f"dynamodb:{operation}", _table(name), {})
                for name in payload.get("RequestItems", {})]
    if "TableName" not in payload:
        return [Request(f"dynamodb:{operation}", "*", {})]
    resource = _table(payload["TableName"])
    if payload.get("IndexName"):
        resource += f"/index/{payload['IndexName']}"
    return [Request(f"dynamodb:{operation}", resource, {})]


# --- S3 -----------------------------------------------------------------------------------------

def _s3(method: str, raw_path: str, query: str, headers: Mapping[str, str],
        body: Body) -> list[Request]:
    bucket, _, key = unquote(urlsplit(raw_path).path).lstrip("/").partition("/")
    params = parse_qs(query, keep_blank_values=True)
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if method == "POST" and "delete" in params:   # DeleteObjects names its keys in the body
        return [Request("s3:DeleteObject", f"{bucket_arn}/{name}", {})
                for name in _deleted_keys(body())]
    if not key:
        return [Request(_bucket_action(method, params), bucket_arn, {})]
    out = [Request(_object_action(method, params), f"{bucket_arn}/{key}", {})]
    source = headers.get("x-amz-copy-source")
    if source and method == "PUT":
        out.append(Request("s3:GetObject", "arn:aws:s3:::" + unquote(source).lstrip("/")
                           .partition("?")[0], {}))
    return out


def _object_action(method: str, params: dict[str, list[str]]) -> str:
    if "tagging" in params:
        return {"GET": "s3:GetObjectTagging", "PUT": "s3:PutObjectTagging",
                "DELETE": "s3:DeleteObjectTagging"}.get(method, "s3:GetObjectTagging")
    if "acl" in params:
        return "s3:GetObjectAcl" if method == "GET" else "s3:PutObjectAcl"
    if "uploadId" in params:
        return {"GET": "s3:ListMultipartUploadParts", "DELETE": "s3:AbortMultipartUpload"}.get(
            method, "s3:PutObject")
    return {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject",
            "POST": "s3:PutObject", "DELETE": "s3:DeleteObject"}.get(method, f"s3:{method}")


_BUCKET_READS = {"uploads": "s3:ListBucketMultipartUploads", "location": "s3:GetBucketLocation",
                 "notification": "s3:GetBucketNotification", "versioning":
                 "s3:GetBucketVersioning", "policy": "s3:GetBucketPolicy", "tagging":
                 "s3:GetBucketTagging"}
_BUCKET_WRITES = {"notification": "s3:PutBucketNotification", "policy": "s3:PutBucketPolicy",
                  "versioning": "s3:PutBucketVersioning", "tagging": "s3:PutBucketTagging"}


def _bucket_action(method: str, params: dict[str, list[str]]) -> str:
    table = _BUCKET_READS if method in ("GET", "HEAD") else _BUCKET_WRITES
    for name, action in table.items():
        if name in params:
            return action
    if "versions" in params:
        return "s3:ListBucketVersions"
    return {"GET": "s3:ListBucket", "HEAD": "s3:ListBucket", "PUT": "s3:CreateBucket",
            "DELETE": "s3:DeleteBucket"}.get(method, f"s3:{method}Bucket")


def _deleted_keys(body: bytes) -> list[str]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    return [element.text or "" for element in root.iter()
            if element.tag.rpartition("}")[2] == "Key"]


# --- SQS ----------------------------------------------------------------------------------------

def _queue(url_or_name: str) -> str:
    name = url_or_name.rstrip("/").rpartition("/")[2]
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def _sqs(target: str, body: Body) -> list[Request]:
    if target:   # the JSON protocol (botocore's default)
        operation = target.rpartition(".")[2]
        payload = _json(body)
    else:        # the query protocol
        form = parse_qs(body().decode(errors="replace"))
        payload = {name: values[0] for name, values in form.items()}
        operation = str(payload.get("Action", ""))
    queue = payload.get("QueueUrl") or payload.get("QueueName")
    return [Request(f"sqs:{operation}", _queue(str(queue)) if queue else "*", {})]


# --- Step Functions, EventBridge, SSM -----------------------------------------------------------

def _states(operation: str, payload: dict[str, Any]) -> list[Request]:
    resource = payload.get("executionArn") or payload.get("stateMachineArn") or "*"
    return [Request(f"states:{operation}", str(resource), {})]



def _bus(name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name or 'default'}"


def _events(operation: str, payload: dict[str, Any]) -> list[Request]:
    if operation == "PutEvents":
        return [Request("events:PutEvents", _bus(str(entry.get("EventBusName") or "")),
                        {"events:source": str(entry.get("Source", "")),
                         "events:detail-type": str(entry.get("DetailType", ""))})
                for entry in payload.get("Entries", [])]
    bus = _bus(str(payload.get("EventBusName") or ""))
    if "Name" in payload and operation.endswith("Rule"):
        return [Request(f"events:{operation}", bus.replace(":event-bus/", ":rule/") + "/"
                        + str(payload["Name"]), {})]
    return [Request(f"events:{operation}", bus, {})]


def parameter_arn(name: str) -> str:
    return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}"


def _ssm(operation: str, payload: dict[str, Any]) -> list[Request]:
    name = str(payload.get("Name", ""))
    if not name:
        return [Request(f"ssm:{operation}", "*", {})]
    out = [Request(f"ssm:{operation}", parameter_arn(name), {})]
    if operation == "GetParameter" and payload.get("WithDecryption") and _secure(name):
        out.append(Request("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/aws-ssm-local", {
            "kms:ViaService": f"ssm.{REGION}.amazonaws.com",
            "kms:EncryptionContext:PARAMETER_ARN": parameter_arn(name)}))
    return out


def _secure(name: str) -> bool:
    """Whether the parameter is a SecureString (SSM then asks KMS, as the caller)."""
    from moto.ssm.models import ssm_backends
    try:
        parameter = ssm_backends[ACCOUNT][REGION].get_parameter(name)
    except Exception:
        return False
    return parameter is not None and parameter.parameter_type == "SecureString"
