"""The IAM the deploy template generates, linted by parliament (unknown actions, prefixes and
conditions, resources whose type does not fit the action, malformed documents).

Linted are the documents devstack/iam enforces: the template's own (infra/template.py:
policy_documents, state_machine_role, node_agent_policy) with their intrinsics resolved to
concrete ARNs, which parliament needs; no template build (chalice package) is needed.
"""
from __future__ import annotations

import dataclasses

import pytest

from devstack.iam.policies import NODE_AGENT, STATE_MACHINE_ROLE, Policies
from infra import grants
from tests.integration.policy_lint import findings

PRINCIPALS = [*sorted(grants.GRANTS), STATE_MACHINE_ROLE, f"{NODE_AGENT}-node1"]


def test_every_generated_policy_lints_clean(monkeypatch):
    monkeypatch.setenv("NODE_TOKEN_PARAMETER", "/imageapi/node-token")  # its statements too
    policies = Policies("imageapi")
    problems = {}
    for name in PRINCIPALS:
        principal = policies.principal(name)
        found = findings(principal.statements, principal.tags)
        if found:
            problems[name] = found
    assert problems == {}


@pytest.mark.parametrize("action,issue", [("s3:PutObjects", "UNKNOWN_ACTION"),
                                          ("dynamodb:ListTables", "RESOURCE_MISMATCH")])
def test_the_lint_finds_a_bad_grant(monkeypatch, action, issue):
    """A grant of an action that does not exist, or that does not apply to a table, fails."""
    grant = grants.GRANTS["OnTaskEnded"]
    table = dataclasses.replace(grant.tables["tasks"],
                                actions=(*grant.tables["tasks"].actions, action))
    monkeypatch.setitem(grants.GRANTS, "OnTaskEnded", dataclasses.replace(
        grant, tables={**grant.tables, "tasks": table}))
    principal = Policies("imageapi").principal("OnTaskEnded")
    assert (issue, action) in findings(principal.statements, {})


def test_the_operator_policy_lints_clean():
    """`imagectl iam-policy`: what `imagectl --aws` needs, as valid as the functions' own."""
    from cli.operator_policy import operator_policy
    policy = operator_policy("imageapi")
    actions = {action for statement in policy["Statement"]
               for action in ([statement["Action"]] if isinstance(statement["Action"], str)
                              else statement["Action"])}
    assert {"dynamodb:PutItem", "sqs:ListQueues", "events:PutEvents",
            "states:StopExecution"} <= actions
    assert findings(policy["Statement"], {}) == []
