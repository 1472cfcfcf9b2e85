"""When the agent reports progress (nodeagent/progress.py), on a clock the test moves."""
from __future__ import annotations

from nodeagent.progress import PROGRESS_SECONDS, ReportSchedule


def reports(schedule: ReportSchedule, timeline: list[tuple[float, int]]) -> list[float]:
    """The times (of `timeline`'s (time, bytes sent) looks) at which a report is sent."""
    sent_at = []
    for now, sent in timeline:
        if schedule.due(now, sent):
            schedule.reported(now, sent)
            sent_at.append(now)
    return sent_at


def test_every_10_seconds_while_bytes_move():
    assert PROGRESS_SECONDS == 10
    schedule = ReportSchedule(heartbeat_seconds=100, now=0)
    moving = [(t, t * 1000) for t in range(1, 61)]   # a byte count that grows every second
    assert reports(schedule, moving) == [10, 20, 30, 40, 50, 60]


def test_only_the_heartbeat_while_nothing_moves():
    schedule = ReportSchedule(heartbeat_seconds=100, now=0)
    stalled = [(t, 5000) for t in range(1, 251)]      # bytes moved once, then nothing
    assert reports(schedule, stalled) == [10, 110, 210]


def test_a_short_heartbeat_is_kept():
    schedule = ReportSchedule(heartbeat_seconds=3, now=0)
    assert reports(schedule, [(t, 0) for t in range(1, 10)]) == [3, 6, 9]
    assert schedule.tick_seconds() <= 3
