"""The explicit section's words and choices from the shopper: product reviews, support conversations (with the
merchant's resolution of escalated questions) and the wishlist.

Pure: plain records in, JSON-ready dicts out (``app.stores.customer_records`` loads the rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

LIKED_MIN = 4  # ratings of 4-5 stars: liked
DISLIKED_MAX = 2  # ratings of 1-2 stars: disliked (the recommender treats them like a soft return)
LISTED = 10  # liked / disliked products kept in the profile
RECENT_TURNS = 5
RECENT_ESCALATIONS = 5
WISHLIST_SHOWN = 20


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
    resolved_at: datetime | None = None
    note: str | None = None  # the merchant's reply note when resolving an escalation


@dataclass(frozen=True)
class WishlistRec:
    product_id: int
    variant_id: int | None
    saved_at: datetime
    title: str | None = None  # None when the product is gone from the catalogue


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
    """Conversation count, the last topic the shopper asked about, escalations still open and resolved, and the
    latest escalations with their state (and the merchant's note once resolved)."""
    turns = sorted(turns, key=lambda t: t.at)
    asked = [t for t in turns if t.role == "shopper"]
    escalations = [t for t in turns if t.role == "assistant" and t.escalated]
    open_escalations = [t for t in escalations if not t.resolved]
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
        "resolved_escalations": len(escalations) - len(open_escalations),
        "escalations": [
            {
                "topic": t.topic,
                "at": _iso(t.at),
                "status": "resolved" if t.resolved else "open",
                "resolved_at": _iso(t.resolved_at),
                "note": t.note[:200] if t.note else None,
            }
            for t in reversed(escalations[-RECENT_ESCALATIONS:])
        ],
        "recent": [
            {"role": t.role, "topic": t.topic, "text": t.text[:200], "at": _iso(t.at)}
            for t in turns[-RECENT_TURNS:]
        ],
    }


def summarize_wishlist(items: list[WishlistRec]) -> dict[str, Any]:
    """What the shopper saved from the widgets and when, newest first (a product saved both before and after
    signing in counts once, by its first save)."""
    first: dict[int, WishlistRec] = {}
    for item in sorted(items, key=lambda i: (i.saved_at, i.product_id)):
        first.setdefault(item.product_id, item)
    saved = sorted(first.values(), key=lambda i: (i.saved_at, i.product_id), reverse=True)
    return {
        "count": len(saved),
        "last_at": _iso(saved[0].saved_at) if saved else None,
        "items": [
            {
                "product_id": i.product_id,
                "variant_id": i.variant_id,
                "title": i.title,
                "saved_at": _iso(i.saved_at),
            }
            for i in saved[:WISHLIST_SHOWN]
        ],
    }
