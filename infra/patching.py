"""Adding to resources the merge template already holds.

Chalice's own merge (of the merge template into its template) replaces lists; this one, for
the merge template's own resources before Chalice sees them, appends to them: several additions
may each bring a lifecycle rule or a role's managed policy.
"""
from __future__ import annotations

from typing import Any


def add(resources: dict[str, Any], patches: dict[str, Any]) -> None:
    """Deep-merge `patches` ({logical ID: partial resource}) into `resources` in place: dicts
    merge, lists are extended, other values are set."""
    for logical_id, patch in patches.items():
        _merge(resources.setdefault(logical_id, {}), patch)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list):
            target[key].extend(value)
        else:
            target[key] = value
