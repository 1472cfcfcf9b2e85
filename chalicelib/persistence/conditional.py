"""Writes under a condition that may lose: the one place that turns DynamoDB's
ConditionalCheckFailed into "lost" (False) instead of an error.

"The first to end a task wins", "a stale platform event changes nothing", "a login counts
once" all rest on it: every racer writes under a condition and exactly one wins. Any other
error still raises.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, UpdateError

from chalicelib.adapters.aws import condition_failed


def conditional_update(item: Any, actions: list[Any], condition: Any, *,
                       add_version_condition: bool = True) -> bool:
    """UpdateItem under `condition`: True when it won, False when the condition failed.
    `add_version_condition=False`: a write that must not also require the item's version
    attribute (PynamoDB adds that condition and bumps it otherwise)."""
    return _won(lambda: item.update(actions=actions, condition=condition,
                                    add_version_condition=add_version_condition), UpdateError)


def conditional_save(item: Any, condition: Any) -> bool:
    """PutItem under `condition`: True when it won, False when the condition failed."""
    return _won(lambda: item.save(condition=condition), PutError)


def conditional_delete(item: Any, condition: Any) -> bool:
    """DeleteItem under `condition`: True when it won, False when the condition failed."""
    return _won(lambda: item.delete(condition=condition), DeleteError)


def _won(write: Callable[[], Any], error: type[PynamoDBException]) -> bool:
    try:
        write()
    except error as exc:
        if condition_failed(exc):
            return False
        raise
    return True
