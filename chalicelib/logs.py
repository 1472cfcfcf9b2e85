"""Logging set-up: one line per record, level from LOG_LEVEL. Secrets are never passed in."""
from __future__ import annotations

import logging
import os
from typing import Any


def configure_logging(app: Any) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    app.log.setLevel(level)
    logger = logging.getLogger("imageapi")
    logger.setLevel(level)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
