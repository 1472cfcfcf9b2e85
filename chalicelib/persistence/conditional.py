"""Writes under a condition that may lose: the one place that turns DynamoDB's
ConditionalCheckFailed into "lost" (False) instead of an error.

"The first to end a task wins", "a stale platform event changes nothing", "a login counts
once" all rest on it: every racer writes under a condition and exactly one wins. Any other
error still raises.
"""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.adapters.aws import condition_failed


def conditional_update(item: Any, actions: list[Any], condition: Any) -> bool:
    """UpdateItem under `condition`: True when it won, False when the condition failed."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def conditional_save(item: Any, condition: Any) -> bool:
    """PutItem under `condition`: True when it won, False when the condition failed."""
    try:
        item.save(condition=condition)
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def conditional_delete(item: Any, condition: Any) -> bool:
    """DeleteItem under `condition`: True when it won, False when the condition failed."""
    try:
        item.delete(condition=condition)
    except DeleteError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
