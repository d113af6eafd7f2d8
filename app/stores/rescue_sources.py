"""The after-session rescue's two other sources (``app.agents.rescue``): **guest checkouts** (an e-mail address
or a phone number, no customer account) and **carts that never reached checkout** (a known customer's cart, from
the web pixel's cart events). No commits (``sync_guests`` flushes the guests' consent rows in the caller's
transaction).

- A guest checkout is abandoned like a customer's (not completed or deleted, no order with its token, cart token
  or address since its last update); one sequence per guest (its newest checkout; keyed by address, or by number
  for a phone-only checkout), by e-mail, else SMS. Its consent is the checkout's marketing boxes
  (``app.stores.guests``): e-mail when the guest ticked the e-mail box, SMS when they ticked the SMS box with a
  valid number; the orchestrator takes the first consented channel (quiet hours in the zone of the checkout's
  address, else the shop's), suppresses a guest who ticked neither, and the relay re-checks the channel's
  consent (an unsubscribe or a STOP since) before each send.
- A cart is the pixel's ``product_added_to_cart`` / ``product_removed_from_cart`` events (a ``cart_viewed``
  snapshot replaces the lines) of a browser stitched to a customer by a verified link (the pixel's own
  ``customerId`` names nobody). It is abandoned when it still holds items ``ABANDONED_AFTER`` after its last
  change, and no checkout was started (pixel ``checkout_started`` or a mirrored checkout of that customer) and
  no order was placed by the customer since the cart's first item. Its token is a hash of the shopper and the
  cart's first add, so a re-run proposes nothing twice; the link is the cart permalink.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from app.agents.rescue import ABANDONED_AFTER, AbandonedCheckout, Line
from app.identity import kind_of
from app.models.commerce import Checkout, Order
from app.models.events import PixelEvent
from app.orchestrator.proposal import Shopper
from app.profiles.state import ref_id
from app.stores.guests import guest_contacts, guest_purchases, sync_guests
from app.stores.identity import roots_of
from app.stores.rescue import LOOKBACK, abandoned, customer_features, decided_tokens

CART_EVENTS = ("product_added_to_cart", "product_removed_from_cart", "cart_viewed")
CHECKOUT_EVENTS = ("checkout_started", "checkout_completed")
GUEST_CHANNELS = ("email", "sms")  # e-mail first; SMS when it is the guest's only consented channel


def guest_checkouts(session: Session, shop_id: int, now: datetime) -> list[AbandonedCheckout]:
    """Abandoned guest checkouts, the newest per guest (address, or number), not yet decided."""
    rows = session.exec(
        select(Checkout).where(
            Checkout.shop_id == shop_id,
            Checkout.customer_shopify_id.is_(None),  # type: ignore[union-attr]
            or_(
                Checkout.email.is_not(None),  # type: ignore[union-attr]
                Checkout.sms_marketing_phone.is_not(None),  # type: ignore[union-attr]
                Checkout.phone.is_not(None),  # type: ignore[union-attr]
            ),
            Checkout.completed_at.is_(None),  # type: ignore[union-attr]
            Checkout.deleted_at.is_(None),  # type: ignore[union-attr]
            Checkout.shopify_updated_at >= now - LOOKBACK,  # type: ignore[operator]
            Checkout.shopify_updated_at <= now - ABANDONED_AFTER,  # type: ignore[operator]
        )
    ).all()
    guests = sync_guests(session, shop_id, rows)
    newest: dict[str, Checkout] = {}
    for r in rows:
        key = guests.get(r.token)
        if key and (key not in newest or r.shopify_updated_at > newest[key].shopify_updated_at):  # type: ignore[operator]
            newest[key] = r
    decided = decided_tokens(session, shop_id, [r.token for r in newest.values()])
    newest = {k: r for k, r in newest.items() if r.token not in decided}
    if not newest:
        return []
    tokens = sorted(
        {r.token for r in newest.values()} | {r.cart_token for r in newest.values() if r.cart_token}
    )
    by_token = set(
        t
        for pair in session.exec(
            select(Order.checkout_token, Order.cart_token).where(
                Order.shop_id == shop_id,
                or_(Order.checkout_token.in_(tokens), Order.cart_token.in_(tokens)),  # type: ignore[union-attr]
            )
        ).all()
        for t in pair
        if t
    )
    bought = guest_purchases(session, shop_id, guest_contacts(session, shop_id, newest).values())
    out = []
    for key, r in newest.items():
        found = abandoned(
            r, Shopper(client_id=key), by_token, bought.get(key), source="guest", channels=GUEST_CHANNELS
        )
        if found is not None:
            out.append(found)
    return out


def _cart_id(value: Any) -> str | None:
    """The cart token of a pixel ``cart.id`` (``gid://shopify/Cart/<token>?key=…``)."""
    token = ref_id(value)
    return token[:255] if token else None


class _Cart:
    def __init__(self) -> None:
        self.lines: dict[int, list[Any]] = {}  # variant → [qty, product, title, price]
        self.started: datetime | None = None
        self.changed: datetime | None = None
        self.token: str | None = None
        self.checkout_at: datetime | None = None
        self.client = ""

    def add(self, variant: dict[str, Any], qty: int, at: datetime) -> None:
        vid = ref_id(variant.get("id"))
        if not vid or not vid.isdigit():
            return
        product = variant.get("product") if isinstance(variant.get("product"), dict) else {}
        pid = ref_id(product.get("id"))
        price = (variant.get("price") or {}).get("amount") if isinstance(variant.get("price"), dict) else None
        entry = self.lines.setdefault(int(vid), [0, None, None, None])
        entry[0] = max(entry[0] + qty, 0)
        entry[1] = int(pid) if pid and pid.isdigit() else entry[1]
        entry[2] = str(product.get("title") or variant.get("title") or entry[2] or "an item")[:200]
        entry[3] = price if isinstance(price, int | float) else entry[3]
        self._touch(at)

    def _touch(self, at: datetime) -> None:
        if not any(e[0] > 0 for e in self.lines.values()):
            self.lines, self.started = {}, None
        elif self.started is None:
            self.started = at
        self.changed = at

    def snapshot(self, cart: dict[str, Any], at: datetime) -> None:
        self.token = _cart_id(cart.get("id")) or self.token
        lines = cart.get("lines")
        if not isinstance(lines, list):
            return
        self.lines = {}
        for ln in lines:
            if isinstance(ln, dict) and isinstance(ln.get("variant"), dict):
                qty = ln.get("quantity")
                self.add(ln["variant"], int(qty) if isinstance(qty, int) and qty > 0 else 0, at)
        self._touch(at)

    def total(self) -> float:
        return round(sum(e[0] * float(e[3] or 0) for e in self.lines.values()), 2)


def _fold(rows: list[Any], roots: dict[str, str]) -> dict[int, _Cart]:
    carts: dict[int, _Cart] = defaultdict(_Cart)
    for client, name, at, data in rows:
        root = roots.get(f"client:{client}", "")
        value = root.split(":", 1)[1] if kind_of(root) == "customer" else ""
        if not value.isdigit():
            continue  # an anonymous browser: nobody to write to after the session
        cart = carts[int(value)]
        cart.client = client
        data = data or {}
        if name in CHECKOUT_EVENTS:
            cart.checkout_at = at
            if name == "checkout_completed":
                cart.lines, cart.started = {}, None
        elif name == "cart_viewed" and isinstance(data.get("cart"), dict):
            cart.snapshot(data["cart"], at)
        elif name in ("product_added_to_cart", "product_removed_from_cart"):
            line = data.get("line") if isinstance(data.get("line"), dict) else {}
            qty = (
                line.get("quantity") if isinstance(line.get("quantity"), int) and line["quantity"] > 0 else 1
            )
            variant = line.get("variant") if isinstance(line.get("variant"), dict) else {}
            cart.add(variant, qty if name == "product_added_to_cart" else -qty, at)
    return carts


def cart_token(customer_id: int, started: datetime) -> str:
    return "cart-" + hashlib.sha256(f"{customer_id}:{started.isoformat()}".encode()).hexdigest()[:24]


def abandoned_carts(session: Session, shop_id: int, now: datetime) -> list[AbandonedCheckout]:
    """Known customers' carts with items, no checkout started and no order since, idle ``ABANDONED_AFTER``."""
    rows = session.exec(
        select(PixelEvent.client_id, PixelEvent.name, PixelEvent.occurred_at, PixelEvent.data)
        .where(
            PixelEvent.shop_id == shop_id,
            PixelEvent.occurred_at >= now - LOOKBACK,
            PixelEvent.occurred_at <= now,
            PixelEvent.name.in_(CART_EVENTS + CHECKOUT_EVENTS),  # type: ignore[attr-defined]
        )
        .order_by(PixelEvent.occurred_at, PixelEvent.id)
    ).all()
    if not rows:
        return []
    roots = roots_of(session, shop_id, {f"client:{c}" for c, *_ in rows})
    carts = {
        cid: c
        for cid, c in _fold(list(rows), roots).items()
        if c.started is not None
        and c.changed is not None
        and c.changed <= now - ABANDONED_AFTER
        and (c.checkout_at is None or c.checkout_at < c.started)
    }
    tokens = {cid: cart_token(cid, c.started) for cid, c in carts.items()}  # type: ignore[arg-type]
    decided = decided_tokens(session, shop_id, list(tokens.values()))
    carts = {cid: c for cid, c in carts.items() if tokens[cid] not in decided}
    if not carts:
        return []
    since = min(c.started for c in carts.values())  # type: ignore[type-var]
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    bought: dict[int, datetime] = {}
    for cid, at in session.exec(
        select(Order.customer_shopify_id, func.max(placed))
        .where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.in_(sorted(carts)),  # type: ignore[union-attr]
            placed >= since,
        )
        .group_by(Order.customer_shopify_id)
    ).all():
        if at is not None:
            bought[int(cid)] = at
    checkouts: dict[int, datetime] = {}
    for cid, at in session.exec(
        select(Checkout.customer_shopify_id, func.max(Checkout.shopify_created_at))
        .where(
            Checkout.shop_id == shop_id,
            Checkout.customer_shopify_id.in_(sorted(carts)),  # type: ignore[union-attr]
            Checkout.shopify_created_at >= since,  # type: ignore[operator]
        )
        .group_by(Checkout.customer_shopify_id)
    ).all():
        if at is not None:
            checkouts[int(cid)] = at
    features = customer_features(session, shop_id, sorted(carts), now)
    out = []
    for cid, c in carts.items():
        started = c.started
        if started is None or c.changed is None or checkouts.get(cid, started - LOOKBACK) >= started:
            continue  # a checkout was started since: the checkout's own rescue covers it
        lines = [
            Line(product_id=e[1], variant_id=vid, quantity=e[0], title=e[2] or "an item",
                 price=f"{float(e[3]):.2f}" if e[3] is not None else None)
            for vid, e in c.lines.items()
            if e[0] > 0
        ]  # fmt: skip
        out.append(
            AbandonedCheckout(
                token=tokens[cid],
                shopper=Shopper(customer_id=cid),
                updated_at=c.changed,
                lines=lines,
                total=c.total(),
                ordered=bought.get(cid, started - LOOKBACK) >= started,
                features={**features.get(cid, {}), "cart_token": c.token},
                source="cart",
            )
        )
    return out
