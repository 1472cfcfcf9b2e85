"""The scheduled cleanup (SPEC §9)."""
from __future__ import annotations

import os
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent

bp = Blueprint(__name__)
SCHEDULE = os.environ.get("CLEANUP_SCHEDULE", "rate(15 minutes)").strip() or "rate(15 minutes)"


@bp.schedule(SCHEDULE, name="on_cleanup")
def on_cleanup(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.services.maintenance import cleanup
    return cleanup.run().as_dict()
