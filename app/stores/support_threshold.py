"""Each shop's abstention threshold from its shoppers' 👍/👎 on the answers it gave (``app.knowledge.shop_threshold``,
pure), loaded for ``app.stores.knowledge.answer_question``. No commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from app.knowledge.shop_threshold import shop_threshold
from app.models.base import utcnow
from app.models.feedback import SupportMessage

VOTES_WINDOW = timedelta(days=180)


def answer_threshold(session: Session, shop_id: int, default: float, now: datetime | None = None) -> float:
    """The shop's abstention threshold: the shipped one, raised by its shoppers' 👎 on the answers it gave
    (``app.knowledge.shop_threshold``; the votes of the last 180 days)."""
    since = (now or utcnow()) - VOTES_WINDOW
    votes = session.exec(
        select(SupportMessage.confidence, SupportMessage.helpful).where(
            SupportMessage.shop_id == shop_id,
            SupportMessage.role == "assistant",
            SupportMessage.helpful.is_not(None),  # type: ignore[union-attr]
            SupportMessage.confidence.is_not(None),  # type: ignore[union-attr]
            SupportMessage.created_at >= since,
        )
    ).all()
    return shop_threshold(default, [(float(c), bool(h)) for c, h in votes])
