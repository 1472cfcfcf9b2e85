"""Metrics as CloudWatch embedded metric format (EMF): one JSON line on stdout per count.

Lambda sends stdout to CloudWatch Logs, which turns such a line into a metric: no client, no
API call, nothing to import but the standard library (cheap at cold start). Namespace
`imageapi`; every dimension given becomes one dimension set of the metric. The line also
carries the current log context (request_id, user, task_id, image_name: chalicelib.logs) as
plain properties, for Logs Insights; they are not dimensions. The local stack prints the same
lines, so a developer sees what production records.

    count("PlatformEventsDropped", reason="missing-field")
    emit({"BytesTransferred": (size, BYTES), "TransferRate": (rate, BYTES_PER_SECOND)},
         step="import_file")                      # several figures of one event, one line
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any

NAMESPACE = "imageapi"
COUNT, BYTES, BYTES_PER_SECOND = "Count", "Bytes", "Bytes/Second"


def record(name: str, value: float, dimensions: dict[str, str], unit: str = "Count") -> dict:
    """The EMF document of one value (for tests and for `count`)."""
    return document({name: (value, unit)}, dimensions)


def document(figures: Mapping[str, tuple[float, str]], dimensions: dict[str, str]) -> dict:
    """The EMF document of several values (name -> (value, unit)) under one dimension set."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [sorted(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in figures.items()],
            }],
        },
        **dimensions,
        **{name: value for name, (value, _) in figures.items()},
    }


def count(name: str, value: float = 1, **dimensions: Any) -> None:
    """Add `value` to the metric `name` with these dimensions (values are made strings)."""
    emit({name: (value, COUNT)}, **dimensions)


def emit(figures: Mapping[str, tuple[float, str]], **dimensions: Any) -> None:
    """Write one EMF line. Never raises: a metric is not worth failing the work it counts."""
    from chalicelib.logs import current_context
    doc = document(figures, {k: str(v) for k, v in dimensions.items()})
    context = {k: v for k, v in current_context().items() if k not in doc}
    try:
        sys.stdout.write(json.dumps({**context, **doc}, separators=(",", ":"), default=str)
                         + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed or broken stdout
        pass
