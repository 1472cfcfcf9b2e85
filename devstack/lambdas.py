"""Lambda for the local stack: the state machines' Lambda tasks run this app's handlers.

moto's ASL interpreter invokes Lambda through its simple (docker-less) backend, which never
runs code. Its `invoke` is replaced, in this process only, by a dispatch to the Chalice
handler of the same name; an exception becomes a Lambda "Unhandled" function error whose
errorType is the exception's class name, exactly what Retry/Catch match in AWS.
"""
from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from typing import Any

import boto3
from chalice.local import LambdaContext

from devstack import step_gates
from devstack.iam import invocation
from devstack.iam.acting import acting_as

log = logging.getLogger("devstack.lambdas")
ROLE_NAME = "imageapi-local-steps"


def install_dispatch(app: Any, function_prefix: str) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ARG001
        name = function_name.split(":")[-1]
        handler_name = name[len(function_prefix):] if name.startswith(function_prefix) else name
        handler = app.handler_map.get(handler_name)
        if handler is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "ResourceNotFoundException",
                               "errorMessage": f"no handler {handler_name}"}).encode()
        invocation.authorise(function_name)  # the state machines' role may invoke it?
        try:
            payload = json.loads(body) if body else {}
            step_gates.wait_at(handler_name, payload)  # only where a test made a gate
            with acting_as(invocation.function_name(handler_name)):
                result = handler(payload, LambdaContext(handler_name, 1024, _timeout_ms()))
            return json.dumps(result).encode()
        except Exception as exc:  # reported like Lambda does, for Retry/Catch to match
            log.info("%s raised %s: %s", handler_name, type(exc).__name__, exc)
            return _function_error(response_headers, type(exc).__name__, str(exc))
        except SystemExit as exc:  # the function's process ended: Lambda's words for it
            log.info("%s exited (%s)", handler_name, exc.code)
            return _function_error(response_headers, "Runtime.ExitError",
                                   f"Runtime exited with error: exit status {exc.code}")

    LambdaSimpleBackend.invoke = invoke


def _timeout_ms() -> int:
    """The step functions' Lambda timeout (900 s, as deployed); a test may shorten it."""
    return int(float(os.environ.get("DEVSTACK_LAMBDA_TIMEOUT_SECONDS", "900")) * 1000)


def _function_error(headers: dict[str, Any], error_type: str, message: str) -> bytes:
    headers["x-amz-function-error"] = "Unhandled"
    return json.dumps({"errorType": error_type, "errorMessage": message,
                       "stackTrace": []}).encode()


def create_functions(app: Any, function_prefix: str) -> dict[str, str]:
    """Register a (code-less) function per step handler; returns handler name -> ARN."""
    iam = boto3.client("iam")
    try:
        role = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    client = boto3.client("lambda")
    arns = {}
    for name in sorted(app.handler_map):
        if not name.startswith("step_"):
            continue
        function = function_prefix + name
        try:
            arns[name] = client.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
        except client.exceptions.ResourceNotFoundException:
            arns[name] = client.create_function(
                FunctionName=function, Runtime="python3.11", Role=role, Handler=f"app.{name}",
                Code={"ZipFile": _empty_zip()}, Timeout=900)["FunctionArn"]
    return arns


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "# the local stack dispatches to the Chalice app\n")
    return buffer.getvalue()
