"""One JSON object per line on stderr: `{"time", "level", "event", ...fields}`. Call sites log
an event name as the message and the fields as `extra={"fields": {...}}`."""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

log = logging.getLogger("nodeagent")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry = {"time": moment.isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "event": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, default=str)


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    log.handlers[:] = [handler]
    log.setLevel(level.upper())
    log.propagate = False


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    log.log(level, name, extra={"fields": fields})
