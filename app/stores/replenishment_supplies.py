"""The replenishment agent's view of a shop's forecasts (``Supply``): what the nightly reminder job proposes from
and what the assistant's "Running low?" shows, from one function so the two never disagree.

Each forecast gets the catalogue's card of its product, the variant the shopper bought last (whether it can be
sold now) and, for one that cannot, a **substitute**: an in-stock product of the same product type, the one the
shop's precomputed "similar" and "bought together" lists put first, else the closest in price within
``SUBSTITUTE_PRICE_BAND``. A product without a type has no substitute: nothing of "the same kind" is known.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, select

from app.agents.replenishment import AGENT, DELIVERY, Supply, due_items, reason, swap_reason, swaps
from app.models.base import utcnow
from app.models.commerce import Product
from app.models.replenishment import ReplenishmentForecast, ReplenishmentSetting
from app.models.shop import Shop
from app.orchestrator.content import Card
from app.orchestrator.policy import shopper_arm
from app.orchestrator.proposal import Arm, Shopper
from app.recommend.pack_sizes import of_variant
from app.stores.browse import reminder_content
from app.stores.catalog import product_cards
from app.stores.contact_policy import load_policy
from app.stores.replenishment import (
    customer_forecasts,
    subscription_coverage,
    usual_variants,
    variant_pack_factors,
)

SUBSTITUTE_PRICE_BAND = 0.3  # within ±30 % of the usual item's price
MAX_CANDIDATES = 200  # products of one type looked at per substitute search


def _types(session: Session, shop_id: int, product_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(Product.shopify_id, Product.product_type).where(
            Product.shop_id == shop_id,
            Product.shopify_id.in_(ids),  # type: ignore[attr-defined]
        )
    ).all()
    return {int(pid): t.strip() for pid, t in rows if t and t.strip()}


def substitutes(
    session: Session,
    shop_id: int,
    wanted: Sequence[int],
    cards: dict[int, Card],
    related: dict[int, list[int]],
) -> dict[int, Card]:
    """Product → an in-stock substitute of the same product type (see the module's docstring)."""
    types = _types(session, shop_id, wanted)
    if not types:
        return {}
    same_type: dict[str, list[int]] = defaultdict(list)
    for pid, kind in session.exec(
        select(Product.shopify_id, Product.product_type)
        .where(
            Product.shop_id == shop_id,
            Product.product_type.in_(sorted(set(types.values()))),  # type: ignore[union-attr]
            Product.deleted_at.is_(None),  # type: ignore[union-attr]
            or_(Product.status.is_(None), Product.status == "active"),  # type: ignore[union-attr]
        )
        .order_by(Product.shopify_id)
    ).all():
        if len(same_type[kind.strip()]) < MAX_CANDIDATES:
            same_type[kind.strip()].append(int(pid))
    candidates = {p for ps in same_type.values() for p in ps}
    known = {**cards, **_cards(session, shop_id, candidates - set(cards))}
    out: dict[int, Card] = {}
    for pid in wanted:
        kind = types.get(pid)
        usual = known.get(pid)
        if kind is None or usual is None:
            continue
        pool = [known[c] for c in same_type.get(kind, []) if c != pid and c in known and known[c].available]
        if usual.value > 0:
            pool = [
                c
                for c in pool
                if c.value > 0 and abs(c.value - usual.value) <= SUBSTITUTE_PRICE_BAND * usual.value
            ]
        if not pool:
            continue
        rank = {c: i for i, c in enumerate(related.get(pid, []))}
        out[pid] = min(
            pool, key=lambda c: (rank.get(c.product_id, len(rank)), abs(c.value - usual.value), c.product_id)
        )
    return out


def _cards(session: Session, shop_id: int, product_ids: Iterable[int]) -> dict[int, Card]:
    """Cards like ``reminder_content``'s: links on the shop's own domain."""
    shop = session.get(Shop, shop_id)
    origin = f"https://{shop.domain}" if shop is not None and shop.domain else ""
    return {
        pid: Card(
            product_id=pid,
            title=c["title"],
            url=origin + c["url"],
            price=f"{c['price']} {c['currency']}" if c.get("price") else None,
            value=float(c["price"]) if c.get("price") else 0.0,
            available=bool(c["available"]),
            currency=c["currency"] if c.get("price") else None,
        )
        for pid, c in product_cards(session, shop_id, product_ids).items()
    }


def supplies(
    session: Session, shop_id: int, forecasts: Sequence[ReplenishmentForecast], now: datetime
) -> tuple[str, dict[int, list[Supply]], dict[int, list[Card]]]:
    """(the shop's name, customer → their supplies, product → cards of what shoppers add when restocking it).
    A supply an active subscription covers is marked ``subscribed``; one the shop sells on subscription,
    ``subscribable`` (``app.stores.replenishment.subscription_coverage``)."""
    products = sorted({f.product_shopify_id for f in forecasts})
    covered, sold = subscription_coverage(
        session,
        shop_id,
        {(f.customer_shopify_id, f.product_shopify_id): f.cycle_days for f in forecasts},
        now,
    )
    name, cards, pairs = reminder_content(session, shop_id, products)
    first_sellable = {
        pid: c.get("variant_id") for pid, c in product_cards(session, shop_id, products).items()
    }
    customers = sorted({f.customer_shopify_id for f in forecasts})
    usual = usual_variants(session, shop_id, customers, products)
    factors = variant_pack_factors(session, shop_id, products)
    unavailable = [
        pid
        for pid in products
        if (card := cards.get(pid)) is not None
        and (not card.available or any(not ok for (_, p), (_, ok) in usual.items() if p == pid))
    ]
    subs = substitutes(session, shop_id, unavailable, cards, pairs)
    out: dict[int, list[Supply]] = defaultdict(list)
    for f in forecasts:
        card = cards.get(f.product_shopify_id)
        if card is None:  # no longer in the catalogue
            continue
        variant_id, available = usual.get(
            (f.customer_shopify_id, f.product_shopify_id),
            (first_sellable.get(f.product_shopify_id), card.available),
        )
        quantity = of_variant(
            f.usual_quantity, factors, variant_id
        )  # the forecast counts the smallest variant
        out[f.customer_shopify_id].append(
            Supply(
                product_id=f.product_shopify_id,
                variant_id=variant_id,
                title=card.title,
                url=card.url,
                price=card.price,
                value=card.value,
                usual_quantity=quantity,
                cycle_days=f.cycle_days,
                last_purchase_at=f.last_purchase_at,
                due_at=f.due_at,
                p_within_14d=f.p_within_14d,
                supply_left=f.supply_left,
                status=f.status,
                consumable=f.consumable,
                available=available,
                personal=f.basis == "personal",
                substitute=None if available else subs.get(f.product_shopify_id),
                subscribed=(f.customer_shopify_id, f.product_shopify_id) in covered,
                subscribable=f.product_shopify_id in sold,
            )
        )
    complements = {pid: [c for o in pairs.get(pid, []) if (c := cards.get(o))] for pid in products}
    return name, dict(out), complements


def delivery_time(session: Session, shop_id: int) -> timedelta:
    """The shop's delivery time (its setting, else ``DELIVERY``)."""
    days = session.exec(
        select(ReplenishmentSetting.delivery_days).where(ReplenishmentSetting.shop_id == shop_id)
    ).first()
    return DELIVERY if days is None else timedelta(days=int(days))


def save_delivery_days(session: Session, shop_id: int, days: int) -> None:
    """Set the shop's delivery time in days (validated by the caller). No commit."""
    row = session.exec(
        select(ReplenishmentSetting).where(ReplenishmentSetting.shop_id == shop_id).with_for_update()
    ).first() or ReplenishmentSetting(shop_id=shop_id)
    row.delivery_days, row.updated_at = days, utcnow()
    session.add(row)


def running_low(session: Session, shop_id: int, customer_id: int, now: datetime) -> dict[str, Any]:
    """The assistant's "Running low?" for a signed-in customer: what the replenishment agent would remind them
    of now (``due_items``, and ``swaps`` with their substitute), each with how far through their supply they
    are, the reason and a one-click reorder; and a cart permalink with all of them. Nothing for a shopper in
    the agent's holdout (its measured effect includes this)."""
    empty: dict[str, Any] = {"items": [], "cart_url": None}
    forecasts = customer_forecasts(session, shop_id, customer_id)
    if not forecasts:
        return empty
    arm = shopper_arm(shop_id, AGENT, Shopper(customer_id=customer_id), load_policy(session, shop_id))
    if arm is Arm.HOLDOUT:
        return empty
    _, of, _ = supplies(session, shop_id, forecasts, now)
    mine, delivery = of.get(customer_id, []), delivery_time(session, shop_id)
    due, swapped = due_items(mine, now, delivery), swaps(mine, now, delivery)
    items = [
        {
            "product_id": s.product_id,
            "title": s.title,
            "url": s.url,
            "price": s.price,
            "quantity": s.usual_quantity,
            "percent_through": int(round(100 * (1 - s.supply_left))),
            "reason": reason(s, now),
            "cart_url": f"/cart/{s.variant_id}:{max(s.usual_quantity, 1)}",
        }
        for s in due
    ]
    items += [
        {
            "product_id": sub.product_id,
            "title": sub.title,
            "url": sub.url,
            "price": sub.price,
            "quantity": None,
            "percent_through": int(round(100 * (1 - s.supply_left))),
            "reason": swap_reason(s),
            "cart_url": None,
            "instead_of": s.product_id,
        }
        for s in swapped
        if (sub := s.substitute) is not None
    ]
    cart = "/cart/" + ",".join(f"{s.variant_id}:{max(s.usual_quantity, 1)}" for s in due) if due else None
    return {"items": items, "cart_url": cart}
