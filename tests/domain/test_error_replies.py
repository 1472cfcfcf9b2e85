"""How failures become responses: never a raw 500 for a known condition (SPEC §1.1, §1.2)."""
from __future__ import annotations

from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError

from chalicelib.api.http import _error_reply
from chalicelib.domain import errors, http_texts


def test_api_errors_keep_their_status_and_text():
    reply = _error_reply(errors.NotFound(http_texts.IMAGE_NOT_FOUND), None)
    assert (reply.status, reply.body) == (404, {"detail": "Image not found"})
    reply = _error_reply(errors.PreconditionRequired(http_texts.IMAGE_USED_BY_VMS), None)
    assert (reply.status, reply.body) == (428, {"detail": "Image is used by some VMs"})


def test_validation_failures_are_failure_envelopes():
    reply = _error_reply(errors.ValidationFailed({"alias": ["x"]}), None)
    assert reply.status == 400
    assert reply.body["status"] == "FAILURE" and reply.body["result"] == {"alias": ["x"]}
    assert reply.headers["es_task_id"] == reply.body["task_id"]


def test_throttling_is_429():
    boto = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Scan")
    assert _error_reply(boto, None).status == 429
    pynamo = PutError("throttled", cause=ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem"))
    assert _error_reply(pynamo, None).status == 429


def test_anything_else_is_a_logged_500_without_details():
    reply = _error_reply(RuntimeError("secret internals"), None)
    assert (reply.status, reply.body) == (500, {"detail": "Internal server error"})
