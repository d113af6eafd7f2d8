"""Guest shoppers (a checkout with an e-mail address and no customer account) as the action layer sees them:
their key, address and e-mail marketing consent (``guest_contact``), their purchases by address. No commits.

Consent follows Shopify's rule for marketing: a guest may get a marketing e-mail only when they ticked the
checkout's "e-mail me with news and offers" box (``buyer_accepts_marketing``); a newer checkout update or an
unsubscribe through Attune's one-click link (``source`` attune) replaces an older state, never the reverse. Guests
get no SMS: the checkout mirror holds no SMS consent for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.commerce import Checkout, Order
from app.models.guests import PREFIX, GuestContact, guest_id, normal_email
from app.orchestrator.proposal import SUBSCRIBED

NOT_SUBSCRIBED, UNSUBSCRIBED = "NOT_SUBSCRIBED", "UNSUBSCRIBED"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_guest(client_id: str | None) -> bool:
    return bool(client_id) and str(client_id).startswith(PREFIX)


def sync_guests(session: Session, shop_id: int, checkouts: Iterable[Checkout]) -> dict[str, str]:
    """Record each guest checkout's address and consent (newer wins). Returns checkout token → guest id for the
    checkouts with a usable address."""
    by_key: dict[str, tuple[Checkout, str]] = {}
    out: dict[str, str] = {}
    for c in checkouts:
        email = normal_email(c.email)
        if email is None or c.customer_shopify_id is not None:
            continue
        key = guest_id(shop_id, email)
        out[c.token] = key
        seen = by_key.get(key)
        if seen is None or (c.shopify_updated_at or EPOCH) > (seen[0].shopify_updated_at or EPOCH):
            by_key[key] = (c, email)
    if not by_key:
        return out
    rows = {
        r.guest_key: r
        for r in session.exec(
            select(GuestContact).where(
                GuestContact.shop_id == shop_id,
                GuestContact.guest_key.in_(sorted(by_key)),  # type: ignore[attr-defined]
            )
        ).all()
    }
    for key, (c, email) in by_key.items():
        state = SUBSCRIBED if c.buyer_accepts_marketing is True else NOT_SUBSCRIBED
        at = c.shopify_updated_at
        row = rows.get(key)
        if row is None:
            row = GuestContact(shop_id=shop_id, guest_key=key, email=email, email_state=state)
        elif (at or EPOCH) <= (row.state_updated_at or EPOCH):
            continue
        row.email, row.email_state, row.source = email, state, "checkout"
        row.checkout_token, row.state_updated_at, row.updated_at = c.token[:255], at, utcnow()
        session.add(row)
    session.flush()
    return out


def guest_contacts(
    session: Session, shop_id: int, client_ids: Iterable[str | None]
) -> dict[str, GuestContact]:
    """Guest id → its row, for those of ``client_ids`` that are guests with a row."""
    keys = sorted({c for c in client_ids if c and is_guest(c)})
    if not keys:
        return {}
    return {
        r.guest_key: r
        for r in session.exec(
            select(GuestContact).where(
                GuestContact.shop_id == shop_id,
                GuestContact.guest_key.in_(keys),  # type: ignore[attr-defined]
            )
        ).all()
    }


def guest_purchases(session: Session, shop_id: int, contacts: Iterable[GuestContact]) -> dict[str, datetime]:
    """Guest id → when an order last carried the guest's address (a guest's purchase stops the sequence)."""
    by_email = {c.email: c.guest_key for c in contacts}
    if not by_email:
        return {}
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    out: dict[str, datetime] = {}
    for email, at in session.exec(
        select(func.lower(Order.email), func.max(placed))
        .where(
            Order.shop_id == shop_id,
            Order.test == False,  # noqa: E712
            func.lower(Order.email).in_(sorted(by_email)),
        )
        .group_by(func.lower(Order.email))
    ).all():
        if at is not None and email in by_email:
            out[by_email[email]] = at
    return out


def unsubscribe_guest(session: Session, shop_id: int, guest_key: str, now: datetime) -> bool:
    """Record a guest's one-click unsubscribe (newer than any checkout so far). False when unknown."""
    row = session.exec(
        select(GuestContact)
        .where(GuestContact.shop_id == shop_id, GuestContact.guest_key == guest_key)
        .with_for_update()
    ).first()
    if row is None:
        return False
    row.email_state, row.source, row.state_updated_at, row.updated_at = UNSUBSCRIBED, "attune", now, now
    session.add(row)
    return True


def guest_state(session: Session, shop_id: int, guest_key: str) -> str | None:
    return session.exec(
        select(GuestContact.email_state).where(
            GuestContact.shop_id == shop_id, GuestContact.guest_key == guest_key
        )
    ).first()
