"""The state machines of statemachines/*.asl.json, created in the emulator.

The same files are what the deploy template ships; here `${step_...}` placeholders become the
emulator's Lambda ARNs, as `DefinitionSubstitutions` does in CloudFormation.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import boto3

from chalicelib.domain.names import state_machine_name
from devstack.emulator import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "statemachines"


def machine_arn(prefix: str, operation: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{state_machine_name(prefix, operation)}"


def render(operation: str, substitutions: dict[str, str]) -> str:
    text = (DEFINITIONS / f"{operation}.asl.json").read_text()
    missing = set(re.findall(r"\$\{(\w+)\}", text)) - set(substitutions)
    if missing:
        raise ValueError(f"{operation}.asl.json needs {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda m: substitutions[m.group(1)], text)


def create(prefix: str, operations: list[str], substitutions: dict[str, str]) -> dict[str, str]:
    sfn = boto3.client("stepfunctions")
    role = f"arn:aws:iam::{ACCOUNT}:role/{prefix}-statemachines"
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arns = {}
    for operation in operations:
        definition = render(operation, substitutions)
        json.loads(definition)  # a broken file should fail here, not at the first execution
        name = state_machine_name(prefix, operation)
        if name in existing:
            sfn.update_state_machine(stateMachineArn=existing[name], definition=definition)
            arns[operation] = existing[name]
        else:
            arns[operation] = sfn.create_state_machine(name=name, definition=definition,
                                                       roleArn=role)["stateMachineArn"]
    return arns
