"""What a request is told when its transaction loses a condition to a concurrent one: the same
answers the checks before it give, so a race never shows as a different error."""
from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib.domain import errors, field_texts, http_texts
from chalicelib.domain.image_form import Errors
from chalicelib.domain.vocabulary import ImageStatus
from chalicelib.persistence import records
from chalicelib.persistence.models import Image, TaskLogEntry, get_or_none

LOST_RACE_ATTEMPTS = 40   # far more than concurrent writers of one record ever need
_Op = TypeVar("_Op", bound=Callable[..., Any])


def create_record(image: Image, log: TaskLogEntry | None, errs: Errors,
                  extra: list[tuple[str, Any]] | None = None,
                  also: Callable[[records.Tx], None] | None = None,
                  source_field: str = "manifest_url") -> None:
    """Insert a new image; a lost uniqueness or limit condition becomes its usual answer
    (a taken uuid under `source_field`, the field its manifest came from)."""
    try:
        records.create(image, log, extra or [], also)
    except records.Conflict as conflict:
        if "name" in conflict.reasons:
            raise errors.AlreadyExists() from conflict
        if "uuid" in conflict.reasons:
            key = records.uuid_guard(image.uuid)
            errs.add(source_field,
                     field_texts.uuid_registered(records.guard_owners([key]).get(key, "?")))
        if "alias" in conflict.reasons:
            errs.add("alias", field_texts.ALIAS_IN_USE)
        if "limit" in conflict.reasons:
            errs.add("non_field_errors", field_texts.LIMIT_REACHED)
        raise errors.ValidationFailed(errs) from conflict


class LostRace(Exception):
    """A write lost to a concurrent change of an image that is still ok: read it again."""


def explain_lost_update(name: str, conflict: records.Conflict, if_match: str | None) -> None:
    """The answer for a change whose transaction lost: the lock (417) when the winner left
    the image pending, 412 only when the client's If-Match named the version that is gone;
    otherwise LostRace, and `retry_lost_races` runs the request again on the new version."""
    if "alias" in conflict.reasons:
        raise errors.field_error("alias", field_texts.ALIAS_IN_USE)
    current = get_or_none(Image, name)
    if current is None:
        raise errors.NotFound(http_texts.IMAGE_NOT_FOUND)
    if current.status != ImageStatus.OK:
        raise errors.ExpectationFailed(http_texts.IMAGE_STATUS_NOT_OK)
    if if_match:
        raise errors.PreconditionFailed()
    raise LostRace(name)


def retry_lost_races(operation: _Op) -> _Op:
    """Run a change again (from its first read) while it loses to concurrent synchronous
    changes, after a short random pause that spreads the losers out (each round has a
    winner, so N writers need at most N - 1 retries); an image changed that often for that
    long is treated as locked."""
    @functools.wraps(operation)
    def run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(LOST_RACE_ATTEMPTS):
            try:
                return operation(*args, **kwargs)
            except LostRace:
                time.sleep(random.uniform(0, min(0.05, 0.002 * 2 ** attempt)))
        raise errors.ExpectationFailed(http_texts.IMAGE_STATUS_NOT_OK)
    return run  # type: ignore[return-value]
