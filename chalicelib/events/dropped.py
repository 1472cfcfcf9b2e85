"""Events a handler will not act on: logged, and counted on the one dropped-events metric.

Never retried: a malformed or unconfirmed event does not get better on redelivery."""
from __future__ import annotations

import logging

from chalice.app import CloudWatchEvent

from chalicelib.adapters import metrics
from chalicelib.domain.platform_events import shown

log = logging.getLogger("imageapi.events")
# One metric for every handler (the dashboard and README list it); `reason` tells them apart.
DROPPED_METRIC = "PlatformEventsDropped"


def drop(event: CloudWatchEvent, what: str, reason: str, problem: object) -> None:
    """`what` names the kind of event in the log line; `reason` is a fixed code (the metric's
    dimension: never a value from the event); `problem` says what is wrong, for the log."""
    metrics.count(DROPPED_METRIC, reason=reason)
    log.warning("dropped %s %s (%s): reason=%s %s", what, event.event_id,
                shown(event.detail_type), reason, problem)
