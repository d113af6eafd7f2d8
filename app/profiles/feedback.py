"""The explicit section's words from the shopper: product reviews and support conversations.

Pure: plain records in, JSON-ready dicts out (``app.jobs.profile_refresh`` loads the rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

LIKED_MIN = 4  # ratings of 4-5 stars: liked
DISLIKED_MAX = 2  # ratings of 1-2 stars: disliked (the recommender treats them like a soft return)
LISTED = 10  # liked / disliked products kept in the profile
RECENT_TURNS = 5


@dataclass(frozen=True)
class ReviewRec:
    product_id: int
    rating: int
    title: str | None
    at: datetime | None
    product_title: str | None = None


@dataclass(frozen=True)
class SupportTurnRec:
    conversation: str
    role: str  # shopper | assistant
    topic: str
    text: str
    escalated: bool
    resolved: bool
    at: datetime


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def _ts(ts: datetime | None) -> float:
    return ts.timestamp() if ts else float("-inf")


def _entry(r: ReviewRec) -> dict[str, Any]:
    return {"product_id": r.product_id, "title": r.product_title, "rating": r.rating, "at": _iso(r.at)}


def summarize_reviews(reviews: list[ReviewRec]) -> dict[str, Any]:
    """Count, average rating, and the products the shopper liked (4-5 stars) and disliked (1-2 stars),
    newest first. A product reviewed twice counts by its newest review."""
    newest: dict[int, ReviewRec] = {}
    for r in sorted(reviews, key=lambda r: (_ts(r.at), r.product_id)):
        newest[r.product_id] = r
    latest = sorted(newest.values(), key=lambda r: (-_ts(r.at), r.product_id))
    return {
        "count": len(reviews),
        "average_rating": round(sum(r.rating for r in reviews) / len(reviews), 2) if reviews else None,
        "last_at": _iso(max((r.at for r in reviews if r.at), default=None)),
        "liked": [_entry(r) for r in latest if r.rating >= LIKED_MIN][:LISTED],
        "disliked": [_entry(r) for r in latest if r.rating <= DISLIKED_MAX][:LISTED],
    }


def summarize_support(turns: list[SupportTurnRec]) -> dict[str, Any]:
    """Conversation count, the last topic the shopper asked about, and escalations still open."""
    turns = sorted(turns, key=lambda t: t.at)
    asked = [t for t in turns if t.role == "shopper"]
    open_escalations = [t for t in turns if t.role == "assistant" and t.escalated and not t.resolved]
    topics: dict[str, int] = {}
    for t in asked:
        topics[t.topic] = topics.get(t.topic, 0) + 1
    return {
        "conversations": len({t.conversation for t in turns}),
        "questions": len(asked),
        "last_topic": asked[-1].topic if asked else None,
        "last_at": _iso(turns[-1].at) if turns else None,
        "topics": dict(sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))),
        "open_escalations": len(open_escalations),
        "recent": [
            {"role": t.role, "topic": t.topic, "text": t.text[:200], "at": _iso(t.at)}
            for t in turns[-RECENT_TURNS:]
        ],
    }
