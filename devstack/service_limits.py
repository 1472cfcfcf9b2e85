"""The service limits moto leaves out, answered as the real services answer them.

moto already refuses some (README "AWS's limits" lists which): an SQS message over 1 MiB,
a DynamoDB item over about 400 KB, more than 100 transaction items or BatchGetItem keys, a
state output over 256 KiB (`States.DataLimitExceeded`), a part number outside 1..10,000 and a
part under 5 MiB that is not the last. `install()` adds, in this process:

- DynamoDB `TransactWriteItems` over 4 MB of items, `BatchWriteItem` with more than 25
  requests: `ValidationException`;
- EventBridge `PutEvents` whose entries total more than 1 MB: `ValidationException`.

`DEVSTACK_AWS_LIMITS=off` leaves moto as it is.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from devstack import limits

TRANSACTION_TOO_LARGE = "Transaction request cannot be larger than 4 MB"
BATCH_WRITE_TOO_MANY = "Too many items requested for the BatchWriteItem call"
PUT_EVENTS_TOO_LARGE = "Total size of the entries in the request is over the limit."
_installed = False


def install() -> None:
    """Idempotent; call before the emulator handles requests."""
    global _installed
    if _installed or not limits.enforced():
        return
    _installed = True
    _dynamodb()
    _events()


def _checked(method: Callable[..., Any], check: Callable[[dict[str, Any]], None]
             ) -> Callable[..., Any]:
    """A moto request handler that first checks the request's body."""
    @functools.wraps(method)
    def wrapper(self: Any) -> Any:
        check(self.body)
        return method(self)
    return wrapper


# --- DynamoDB -----------------------------------------------------------------------------------

def _dynamodb() -> None:
    from moto.dynamodb.responses import DynamoHandler

    DynamoHandler.transact_write_items = _checked(DynamoHandler.transact_write_items,
                                                  _check_transaction)
    DynamoHandler.batch_write_item = _checked(DynamoHandler.batch_write_item,
                                              _check_batch_write)


def attribute_bytes(name: str, value: dict[str, Any]) -> int:
    """An attribute's size as DynamoDB counts it (its name's UTF-8 bytes plus the value's)."""
    from moto.dynamodb.models.dynamo_type import DynamoType, bytesize
    return int(bytesize(name) + DynamoType(value).size())


def _item_bytes(item: dict[str, Any] | None) -> int:
    return sum(attribute_bytes(name, value) for name, value in (item or {}).items())


def _check_transaction(body: dict[str, Any]) -> None:
    from moto.dynamodb.exceptions import MockValidationException
    total = 0
    for action in body.get("TransactItems", []):
        for kind, request in action.items():
            # a Put writes its item; the others name a key (and an update its new values)
            total += _item_bytes(request.get("Item") if kind == "Put" else request.get("Key"))
            total += _item_bytes(request.get("ExpressionAttributeValues"))
    if total > limits.DYNAMODB_TRANSACTION_BYTES:
        raise MockValidationException(TRANSACTION_TOO_LARGE)


def _check_batch_write(body: dict[str, Any]) -> None:
    from moto.dynamodb.exceptions import MockValidationException
    requests = sum(len(table) for table in body.get("RequestItems", {}).values())
    if requests > limits.DYNAMODB_BATCH_WRITE_ITEMS:
        raise MockValidationException(BATCH_WRITE_TOO_MANY)


# --- EventBridge --------------------------------------------------------------------------------

def entry_bytes(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge computes it (see devstack/limits.py)."""
    size = limits.EVENTBRIDGE_TIME_BYTES if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if value is not None:
            size += len(str(value).encode("utf-8", "surrogatepass"))
    for resource in entry.get("Resources") or []:
        if resource is not None:
            size += len(str(resource).encode("utf-8", "surrogatepass"))
    return size


def _check_put_events(events: list[dict[str, Any]]) -> None:
    from moto.events.exceptions import ValidationException
    if sum(entry_bytes(entry) for entry in events) > limits.EVENTBRIDGE_ENTRIES_BYTES:
        raise ValidationException(PUT_EVENTS_TOO_LARGE)


def _events() -> None:
    from moto.events.models import EventsBackend
    original = EventsBackend.put_events

    @functools.wraps(original)
    def put_events(self: Any, events: list[dict[str, Any]]) -> Any:
        _check_put_events(events)
        return original(self, events)

    EventsBackend.put_events = put_events
