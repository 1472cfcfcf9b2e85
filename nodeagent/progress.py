"""When the agent reports an export's progress (`POST /exports/<task>/progress`).

The report is two things: the workflow's heartbeat (needed once per `heartbeat_seconds`,
whether bytes move or not) and what a person watching `GET /task/<id>` sees. So while bytes
move it is sent at least every `PROGRESS_SECONDS` (or the heartbeat's period, if shorter), and
while they do not, only as often as the heartbeat needs. Times come from the caller's clock
(monotonic seconds), so the rule is tested without waiting.
"""
from __future__ import annotations

PROGRESS_SECONDS = 10.0


class ReportSchedule:
    def __init__(self, heartbeat_seconds: float, now: float,
                 progress_seconds: float = PROGRESS_SECONDS) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.progress_seconds = min(progress_seconds, heartbeat_seconds)
        self.last_at = now
        self.last_bytes = 0

    def due(self, now: float, sent: int) -> bool:
        waited = now - self.last_at
        return waited >= self.heartbeat_seconds or (
            sent != self.last_bytes and waited >= self.progress_seconds)

    def reported(self, now: float, sent: int) -> None:
        self.last_at, self.last_bytes = now, sent

    def tick_seconds(self) -> float:
        """How often to ask `due`: often enough for either period, never a busy loop."""
        return max(0.01, min(0.5, self.progress_seconds))
