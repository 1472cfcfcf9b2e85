"""The state machines' Lambda tasks, authorised as Step Functions does it: the machine's role
(StateMachineRole, infra/template.py) must allow lambda:InvokeFunction on the function.
A task the role may not invoke fails as in AWS: Lambda answers AccessDeniedException (403),
which the state machine sees as Lambda.AWSLambdaException."""
from __future__ import annotations

import logging

from devstack.emulator import ACCOUNT, REGION
from devstack.iam import enabled, evaluate, policies
from devstack.iam.denials import message

log = logging.getLogger("devstack.iam")


def function_name(handler: str) -> str:
    return policies.function_name(handler)


def authorise(function: str) -> None:
    """Raise Lambda's AccessDeniedException unless the role may invoke `function`."""
    known = policies.current()
    if known is None or not enabled():
        return
    arn = function if function.startswith("arn:") else \
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    arn = ":".join(arn.split(":")[:7])   # without a version or alias qualifier
    role = known.principal(policies.STATE_MACHINE_ROLE)
    request = evaluate.Request("lambda:InvokeFunction", arn, {})
    effect = evaluate.decide(role.statements, request)
    if effect is evaluate.Effect.ALLOW:
        return
    log.warning("IAM: %s may not lambda:InvokeFunction on %s (%s)", role.name, arn,
                effect.value)
    from moto.awslambda.exceptions import LambdaClientError

    class AccessDenied(LambdaClientError):
        code = 403

    raise AccessDenied("AccessDeniedException", message(
        role.arn, "lambda:InvokeFunction", arn, explicit=effect is evaluate.Effect.DENY))
