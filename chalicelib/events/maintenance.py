"""The scheduled cleanup (SPEC §9)."""
from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, CloudWatchEvent

from chalicelib.config import load
from chalicelib.logs import log_context

bp = Blueprint(__name__)
SCHEDULE = load().cleanup_schedule  # fixed when the app is packaged


@bp.schedule(SCHEDULE, name="on_cleanup")
def on_cleanup(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.adapters import metrics
    from chalicelib.services.maintenance import cleanup
    with log_context(request_id=getattr(event.context, "aws_request_id", None)):
        report = cleanup.run()
        metrics.count("TasksPastDeadline", report.tasks_past_deadline)
    return report.as_dict()
