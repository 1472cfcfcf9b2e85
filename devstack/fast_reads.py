"""The emulator's DynamoDB reads answered at the speed of `json.dumps`.

moto turns every answer into its wire format with a generic, model-driven serializer that
costs about 1.5 ms per item of a Query or Scan (profiled: 8,000 items of six attributes take
13 s, the query itself 1.7 s). A whole catalogue of 20,000 images could then never come back
within API Gateway's 29 s locally, whatever the app does, while DynamoDB reads a megabyte in
tens of milliseconds. For the read operations moto's result is already the wire JSON (its
DynamoDB types are JSON: strings, numbers as strings, lists, maps, booleans), so it is sent
as is; anything `json.dumps` cannot take (none of the project's attributes is binary) goes
through moto's serializer as before. moto also sorts a whole index on every Query page by
comparing its typed values pair by pair (each comparison converts both); the sort here
converts each key once (same order: key attributes are strings, numbers or binary). The
same answers and pages: tests/integration/test_fast_reads.py (`ENABLED = False` is moto's
own behaviour).
"""
from __future__ import annotations

import json
import uuid
from typing import Any

READS = frozenset(("Query", "Scan", "GetItem", "BatchGetItem"))
ENABLED = True
_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    from moto.dynamodb.responses import DynamoResult
    serialize = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if ENABLED and context.operation_model.name in READS:
            try:
                body = json.dumps(self.result)
            except (TypeError, ValueError):
                return serialize(self, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0", "server": "amazon.com",
                         "x-amzn-requestid": uuid.uuid4().hex}, body
        return serialize(self, context)

    DynamoResult.execute_result = execute_result
    _install_sort()


def _install_sort() -> None:
    from moto.dynamodb.models.table import Table
    moto_sort = Table.sorted_items

    def sorted_items(self: Any, hash_key_attrs: list[str], range_key_attrs: list[str | None],
                     items: list[Any]) -> list[Any]:
        if not ENABLED:
            return moto_sort(self, hash_key_attrs, range_key_attrs, items)
        attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        try:
            items.sort(key=lambda item: tuple(item.attrs[key].cast_value for key in attrs))
        except TypeError:  # keys of mixed types: moto's own comparison decides
            return moto_sort(self, hash_key_attrs, range_key_attrs, items)
        return items

    Table.sorted_items = sorted_items
