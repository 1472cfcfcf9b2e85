"""Logging set-up: one line per record, level from LOG_LEVEL. Secrets are never passed in.

LOG_FORMAT=json (the default: in AWS, in `make run`) writes one JSON object per line on
stdout, the same in Lambda and on the local stack; `text` writes plain lines. Every line
carries what is known of the work it belongs to — `request_id`, `user`, `task_id`,
`image_name` — set with `log_context(...)` by the entry point that handles a request, a step
or an event (a context variable: each request's thread or task sees its own).
"""
from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from chalicelib.config import load

# The fields a line may carry, in the order they are written.
CONTEXT_FIELDS = ("request_id", "user", "task_id", "image_name")
_NONE: Mapping[str, str] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("imageapi_log_context", default=_NONE)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Within the block, every log line (and metric) carries these fields too; a None or
    empty value leaves the field as it was. The previous context comes back afterwards."""
    token = _context.set(_merged(fields))
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Add fields to the current context (until the enclosing `log_context` block ends)."""
    _context.set(_merged(fields))


def current_context() -> dict[str, str]:
    return dict(_context.get())


def _merged(fields: Mapping[str, Any]) -> dict[str, str]:
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    return {**_context.get(), **{k: str(v) for k, v in fields.items() if v not in (None, "")}}


class RedactUrlPasswords(logging.Filter):
    """A URL's password never reaches a log line, whoever logs it (requests, boto, us)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from chalicelib.domain.redaction import redact
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class AddLogContext(logging.Filter):
    """The current log context as attributes of the record: our JSON lines write them, and so
    does Lambda's own JSON format (it writes a record's extra attributes) for the runtime's
    handler on the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, message, logger, the context fields, and
    errorType/errorMessage/stackTrace for an exception (the keys of Lambda's JSON format)."""

    def format(self, record: logging.LogRecord) -> str:
        from chalicelib.domain.redaction import redact
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "message": redact(record.getMessage()),
            "logger": record.name,
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = redact(str(value))
        if record.exc_info and record.exc_info[0] is not None:
            kind, exc, tb = record.exc_info
            line["errorType"] = kind.__name__
            line["errorMessage"] = redact(str(exc))
            line["stackTrace"] = [redact(part) for part in traceback.format_tb(tb)]
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message [field=value ...]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS
                          if getattr(record, name, None) not in (None, ""))
        return f"{text} [{fields}]" if fields else text


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is when a record is written (Lambda's and a test's
    capture included), not to the stream that was current when the app was imported."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_format() -> str:
    return load().log_format


def configure_logging(app: Any) -> None:
    """May run again (a test switching LOG_FORMAT): it only replaces what it set itself."""
    level = load().log_level
    app.log.setLevel(level)
    logger = logging.getLogger("imageapi")
    logger.setLevel(level)
    # Chalice's own handler (plain text to the sys.stdout of import time) gives way to ours.
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:
            logger.removeHandler(handler)
    ours = next((h for h in logger.handlers if isinstance(h, StdoutHandler)), None)
    if ours is None:
        ours = StdoutHandler()
        logger.addHandler(ours)
    logger.propagate = False  # as Chalice has it: our lines are written once, by our handler
    ours.setFormatter(JsonFormatter() if log_format() == "json" else TextFormatter())
    # on the handlers: a logger's own filters do not see its children's records
    for handler in logger.handlers + logging.getLogger().handlers:
        if not any(isinstance(f, RedactUrlPasswords) for f in handler.filters):
            handler.addFilter(RedactUrlPasswords())
        if not any(isinstance(f, AddLogContext) for f in handler.filters):
            handler.addFilter(AddLogContext())
