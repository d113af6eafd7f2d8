"""The merchant's own FAQ entries for the support agent (the admin's FAQ editor): list, save, delete, each
entry becoming a passage of the shop's knowledge at the next sync. No commits."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.knowledge import SupportFaq
from app.stores.knowledge import forget_sources

MAX_FAQ_QUESTION = 500
MAX_FAQ_ANSWER = 4000
MAX_FAQ_ENTRIES = 500


def _faq_dict(f: SupportFaq) -> dict:
    return {
        "id": f.id,
        "question": f.question,
        "answer": f.answer,
        "updated_at": f.updated_at.isoformat(),
    }


def clean_faq(question: object, answer: object) -> tuple[str, str]:
    """The entry's question and answer, trimmed; ValueError naming the bad field."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question: a non-empty string is required")
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError("answer: a non-empty string is required")
    question, answer = " ".join(question.split()), answer.strip()
    if len(question) > MAX_FAQ_QUESTION:
        raise ValueError(f"question: at most {MAX_FAQ_QUESTION} characters")
    if len(answer) > MAX_FAQ_ANSWER:
        raise ValueError(f"answer: at most {MAX_FAQ_ANSWER} characters")
    return question, answer


def list_faq(session: Session, shop_id: int) -> list[dict]:
    return [
        _faq_dict(f)
        for f in session.exec(
            select(SupportFaq).where(SupportFaq.shop_id == shop_id).order_by(SupportFaq.id)
        ).all()
    ]  # type: ignore[arg-type]


def save_faq(
    session: Session, shop_id: int, question: object, answer: object, faq_id: int | None = None
) -> dict | None:
    """Create (``faq_id`` None) or update one entry; None when the shop has no entry ``faq_id``. ValueError
    for bad input or past MAX_FAQ_ENTRIES."""
    q, a = clean_faq(question, answer)
    if faq_id is None:
        count = session.exec(
            select(func.count()).select_from(SupportFaq).where(SupportFaq.shop_id == shop_id)
        ).one()
        if count >= MAX_FAQ_ENTRIES:
            raise ValueError(f"question: at most {MAX_FAQ_ENTRIES} FAQ entries")
        row = SupportFaq(shop_id=shop_id, question=q, answer=a)
    else:
        row = session.exec(
            select(SupportFaq).where(SupportFaq.shop_id == shop_id, SupportFaq.id == faq_id)
        ).first()
        if row is None:
            return None
        row.question, row.answer, row.updated_at = q, a, utcnow()
    session.add(row)
    session.flush()
    return _faq_dict(row)


def delete_faq(session: Session, shop_id: int, faq_id: int) -> bool:
    row = session.exec(
        select(SupportFaq).where(SupportFaq.shop_id == shop_id, SupportFaq.id == faq_id)
    ).first()
    if row is None:
        return False
    session.delete(row)
    forget_sources(session, shop_id, [f"faq:{faq_id}"])
    session.flush()
    return True
