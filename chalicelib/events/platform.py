"""EventBridge handler for the platform's own events (VMs, snapshots, users, DCs)."""
from __future__ import annotations

import logging

from chalice.app import Blueprint, CloudWatchEvent

from chalicelib.config import load
from chalicelib.domain.names import PLATFORM_EVENT_HANDLER
from chalicelib.domain.platform_events import MalformedEvent
from chalicelib.events.dropped import drop

bp = Blueprint(__name__)
log = logging.getLogger("imageapi.events")

# Read at import because the rule's pattern is fixed when the app is packaged.
PLATFORM_SOURCE = load().platform_event_source


# The deployment puts this rule on the platform's own bus (names.platform_event_bus_name).
@bp.on_cw_event({"source": [PLATFORM_SOURCE]}, name=PLATFORM_EVENT_HANDLER)
def on_platform_event(event: CloudWatchEvent) -> None:
    """Never raises: a malformed event is logged and dropped instead of retried for ever."""
    from chalicelib.services.platform import read_models
    try:
        applied = read_models.apply(event.detail_type, event.detail)
        log.info("platform event %s %s", event.detail_type, "applied" if applied else "stale")
    except MalformedEvent as exc:
        # counted by a fixed reason (never a value from the event: the metric's dimension),
        # logged with the field and what is wrong with it (schemas: chalicelib/schemas/events/)
        drop(event, "malformed platform event", exc.reason, exc)
    except Exception:  # storage trouble: logged; EventBridge's retry policy may redeliver
        log.exception("platform event %s failed", event.event_id)
        raise
