"""A whole list (GET /image without `limit`), read page by page from its index walk.

Two limits bound it, both AWS's: the answer must fit Lambda's 6 MB response (measured by the
HTTP edge on the body as sent, gzip'd when the client accepts it) and come before API
Gateway's 29 s integration timeout. Reading stops at a time budget well inside the timeout and
at an item count whose answer could not fit even compressed; either is a 400 pointing to
`limit` and `cursor`, never API Gateway's 502 or 504.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from chalicelib.domain import errors

T = TypeVar("T")

PAGE = None                 # items per Query: as many as DynamoDB's 1 MB page holds
READ_BUDGET_SECONDS = 20.0  # of API Gateway's 29 s, the rest for rendering and compressing
MAX_ITEMS = 200_000         # past this even names alone would not fit 6 MB gzip'd


def read(items: Iterable[T], render: Callable[[list[T]], list[Any]],
         clock: Callable[[], float] = time.monotonic) -> list[Any]:
    deadline = clock() + READ_BUDGET_SECONDS
    read_items: list[T] = []
    for count, item in enumerate(items, 1):
        read_items.append(item)
        if clock() > deadline or count > MAX_ITEMS:  # a clock read per item: ~0.1 µs
            raise errors.ListTooLarge()
    return render(read_items)
