"""CloudFormation's intrinsic functions, resolved as a deployment would resolve them.

Only what the IAM documents of infra/template.py use: Ref, Fn::GetAtt (Arn), Fn::Sub (with
${Name}, ${Name.Arn} and the ${!Literal} escape), Fn::If and AWS::NoValue.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_NO_VALUE = object()
_PLACEHOLDER = re.compile(r"\$\{(!?)([^}]+)\}")


class UnresolvedIntrinsic(ValueError):
    """A name the stack does not know: a template change the local stack must learn."""


@dataclass(frozen=True)
class Stack:
    refs: dict[str, str]                        # Ref name (resource, parameter, AWS::...) -> value
    arns: dict[str, str]                        # logical ID -> its Arn attribute
    conditions: dict[str, bool] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        resolved = self._value(value)
        return None if resolved is _NO_VALUE else resolved

    def _value(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._value(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), = value.items()
            if name == "Ref":
                return _NO_VALUE if argument == "AWS::NoValue" else self._ref(argument)
            if name == "Fn::GetAtt":
                return self._arn(argument)
            if name == "Fn::Sub":
                return self._sub(argument)
            if name == "Fn::If":
                condition, when_true, when_false = argument
                if condition not in self.conditions:
                    raise UnresolvedIntrinsic(f"condition {condition}")
                return self._value(when_true if self.conditions[condition] else when_false)
        return {key: item for key, item in ((k, self._value(v)) for k, v in value.items())
                if item is not _NO_VALUE}

    def _ref(self, name: str) -> str:
        if name not in self.refs:
            raise UnresolvedIntrinsic(f"Ref {name}")
        return self.refs[name]

    def _arn(self, argument: list[str]) -> str:
        logical_id, attribute = argument
        if attribute != "Arn" or logical_id not in self.arns:
            raise UnresolvedIntrinsic(f"Fn::GetAtt {logical_id}.{attribute}")
        return self.arns[logical_id]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            literal, name = match.groups()
            if literal:
                return "${" + name + "}"
            if name in variables:
                return str(self._value(variables[name]))
            if name.endswith(".Arn"):
                return self._arn([name[:-len(".Arn")], "Arn"])
            return self._ref(name)

        return _PLACEHOLDER.sub(replace, text)
