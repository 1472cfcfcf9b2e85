"""API Gateway's own answers (gateway responses) in the API's envelope (SPEC §1.1).

Whatever API Gateway answers before or instead of the function — an unknown route, a throttled
request, a body too large, an integration that timed out or failed — is `{"detail": <text>}`
with the envelope headers, like every answer of the app. DEFAULT_4XX and DEFAULT_5XX cover every
type not named here (they keep each type's own status and AWS's message, as a JSON string); the
named ones get fixed texts, which the local gateway (devstack/gateway_limits.py) answers too.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.domain import http_texts

# API Gateway's words for its own limits (kept, in the `detail` field)
REQUEST_TOO_LARGE = "Request Too Long"
TIMED_OUT = "Endpoint request timed out"
INTEGRATION_FAILED = "Internal server error"

# type -> (status, detail): the answers with a text of their own
NAMED: dict[str, tuple[str, str]] = {
    # an unknown route is the app's 404, not API Gateway's 403 "Missing Authentication Token"
    "MISSING_AUTHENTICATION_TOKEN": ("404", http_texts.NOT_FOUND),
    # past the stage's throttling: the app's own 429, before any function runs
    "THROTTLED": ("429", http_texts.THROTTLED),
    "REQUEST_TOO_LARGE": ("413", REQUEST_TOO_LARGE),
    "INTEGRATION_TIMEOUT": ("504", TIMED_OUT),
}
# every other type: its status, AWS's message (`messageString` is it as a quoted JSON string)
FALLBACKS = ("DEFAULT_4XX", "DEFAULT_5XX")
FALLBACK_TEMPLATE = '{"detail": $context.error.messageString}'


def gateway_responses(envelope: dict[str, str]) -> dict[str, Any]:
    """SAM's GatewayResponses of the REST API: every response in the envelope."""
    # static header values are quoted in API Gateway's mapping syntax
    parameters = {"Headers": {name: f"'{value}'" for name, value in envelope.items()}}
    responses: dict[str, Any] = {
        kind: {"StatusCode": status, "ResponseParameters": parameters,
               "ResponseTemplates": {"application/json": json.dumps({"detail": detail})}}
        for kind, (status, detail) in NAMED.items()}
    for kind in FALLBACKS:
        responses[kind] = {"ResponseParameters": parameters,
                           "ResponseTemplates": {"application/json": FALLBACK_TEMPLATE}}
    return responses
