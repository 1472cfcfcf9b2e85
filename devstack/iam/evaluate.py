"""IAM policy evaluation for one request: an explicit Deny wins, else an Allow, else the
implicit deny. Identity policies only (the app's roles); no SCPs or boundaries.

Why not moto's `moto.iam.access_control`: it matches actions case-sensitively and patterns as
regexes (a `.` in an ARN matches anything), treats a condition that does not hold as an
explicit Deny, passes a condition whose key the request lacks, knows only StringEquals, and
substitutes no policy variables (NodeAgentPolicy's `${aws:PrincipalTag/...}`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class Effect(Enum):
    ALLOW = "allowed"
    DENY = "explicitly denied"
    IMPLICIT_DENY = "not allowed"


@dataclass(frozen=True)
class Request:
    action: str                                  # "s3:PutObject"
    resource: str                                # an ARN, or "*"
    context: Mapping[str, str | Sequence[str]]   # condition keys ("events:source", ...)


def decide(statements: Sequence[Mapping[str, Any]], request: Request) -> Effect:
    allowed = False
    for statement in statements:
        if not _applies(statement, request):
            continue
        if statement["Effect"] == "Deny":
            return Effect.DENY
        allowed = True
    return Effect.ALLOW if allowed else Effect.IMPLICIT_DENY


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        if not _any_match(statement["Action"], request.action, _action_match):
            return False
    elif _any_match(statement["NotAction"], request.action, _action_match):
        return False
    if "Resource" in statement:
        if not _any_match(statement["Resource"], request.resource,
                          lambda p, v: _resource_match(p, v, request.context)):
            return False
    elif _any_match(statement["NotResource"], request.resource,
                    lambda p, v: _resource_match(p, v, request.context)):
        return False
    return all(_condition(operator, key, expected, request.context)
               for operator, keys in statement.get("Condition", {}).items()
               for key, expected in keys.items())


def _any_match(patterns: str | Sequence[str], value: str,
               match: Callable[[str, str], bool]) -> bool:
    return any(match(pattern, value) for pattern in _listed(patterns))


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _wildcard(pattern: str, value: str) -> bool:
    """IAM's `*` (any run of characters, `/` included) and `?` (one character)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _action_match(pattern: str, action: str) -> bool:
    return _wildcard(pattern.lower(), action.lower())


def _resource_match(pattern: str, resource: str,
                    context: Mapping[str, str | Sequence[str]]) -> bool:
    """Policy variables are substituted first; one the request lacks matches nothing."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        value = context.get(match.group(1))
        if not isinstance(value, str):
            missing = True
            return ""
        return value

    text = _VARIABLE.sub(substitute, pattern)
    return not missing and (pattern == "*" or _wildcard(text, resource))


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringEqualsIgnoreCase": lambda expected, actual: expected.lower() == actual.lower(),
    "StringLike": _wildcard,
    "ArnEquals": lambda expected, actual: expected == actual,
    "ArnLike": _wildcard,
    "Bool": lambda expected, actual: str(expected).lower() == actual.lower(),
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike",
            "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase", "ArnNotEquals": "ArnEquals",
            "ArnNotLike": "ArnLike"}


def _condition(operator: str, key: str, expected: Any,
               context: Mapping[str, str | Sequence[str]]) -> bool:
    """A positive operator needs the key (unless ...IfExists); a negated one holds without it."""
    if_exists = operator.endswith("IfExists")
    name = operator.removesuffix("IfExists")
    negated = name in _NEGATED
    test = _OPERATORS.get(_NEGATED.get(name, name))
    if test is None:  # never pass a condition we cannot evaluate
        raise ValueError(f"condition operator {operator} is not supported by devstack/iam")
    actual = context.get(key)
    if actual is None:
        return negated or if_exists
    values = [actual] if isinstance(actual, str) else list(actual)
    hit = any(test(str(want), value) for want in _listed(expected) for value in values)
    return not hit if negated else hit
