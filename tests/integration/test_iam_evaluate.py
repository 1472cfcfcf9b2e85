"""The local stack's IAM evaluator (devstack/iam/evaluate.py) decides as IAM documents it."""
from __future__ import annotations

import pytest

from devstack.iam.evaluate import Effect, Request, decide

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/imageapi-images"
ALLOW_GET = {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": TABLE}


def _decide(statements, action="dynamodb:GetItem", resource=TABLE, **context):
    return decide(statements, Request(action, resource, context))


def test_actions_match_case_insensitively_resources_exactly():
    assert _decide([ALLOW_GET], action="DynamoDB:getitem") is Effect.ALLOW
    assert _decide([ALLOW_GET], resource=TABLE.upper()) is Effect.IMPLICIT_DENY
    assert _decide([ALLOW_GET], action="dynamodb:PutItem") is Effect.IMPLICIT_DENY


def test_wildcards_are_iam_wildcards_not_regexes():
    statement = {"Effect": "Allow", "Action": "s3:Get*",
                 "Resource": "arn:aws:s3:::store.x/images/*/file"}
    assert _decide([statement], "s3:GetObject", "arn:aws:s3:::store.x/images/a/b/file") \
        is Effect.ALLOW
    assert _decide([statement], "s3:GetObject", "arn:aws:s3:::storeyx/images/a/file") \
        is Effect.IMPLICIT_DENY   # "." is a dot


def test_an_explicit_deny_wins():
    deny = {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
    assert _decide([ALLOW_GET, deny]) is Effect.DENY


def test_a_condition_that_does_not_hold_is_no_allow_and_no_deny():
    statement = {**ALLOW_GET, "Condition": {"StringEquals": {"events:source": "imageapi.tasks"}}}
    assert _decide([statement], **{"events:source": "imageapi.tasks"}) is Effect.ALLOW
    assert _decide([statement], **{"events:source": "aws.states"}) is Effect.IMPLICIT_DENY
    assert _decide([statement]) is Effect.IMPLICIT_DENY   # the key is missing


def test_negated_conditions_hold_without_their_key():
    statement = {**ALLOW_GET, "Condition": {"StringNotEquals": {"aws:PrincipalTag/x": "no"}}}
    assert _decide([statement]) is Effect.ALLOW
    assert _decide([statement], **{"aws:PrincipalTag/x": "no"}) is Effect.IMPLICIT_DENY


def test_policy_variables_come_from_the_request():
    statement = {"Effect": "Allow", "Action": "sqs:ReceiveMessage",
                 "Resource": "arn:aws:sqs:us-east-1:1:${aws:PrincipalTag/queue}"}
    queue = "arn:aws:sqs:us-east-1:1:export-node1"
    assert _decide([statement], "sqs:ReceiveMessage", queue,
                   **{"aws:PrincipalTag/queue": "export-node1"}) is Effect.ALLOW
    assert _decide([statement], "sqs:ReceiveMessage", queue,
                   **{"aws:PrincipalTag/queue": "export-node2"}) is Effect.IMPLICIT_DENY
    assert _decide([statement], "sqs:ReceiveMessage", queue) is Effect.IMPLICIT_DENY


def test_an_operator_it_cannot_evaluate_is_an_error_not_a_pass():
    statement = {**ALLOW_GET, "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}}
    with pytest.raises(ValueError, match="NumericLessThan"):
        _decide([statement], **{"s3:max-keys": "5"})
