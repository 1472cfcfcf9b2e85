"""Logging set-up: one line per record, level from LOG_LEVEL. Secrets are never passed in."""
from __future__ import annotations

import logging
import os
from typing import Any


class RedactUrlPasswords(logging.Filter):
    """A URL's password never reaches a log line, whoever logs it (requests, boto, us)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from chalicelib.domain.redaction import redact
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def configure_logging(app: Any) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    app.log.setLevel(level)
    logger = logging.getLogger("imageapi")
    logger.setLevel(level)
    if not logger.handlers and not logging.getLogger().handlers:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(stream)
    # on the handlers: a logger's own filters do not see its children's records
    for handler in logger.handlers + logging.getLogger().handlers:
        if not any(isinstance(f, RedactUrlPasswords) for f in handler.filters):
            handler.addFilter(RedactUrlPasswords())
