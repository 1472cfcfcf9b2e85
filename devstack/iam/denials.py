"""AccessDenied as each service answers it, so botocore (and the app) see AWS's own error."""
from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

Response = tuple[str, list[tuple[str, str]], bytes]   # WSGI status, headers, body

# JSON protocols: the content type and the error shape of each service
_JSON = {"dynamodb": "application/x-amz-json-1.0", "sqs": "application/x-amz-json-1.0"}


def message(principal_arn: str, action: str, resource: str, explicit: bool) -> str:
    """AWS's wording of an identity-policy denial."""
    why = ("with an explicit deny in an identity-based policy" if explicit
           else f"because no identity-based policy allows the {action} action")
    return (f"User: {principal_arn} is not authorized to perform: {action} on resource: "
            f"{resource} {why}")


def access_denied(service: str, text: str, json_protocol: bool) -> Response:
    request_id = str(uuid.uuid4())
    if service == "s3":
        return s3_error(403, "AccessDenied", text, ())
    if service == "sqs" and not json_protocol:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                f"<Message>{escape(text)}</Message><Detail/></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        return "403 Forbidden", [("Content-Type", "text/xml"),
                                 ("x-amzn-RequestId", request_id)], body
    if service == "sqs":   # JSON, query-compatible: botocore takes the code from the header
        body = json.dumps({"__type": "com.amazon.coral.access#AccessDeniedException",
                           "message": text}).encode()
        return "403 Forbidden", [("Content-Type", _JSON["sqs"]),
                                 ("x-amzn-query-error", "AccessDenied;Sender"),
                                 ("x-amzn-RequestId", request_id)], body
    if service in ("iam", "sts"):
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                f"<Message>{escape(text)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        return "403 Forbidden", [("Content-Type", "text/xml")], body
    error_type = ("com.amazon.coral.service#AccessDeniedException" if service == "dynamodb"
                  else "AccessDeniedException")
    key = "Message" if service == "dynamodb" else "message"
    body = json.dumps({"__type": error_type, key: text}).encode()
    return "400 Bad Request", [("Content-Type", _JSON.get(service, "application/x-amz-json-1.1")),
                               ("x-amzn-RequestId", request_id)], body


def s3_error(status: int, code: str, text: str, details: tuple[tuple[str, str], ...]) -> Response:
    request_id = uuid.uuid4().hex[:16].upper()
    extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in details)
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{escape(text)}</Message>{extra}<RequestId>{request_id}</RequestId>"
            f"<HostId>{request_id}</HostId></Error>").encode()
    reason = {400: "Bad Request", 403: "Forbidden"}.get(status, "Error")
    return f"{status} {reason}", [("Content-Type", "application/xml"),
                                  ("x-amz-request-id", request_id)], body
