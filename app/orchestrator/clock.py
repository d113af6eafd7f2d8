"""Quiet hours in the recipient's local time: is an instant allowed, and the next allowed instant.

The allowed window is ``[start, end)`` local wall-clock time every day; daylight-saving changes are handled by
``zoneinfo`` (an instant is converted to local time, never the other way round without checking it).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def is_allowed(at: datetime, zone: str, start: time, end: time) -> bool:
    """Whether ``at`` falls inside the allowed local window."""
    local = at.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    return start <= local < end


def next_allowed(at: datetime, zone: str, start: time, end: time) -> datetime:
    """The first instant at or after ``at`` inside the allowed local window (UTC)."""
    if is_allowed(at, zone, start, end):
        return at.astimezone(UTC)
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    day = local.date() if local.time().replace(tzinfo=None) < start else local.date() + timedelta(days=1)
    for offset in range(3):  # a window opening inside a DST gap moves to the next instant that is allowed
        opening = datetime.combine(day + timedelta(days=offset), start, tzinfo=tz).astimezone(UTC)
        for shift in range(0, 121, 15):
            candidate = opening + timedelta(minutes=shift)
            if candidate >= at and is_allowed(candidate, zone, start, end):
                return candidate
    raise AssertionError("no allowed instant within three days")  # unreachable for start < end
