"""What the DynamoDB emulator read, as DynamoDB bills it: items examined (`ScannedCount` of a
Query or Scan, each item a GetItem or BatchGetItem returned), per operation, table and index.

For the tests and benchmarks that run the local stack in their own process: `Meter()` wraps
the emulator's handlers once; `with meter.window() as reads:` collects what was read meanwhile.
"""
from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_LOCK = threading.Lock()
_WINDOWS: list[Reads] = []
_INSTALLED = False


@dataclass
class Reads:
    items: int = 0                                             # items read, all operations
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # (op, table[:index])
    items_at: Counter[str] = field(default_factory=Counter)    # table[:index] -> items read

    def items_of(self, table_suffix: str) -> int:
        """Items read from tables (and their indexes) whose name ends in `table_suffix`."""
        return sum(count for where, count in self.items_at.items()
                   if any(part.split(":")[0].endswith(table_suffix)
                          for part in where.split(",")))

    def ops(self, table_suffix: str) -> Counter[str]:
        """Operations on tables whose name ends in `table_suffix` (e.g. "-vms")."""
        result: Counter[str] = Counter()
        for (op, where), count in self.calls.items():
            if where.split(":")[0].endswith(table_suffix):
                result[op] += count
        return result


def install() -> None:
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        _INSTALLED = True
    from moto.dynamodb.responses import DynamoHandler
    for name in ("query", "scan", "get_item", "batch_get_item"):
        setattr(DynamoHandler, name, _metered(getattr(DynamoHandler, name), name))


def _metered(real: Any, op: str) -> Any:
    def handler(self: Any) -> Any:
        result = real(self)
        try:
            body = json.loads(self.body) if isinstance(self.body, (str, bytes)) else self.body
            _record(op, body or {}, getattr(result, "result", result))
        except (ValueError, TypeError, AttributeError):
            pass  # metering never breaks the emulator
        return result
    return handler


def _record(op: str, request: dict[str, Any], result: Any) -> None:
    if isinstance(result, str):
        result = json.loads(result)
    if not isinstance(result, dict):
        return
    where = str(request.get("TableName", ""))
    if request.get("IndexName"):
        where += ":" + str(request["IndexName"])
    if op in ("query", "scan"):
        items = int(result.get("ScannedCount", 0))
    elif op == "get_item":
        items = 1 if result.get("Item") else 0
    else:
        items = sum(len(v) for v in (result.get("Responses") or {}).values())
        where = ",".join(sorted((request.get("RequestItems") or {}).keys()))
    with _LOCK:
        for window in _WINDOWS:
            window.items += items
            window.calls[(op, where)] += 1
            window.items_at[where] += items


@contextlib.contextmanager
def window() -> Iterator[Reads]:
    install()
    reads = Reads()
    with _LOCK:
        _WINDOWS.append(reads)
    try:
        yield reads
    finally:
        with _LOCK:
            _WINDOWS.remove(reads)
