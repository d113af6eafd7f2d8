"""Guest shoppers (a checkout with an e-mail address or a phone number and no customer account) as the action
layer sees them: their key, address, number, consent and time zone's region (``guest_contact``), their
purchases by address or number. No commits.

Consent follows Shopify's rule for marketing: a guest may get a marketing e-mail only when they ticked the
checkout's "e-mail me with news and offers" box (``buyer_accepts_marketing``), and a marketing SMS only when
they ticked its SMS box (``buyer_accepts_sms_marketing``) with a number that is a valid E.164 phone
(``sms_marketing_phone``). Per channel, a newer checkout update or Attune's own record (a one-click unsubscribe,
a STOP texted to the shop: ``source`` attune) replaces an older state, never the reverse.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func, or_
from sqlmodel import Session, select

from app.channels.sms_text import InvalidNumber, e164
from app.models.base import utcnow
from app.models.commerce import Checkout, Order
from app.models.guests import PREFIX, GuestContact, guest_id, guest_phone_id, normal_email
from app.orchestrator.proposal import SUBSCRIBED

NOT_SUBSCRIBED, UNSUBSCRIBED = "NOT_SUBSCRIBED", "UNSUBSCRIBED"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 500  # addresses or numbers per IN list


def is_guest(client_id: str | None) -> bool:
    return bool(client_id) and str(client_id).startswith(PREFIX)


def normal_phone(raw: str | None, region: str | None = None) -> str | None:
    """``raw`` in E.164 (``region``, the address's country, reads a national number), or None."""
    try:
        return e164(raw, region) if raw else None
    except InvalidNumber:
        return None


def guest_key(shop_id: int, c: Checkout) -> tuple[str, str | None, str | None] | None:
    """A guest checkout's key, e-mail address and number (E.164: the SMS number, else the checkout's phone), or
    None for a customer's checkout or one with neither: the address keys the guest when there is one, else the
    number (a phone-only checkout)."""
    if c.customer_shopify_id is not None:
        return None
    email = normal_email(c.email)
    phone = normal_phone(c.sms_marketing_phone, c.country_code) or normal_phone(c.phone, c.country_code)
    if email is not None:
        return guest_id(shop_id, email), email, phone
    return (guest_phone_id(shop_id, phone), None, phone) if phone is not None else None


def sync_guests(session: Session, shop_id: int, checkouts: Iterable[Checkout]) -> dict[str, str]:
    """Record each guest checkout's address, number, region and consent (newer wins, per channel). Returns
    checkout token → guest id for the checkouts with a usable address or number."""
    by_key: dict[str, tuple[Checkout, str | None, str | None]] = {}
    out: dict[str, str] = {}
    for c in checkouts:
        found = guest_key(shop_id, c)
        if found is None:
            continue
        key, email, phone = found
        out[c.token] = key
        seen = by_key.get(key)
        if seen is None or (c.shopify_updated_at or EPOCH) > (seen[0].shopify_updated_at or EPOCH):
            by_key[key] = (c, email, phone)
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
    for key, (c, email, phone) in by_key.items():
        at, row = c.shopify_updated_at, rows.get(key)
        if row is None:
            row = GuestContact(shop_id=shop_id, guest_key=key, email=email, email_state=NOT_SUBSCRIBED)
        newer_email = row.id is None or (at or EPOCH) > (row.state_updated_at or EPOCH)
        newer_sms = row.id is None or (at or EPOCH) > (row.sms_state_updated_at or EPOCH)
        if not (newer_email or newer_sms):
            continue
        if newer_email:
            row.email_state = SUBSCRIBED if c.buyer_accepts_marketing is True and email else NOT_SUBSCRIBED
            row.email, row.state_updated_at = email, at
        if newer_sms:
            sms = normal_phone(c.sms_marketing_phone, c.country_code)
            row.sms_state = SUBSCRIBED if c.buyer_accepts_sms_marketing is True and sms else NOT_SUBSCRIBED
            row.phone, row.sms_state_updated_at = phone, at
        row.country_code, row.province_code = c.country_code, c.province_code  # the newest checkout's address
        row.source, row.checkout_token, row.updated_at = "checkout", c.token[:255], utcnow()
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
    """Guest id → when an order last carried the guest's address, or, for a phone-only guest, their number (a
    guest's purchase stops the sequence)."""
    contacts = list(contacts)
    by_email = {c.email: c.guest_key for c in contacts if c.email}
    by_phone = {c.phone: c.guest_key for c in contacts if not c.email and c.phone}
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    out: dict[str, datetime] = {}
    for column, wanted in ((func.lower(Order.email), by_email), (Order.phone, by_phone)):
        if not wanted:
            continue
        for value, at in session.exec(
            select(column, func.max(placed))
            .where(
                Order.shop_id == shop_id,
                Order.test == False,  # noqa: E712
                column.in_(sorted(wanted)),  # type: ignore[union-attr]
            )
            .group_by(column)
        ).all():
            if at is not None and value in wanted:
                key = wanted[value]
                out[key] = max(at, out.get(key, at))
    return out


def guest_checkout_starts(
    session: Session, shop_id: int, since: datetime, emails: Iterable[str], phones: Iterable[str]
) -> dict[str, list[datetime]]:
    """Normalised address or E.164 number → when guest checkouts (no account) carrying it were started since
    ``since``: the address's checkouts, and the number's phone-only ones (a guest keyed by number). One query per
    ``CHUNK`` addresses or numbers, scoped by shop."""
    out: dict[str, list[datetime]] = {}
    address = func.lower(func.trim(Checkout.email))
    guest = (
        Checkout.shop_id == shop_id,
        Checkout.customer_shopify_id.is_(None),  # type: ignore[union-attr]
        Checkout.shopify_created_at >= since,  # type: ignore[operator]
    )
    wanted = sorted({e for e in emails if e})
    for i in range(0, len(wanted), CHUNK):
        for email, at in session.exec(
            select(address, Checkout.shopify_created_at).where(*guest, address.in_(wanted[i : i + CHUNK]))
        ).all():
            if at is not None:
                out.setdefault(email, []).append(at)
    numbers = sorted({p for p in phones if p})
    for i in range(0, len(numbers), CHUNK):
        chunk = numbers[i : i + CHUNK]
        for row in session.exec(
            select(Checkout).where(
                *guest,
                Checkout.email.is_(None),  # type: ignore[union-attr]
                or_(Checkout.sms_marketing_phone.in_(chunk), Checkout.phone.in_(chunk)),  # type: ignore[union-attr]
            )
        ).all():
            found = guest_key(shop_id, row)
            if found is not None and found[2] in chunk and row.shopify_created_at is not None:
                out.setdefault(found[2], []).append(row.shopify_created_at)
    return out


def stop_or_start_guests(session: Session, shop_id: int, phone: str, state: str, now: datetime) -> int:
    """A STOP or START texted from ``phone`` (E.164) to the shop: every guest of the shop with that number gets
    SMS marketing state ``state`` (newer than any checkout so far). Returns how many guests changed."""
    rows = session.exec(
        select(GuestContact)
        .where(GuestContact.shop_id == shop_id, GuestContact.phone == phone)
        .with_for_update()
    ).all()
    for row in rows:
        row.sms_state, row.source, row.sms_state_updated_at, row.updated_at = state, "attune", now, now
        session.add(row)
    return len(rows)


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
