"""What the checkout-rescue agent and its readout read about one shop: checkouts that may have been abandoned
(mirrored from ``checkouts/create|update``), whether an order followed them, the customer's uplift features;
the agent's first decision per checkout and the shop's orders (customers' and guests', each with its shopper's
checkout starts), for the recovery readout and its guardrail. No commits; every query is scoped by shop."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from app.agents.rescue import ABANDONED_AFTER, AGENT, AbandonedCheckout, Line, first_key
from app.measurement.exposure_features import profile_features
from app.measurement.rescue import STRATEGIC_WINDOW, CheckoutExposure, OrderFact
from app.models.commerce import Checkout, Order
from app.models.guests import normal_email
from app.models.messaging import ChannelConfig, MessageDecision
from app.models.profiles import CustomerProfile
from app.models.shop import Shop
from app.orchestrator.proposal import Shopper
from app.stores.guests import guest_checkout_starts, guest_contacts, guest_key, is_guest, normal_phone

LOOKBACK = timedelta(days=4)
CHUNK = 500  # addresses or tokens per IN list  # a checkout last updated longer ago is not rescued any more
STARTS_BEFORE = STRATEGIC_WINDOW  # how far before the readout's first order its checkout starts are read


def shop_label(session: Session, shop: Shop) -> str:
    """The shop's name as its e-mails give it (the e-mail channel's ``shop_name``), else from its domain."""
    settings = session.exec(
        select(ChannelConfig.settings).where(
            ChannelConfig.shop_id == shop.id, ChannelConfig.channel == "email"
        )
    ).first()
    name = (settings or {}).get("shop_name")
    if isinstance(name, str) and name:
        return name
    return shop.domain.split(".", 1)[0].replace("-", " ").title() if shop.domain else "the shop"


def checkout_lines(raw: Iterable[object] | None) -> list[Line]:
    out = []
    for ln in raw or []:
        if not isinstance(ln, dict):
            continue
        qty = ln.get("quantity")
        price = ln.get("price")
        out.append(
            Line(
                product_id=ln.get("product_id") if isinstance(ln.get("product_id"), int) else None,
                variant_id=ln.get("variant_id") if isinstance(ln.get("variant_id"), int) else None,
                quantity=int(qty) if isinstance(qty, int | float) and qty > 0 else 0,
                title=str(ln.get("title") or "an item")[:200],
                price=str(price) if price else None,
            )
        )
    return out


def abandoned_checkouts(session: Session, shop_id: int, now: datetime) -> list[AbandonedCheckout]:
    """Checkouts of known customers last updated between ``LOOKBACK`` and ``ABANDONED_AFTER`` ago, not completed
    or deleted, each marked ``ordered`` when an order carries its token or cart token or its customer ordered
    after its last update."""
    rows = session.exec(
        select(Checkout).where(
            Checkout.shop_id == shop_id,
            Checkout.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            Checkout.completed_at.is_(None),  # type: ignore[union-attr]
            Checkout.deleted_at.is_(None),  # type: ignore[union-attr]
            Checkout.shopify_updated_at >= now - LOOKBACK,  # type: ignore[operator]
            Checkout.shopify_updated_at <= now - ABANDONED_AFTER,  # type: ignore[operator]
        )
    ).all()
    decided = decided_tokens(session, shop_id, [r.token for r in rows])
    rows = [r for r in rows if r.token not in decided]
    if not rows:
        return []
    customers = sorted({int(r.customer_shopify_id) for r in rows if r.customer_shopify_id is not None})
    tokens = sorted({r.token for r in rows} | {r.cart_token for r in rows if r.cart_token})
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    orders = session.exec(
        select(Order.customer_shopify_id, Order.checkout_token, Order.cart_token, placed).where(
            Order.shop_id == shop_id,
            Order.test == False,  # noqa: E712
            or_(
                Order.customer_shopify_id.in_(customers),  # type: ignore[union-attr]
                Order.checkout_token.in_(tokens),  # type: ignore[union-attr]
                Order.cart_token.in_(tokens),  # type: ignore[union-attr]
            ),
            placed >= now - LOOKBACK - ABANDONED_AFTER,
        )
    ).all()
    by_token = {t for _, ct, cart, _ in orders for t in (ct, cart) if t}
    latest: dict[int, datetime] = {}
    for cid, _, _, at in orders:
        if cid is not None and at is not None:
            latest[int(cid)] = max(at, latest.get(int(cid), at))
    features = customer_features(session, shop_id, customers, now)
    out = []
    for r in rows:
        cid = int(r.customer_shopify_id)  # type: ignore[arg-type]
        found = abandoned(
            r, Shopper(customer_id=cid), by_token, latest.get(cid), features=features.get(cid, {})
        )
        if found is not None:
            out.append(found)
    return out


def abandoned(
    row: Checkout, shopper: Shopper, ordered_tokens: set[str], bought: datetime | None, **extra: Any
) -> AbandonedCheckout | None:
    """A mirrored checkout as the agent sees it (None without an update time): ``ordered`` when an order
    carries its token or cart token (``ordered_tokens``) or the shopper bought after its last update
    (``bought``: their latest order); ``extra`` sets the rest (features, source, channels)."""
    updated = row.shopify_updated_at
    if updated is None:
        return None
    return AbandonedCheckout(
        token=row.token,
        shopper=shopper,
        updated_at=updated,
        lines=checkout_lines(row.line_items),
        total=float(row.total_price or 0),
        currency=row.currency,
        recovery_url=row.abandoned_checkout_url,
        completed=row.completed_at is not None,
        ordered=row.token in ordered_tokens
        or row.cart_token in ordered_tokens
        or (bought is not None and bought >= updated),
        **extra,
    )


def decided_tokens(session: Session, shop_id: int, tokens: list[str]) -> set[str]:
    """Tokens whose sequence was already decided (its first message has a decision, whatever it was): a
    checkout is proposed once, so a suppressed sequence is not proposed again every run."""
    keys = {first_key(t): t for t in tokens}
    found = session.exec(
        select(MessageDecision.dedupe_key).where(
            MessageDecision.shop_id == shop_id,
            MessageDecision.agent == AGENT,
            MessageDecision.dedupe_key.in_(sorted(keys)),  # type: ignore[attr-defined]
        )
    ).all()
    return {keys[k] for k in found}


def customer_features(
    session: Session, shop_id: int, customers: list[int], now: datetime
) -> dict[int, dict[str, float | str | None]]:
    keys = [f"customer:{c}" for c in customers]
    found = {
        key: (derived, explicit, events)
        for key, derived, explicit, events in session.exec(
            select(
                CustomerProfile.customer_key,
                CustomerProfile.derived,
                CustomerProfile.explicit,
                CustomerProfile.event_count,
            ).where(CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key.in_(keys))  # type: ignore[attr-defined]
        ).all()
    }
    out = {}
    for c in customers:
        derived, explicit, events = found.get(f"customer:{c}", (None, None, 0))
        out[c] = profile_features(derived, explicit, int(events or 0), now)
    return out


def checkout_exposures(session: Session, shop_id: int, since: datetime) -> list[CheckoutExposure]:
    """The agent's first decision per checkout since ``since`` (its first message's decision, every arm: the
    arm is drawn before consent or budget are looked at), with the timing arm recorded on it. A guest's
    checkout (no customer id, a ``guest:`` client id) carries its address, normalised (the checkout's e-mail, or
    the guest's recorded address when the checkout row is gone), or, for a phone-only guest, their number."""
    decisions = session.exec(
        select(MessageDecision)
        .where(
            MessageDecision.shop_id == shop_id,
            MessageDecision.agent == AGENT,
            MessageDecision.decided_at >= since,
            MessageDecision.dedupe_key.like("rescue:%:1"),  # type: ignore[attr-defined]
        )
        .order_by(MessageDecision.decided_at, MessageDecision.id)
    ).all()
    rows = [(d.customer_shopify_id, d.client_id, d.arm, d.features, d.decided_at) for d in decisions]
    guests = [(c, (f or {}).get("checkout_token")) for cid, c, _, f, _ in rows if cid is None and is_guest(c)]
    addresses = _guest_addresses(session, shop_id, guests)
    seen: dict[str, CheckoutExposure] = {}
    for cid, _client, arm, features, at in rows:
        f = features or {}
        token = f.get("checkout_token")
        if not isinstance(token, str) or token in seen:
            continue
        email, phone = addresses.get(token, (None, None)) if cid is None else (None, None)
        if cid is None and email is None and phone is None:
            continue
        delay = f.get("delay_h")
        seen[token] = CheckoutExposure(
            checkout=token,
            customer_id=int(cid) if cid is not None else None,
            holdout=arm == "holdout",
            delay_h=int(delay) if isinstance(delay, int | float) else None,
            at=at,
            cart_value=float(f.get("cart_value") or 0.0),
            email=email,
            phone=phone,
        )
    return list(seen.values())


def _guest_addresses(
    session: Session, shop_id: int, guests: list[tuple[str, object]]
) -> dict[str, tuple[str | None, str | None]]:
    """Checkout token → the guest checkout's (address, None), normalised, or (None, number) for a phone-only
    guest, for ``(guest id, token)`` pairs: from the checkout row, else from the guest's record."""
    tokens = sorted({t for _, t in guests if isinstance(t, str)})
    out: dict[str, tuple[str | None, str | None]] = {}
    for i in range(0, len(tokens), CHUNK):
        for row in session.exec(
            select(Checkout).where(
                Checkout.shop_id == shop_id,
                Checkout.token.in_(tokens[i : i + CHUNK]),  # type: ignore[attr-defined]
            )
        ).all():
            if (found := guest_key(shop_id, row)) is not None:
                out[row.token] = (found[1], None) if found[1] else (None, found[2])
    missing = [(c, t) for c, t in guests if isinstance(t, str) and t not in out]
    if missing:
        contacts = guest_contacts(session, shop_id, [c for c, _ in missing])
        for client, token in missing:
            if (c := contacts.get(client)) is not None and (c.email or c.phone):
                out[token] = (normal_email(c.email), None) if c.email else (None, c.phone)
    return out


def orders_since(session: Session, shop_id: int, since: datetime) -> list[OrderFact]:
    """Every real, not cancelled order placed since ``since``, a customer's or a guest's (no account), with its
    total after discounts (Shopify's ``total_price``), its discounts, and when its shopper last started a checkout
    (for the strategic-abandonment guardrail): a customer's checkouts by customer id; a guest's by the order's
    address (trimmed, lower case), or by its number (E.164) for phone-only checkouts (``guest_checkout_starts``:
    a few queries for all the orders, not one per order)."""
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    rows = session.exec(
        select(
            Order.customer_shopify_id,
            placed,
            Order.total_price,
            Order.total_discounts,
            Order.email,
            Order.phone,
        ).where(
            Order.shop_id == shop_id,
            Order.test == False,  # noqa: E712
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            placed >= since,
        )
    ).all()
    earliest = since - STARTS_BEFORE
    customers = sorted({int(c) for c, *_ in rows if c is not None})
    started: dict[int, list[datetime]] = defaultdict(list)
    for i in range(0, len(customers), CHUNK):
        for cid, at in session.exec(
            select(Checkout.customer_shopify_id, Checkout.shopify_created_at).where(
                Checkout.shop_id == shop_id,
                Checkout.customer_shopify_id.in_(customers[i : i + CHUNK]),  # type: ignore[union-attr]
                Checkout.shopify_created_at >= earliest,  # type: ignore[operator]
            )
        ).all():
            if at is not None:
                started[int(cid)].append(at)
    guests = [
        (normal_email(email), normal_phone(phone)) for cid, _, _, _, email, phone in rows if cid is None
    ]
    by_guest = guest_checkout_starts(
        session, shop_id, earliest, (e for e, _ in guests if e), (p for e, p in guests if p and not e)
    )
    out = []
    for cid, at, total, discounts, email, phone in rows:
        if at is None:
            continue
        address, number = normal_email(email), normal_phone(phone)
        if cid is not None:
            starts = started[int(cid)]
        else:
            starts = by_guest.get(address, []) if address else by_guest.get(number or "", [])
        out.append(
            OrderFact(
                customer_id=int(cid) if cid is not None else None,
                at=at,
                total=float(Decimal(str(total or 0))),
                discounts=float(Decimal(str(discounts or 0))),
                checkouts_started=tuple(sorted(starts)),
                email=address,
                phone=number,
            )
        )
    return out


def first_decision_at(session: Session, shop_id: int) -> datetime | None:
    """When the agent first decided anything in this shop (its launch, for the guardrail's before/after)."""
    return session.exec(
        select(func.min(MessageDecision.decided_at)).where(
            MessageDecision.shop_id == shop_id, MessageDecision.agent == AGENT
        )
    ).one()
