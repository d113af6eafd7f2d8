"""Quiet hours in the recipient's local time: is an instant allowed, and the next allowed instant; and an agent's
send time at the shopper's best local hour (``best_hour``, ``send_time``).

The allowed window is ``[start, end)`` local wall-clock time every day; daylight-saving changes are handled by
``zoneinfo`` (an instant is converted to local time, never the other way round without checking it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_START, DAY_END = 9, 20  # hours an agent's reminder is pleasant (inside the orchestrator's 08:00-21:00)


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


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def best_hour(hours: Sequence[int]) -> int | None:
    """The shopper's most active local hour within the pleasant part of the day; None without any activity
    there (no evidence of a better hour: the reminder is not delayed for one)."""
    window = range(DAY_START, DAY_END + 1)
    counts = [(hours[h] if h < len(hours) else 0, h) for h in window]
    top = max(counts, key=lambda c: (c[0], -abs(c[1] - 12)))
    return top[1] if top[0] > 0 else None


def send_time(not_before: datetime, hour: int | None, time_zone: str | None) -> datetime:
    """The first moment in the shopper's ``hour`` (local) at or after ``not_before``: ``not_before`` itself when
    it falls inside that hour, else the next ``hour``:00 (aware, in the shopper's zone). Without an ``hour``, the
    first moment inside the pleasant part of the day."""
    local = not_before.astimezone(_zone(time_zone))
    if hour is None:
        if DAY_START <= local.hour <= DAY_END:
            return local
        day = local if local.hour < DAY_START else local + timedelta(days=1)
        return day.replace(hour=DAY_START, minute=0, second=0, microsecond=0)
    start = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if start <= local < start + timedelta(hours=1):
        return local
    if start < local:
        start = (local + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return start
