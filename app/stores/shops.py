"""Shops as a whole: which are installed (the nightly fan-out jobs' list), one by its domain."""

from __future__ import annotations

from sqlmodel import Session, select

from app.models.shop import Shop


def installed_shop_ids(session: Session) -> list[int]:
    """Ids of the shops with a token that have not uninstalled."""
    return list(
        session.exec(
            select(Shop.id).where(Shop.access_token_enc.is_not(None), Shop.uninstalled_at.is_(None))  # type: ignore[union-attr]
        ).all()
    )


def installed_shop(session: Session, domain: str) -> Shop | None:
    """The installed shop at ``domain``, or None."""
    row = session.exec(select(Shop).where(Shop.domain == domain)).first()
    return row if row is not None and row.is_installed else None
