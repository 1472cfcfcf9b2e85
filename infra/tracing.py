"""X-Ray tracing of the functions, the state machines and the API stage, by one parameter.

`Tracing` = Active (the default) traces every request through API Gateway, the functions and
the workflows; PassThrough traces only what arrives already sampled. The roles may always
write traces (AWS's write-only policy): Lambda refuses an Active function whose role may not.
"""
from __future__ import annotations

from typing import Any

PARAMETER = "Tracing"
ACTIVE = "TracingActive"
CONDITIONS = {ACTIVE: {"Fn::Equals": [{"Ref": PARAMETER}, "Active"]}}
WRITE_POLICY = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}


def parameters() -> dict[str, Any]:
    return {PARAMETER: {
        "Type": "String", "Default": "Active", "AllowedValues": ["Active", "PassThrough"],
        "Description": "X-Ray tracing of the API stage, the functions and the state machines: "
                       "Active traces every request, PassThrough only those already sampled"}}


def _when_active() -> dict[str, Any]:
    return {"Fn::If": [ACTIVE, True, False]}


def tracing(functions: list[str], roles: list[str], machines: list[str],
            api: str) -> dict[str, Any]:
    """Patches: `functions`, `machines` and `api` traced; `roles` may write traces."""
    return {
        **{function: {"Properties": {"Tracing": {"Ref": PARAMETER}}} for function in functions},
        **{role: {"Properties": {"ManagedPolicyArns": [WRITE_POLICY]}} for role in roles},
        **{machine: {"Properties": {"TracingConfiguration": {"Enabled": _when_active()}}}
           for machine in machines},
        api: {"Properties": {"TracingEnabled": _when_active()}},
    }
