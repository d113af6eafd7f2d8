"""In-session rescue's proof: the share of at-risk sessions (those the nudge decided on) that convert within the
window, treated against held out, with the incremental difference, its 95 % interval and incremental revenue;
each rung (the one shown, or meant for a held-out session) beside it. The same statistics as every agent
(``app.measurement.lift.measure``) and the same row shape as the abandoned-checkout readout. Plain data in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.measurement.lift import Exposure, Purchase, measure
from app.measurement.rescue import side

AGENT = "nudge"


@dataclass(frozen=True)
class SessionExposure:
    session: str
    holdout: bool
    rung: str | None
    at: datetime  # the decision: starts the window, fixes the arm (intention to treat)


def in_session_readout(
    sessions: Sequence[SessionExposure],
    purchases: Mapping[str, tuple[datetime, float]],
    *,
    window_days: float,
    now: datetime,
) -> dict[str, Any]:
    """``purchases``: session → (its first purchase after the decision, total after discounts)."""
    seen = [Exposure(AGENT, s.rung or "none", f"session:{s.session}", s.holdout, s.at) for s in sessions]
    bought = [Purchase(f"session:{k}", at, max(total, 0.0)) for k, (at, total) in purchases.items()]
    lifts = measure(seen, bought, window_days=window_days, now=now, split=(AGENT,))
    lift = lifts[0] if lifts else None
    return {
        "definition": "sessions at risk of abandoning that the nudge decided on (shown, or held out before "
        f"deciding), converting within {window_days:g} days",
        "overall": side(lift, None, "session") if lift else None,
        "rungs": [side(p, p.placement, "session") for p in lift.placements] if lift else [],
        "open_windows": lift.open_windows if lift else 0,
    }
