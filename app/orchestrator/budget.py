"""The one contact budget: at most N budget-counted marketing messages in any rolling window of a given length.

``fits`` is exact: a new message at ``t`` keeps the limit when every window ``[s, s + length)`` that contains
``t`` holds fewer than ``limit`` other messages. It suffices to try the windows that start at ``t`` or at a
message in ``(t - length, t]`` (any other window can slide right to one of them without losing a message).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def fits(times: Sequence[datetime], t: datetime, limit: int, length: timedelta) -> bool:
    """Whether one more message at ``t`` keeps at most ``limit`` in every window of ``length``."""
    if limit <= 0:
        return False
    near = sorted(x for x in times if t - length < x < t + length)
    starts = [t, *(x for x in near if x <= t)]
    return all(sum(1 for x in near if s <= x < s + length) < limit for s in starts)


def most_in_window(times: Sequence[datetime], length: timedelta) -> int:
    """The largest number of ``times`` in any window of ``length`` (the property tests' check)."""
    ordered = sorted(times)
    return max((sum(1 for x in ordered if s <= x < s + length) for s in ordered), default=0)
