"""What the browse-abandonment agent reads about one shop: each shopper's product views, cart adds and
purchases of the last days, their active hours and time zone; cards and recommendations for products. No
commits.

A shopper is an identity root: a browser stitched to a customer (identity links, made from verified
identifiers) is that customer. The pixel's own ``customerId`` is an unverified claim and is not used to name
anyone here: an anonymous browser stays an anonymous shopper, who can only get an on-site message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlmodel import Session, select

from app.agents.browse_abandonment import WINDOW, BrowseHistory
from app.identity import kind_of
from app.measurement.exposure_features import profile_features
from app.models.commerce import Order
from app.models.events import PixelEvent
from app.models.messaging import MessageDecision
from app.models.profiles import CustomerProfile
from app.models.serving import RecommendationList
from app.models.shop import Shop
from app.orchestrator.content import Card
from app.orchestrator.proposal import Shopper
from app.profiles.state import ref_id
from app.stores.catalog import product_cards
from app.stores.identity import roots_of

EVENTS = ("product_viewed", "product_added_to_cart", "checkout_completed")


def _product_of(name: str, data: dict[str, Any]) -> int | None:
    variant = data.get("variant") if name == "product_viewed" else (data.get("line") or {}).get("variant")
    product = (variant or {}).get("product") if isinstance(variant, dict) else None
    pid = ref_id(product.get("id")) if isinstance(product, dict) else None
    return int(pid) if pid and pid.isdigit() else None


def _shopper(root: str, client: str) -> Shopper:
    if kind_of(root) == "customer":
        value = root.split(":", 1)[1]
        if value.isdigit():
            return Shopper(customer_id=int(value))
    return Shopper(client_id=client[:64])


def browse_histories(session: Session, shop_id: int, now: datetime) -> list[BrowseHistory]:
    """Every shopper with storefront activity in the agent's window, as ``BrowseHistory``."""
    rows = session.exec(
        select(PixelEvent.client_id, PixelEvent.name, PixelEvent.occurred_at, PixelEvent.data)
        .where(
            PixelEvent.shop_id == shop_id,
            PixelEvent.occurred_at >= now - WINDOW,
            PixelEvent.name.in_(EVENTS),  # type: ignore[attr-defined]
        )
        .order_by(PixelEvent.occurred_at, PixelEvent.id)
    ).all()
    if not rows:
        return []
    roots = roots_of(session, shop_id, {f"client:{c}" for c, *_ in rows})
    views: dict[str, dict[int, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    carted: dict[str, set[int]] = defaultdict(set)
    purchases: dict[str, list[datetime]] = defaultdict(list)
    latest_client: dict[str, str] = {}
    for client, name, at, data in rows:
        root = roots.get(f"client:{client}", f"client:{client}")
        latest_client[root] = client
        if name == "checkout_completed":
            purchases[root].append(at)
            continue
        pid = _product_of(name, data or {})
        if pid is None:
            continue
        if name == "product_viewed":
            views[root][pid].append(at)
        else:
            carted[root].add(pid)
    _add_orders(session, shop_id, now, purchases, roots.values())
    profiles = shopper_profiles(session, shop_id, list(latest_client), now)
    out = []
    for root, client in latest_client.items():
        if root not in views:
            continue
        hours, zone, features = profiles.get(root, ([0] * 24, None, profile_features(None, None, 0, now)))
        out.append(
            BrowseHistory(
                shopper=_shopper(root, client),
                views={pid: tuple(times) for pid, times in views[root].items()},
                carted=frozenset(carted[root]),
                purchases=tuple(purchases[root]),
                hours=tuple(hours),
                time_zone=zone,
                features=features,
            )
        )
    return out


def _add_orders(
    session: Session, shop_id: int, now: datetime, purchases: dict[str, list[datetime]], roots: Iterable[str]
) -> None:
    customers = {
        int(r.split(":", 1)[1]) for r in roots if kind_of(r) == "customer" and r.split(":", 1)[1].isdigit()
    }
    if not customers:
        return
    for customer, placed in session.exec(
        select(Order.customer_shopify_id, Order.processed_at).where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.in_(sorted(customers)),  # type: ignore[union-attr]
            Order.processed_at >= now - WINDOW,  # type: ignore[operator]
            Order.test.is_(False),  # type: ignore[attr-defined]
        )
    ).all():
        if placed is not None:
            purchases[f"customer:{customer}"].append(placed)


def shopper_profiles(
    session: Session, shop_id: int, keys: list[str], now: datetime
) -> dict[str, tuple[list[int], str | None, dict[str, Any]]]:
    """Per shopper key: the activity per local hour, the browser's time zone and the uplift features."""
    out: dict[str, tuple[list[int], str | None, dict[str, Any]]] = {}
    for key, contextual, derived, explicit, events in session.exec(
        select(
            CustomerProfile.customer_key,
            CustomerProfile.contextual,
            CustomerProfile.derived,
            CustomerProfile.explicit,
            CustomerProfile.event_count,
        ).where(
            CustomerProfile.shop_id == shop_id,
            CustomerProfile.customer_key.in_(keys),  # type: ignore[attr-defined]
        )
    ).all():
        ctx = contextual or {}
        hours = ctx.get("hours") if isinstance(ctx.get("hours"), list) else [0] * 24
        zone = ctx.get("time_zone")
        value = zone.get("value") if isinstance(zone, dict) else zone
        out[key] = (
            [int(h) if isinstance(h, int | float) else 0 for h in hours][:24],
            value if isinstance(value, str) else None,
            profile_features(derived, explicit, int(events or 0), now),
        )
    return out


def agent_experiment(
    session: Session, shop_id: int, agent: str, now: datetime, window: timedelta = WINDOW
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The agent's randomised exposures in this shop whose outcome window has closed: per known shopper, their
    first decision's features (as recorded then), whether they were treated (the arm, intention to treat) and
    whether they ordered within ``window`` of it."""
    rows = session.exec(
        select(
            MessageDecision.customer_shopify_id,
            MessageDecision.arm,
            MessageDecision.features,
            MessageDecision.decided_at,
        )
        .where(
            MessageDecision.shop_id == shop_id,
            MessageDecision.agent == agent,
            MessageDecision.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            MessageDecision.decided_at <= now - window,
        )
        .order_by(MessageDecision.decided_at, MessageDecision.id)
    ).all()
    first: dict[int, tuple[str, dict[str, Any], datetime]] = {}
    for cid, arm, features, at in rows:
        first.setdefault(int(cid), (arm, features or {}, at))
    if not first:
        return pd.DataFrame(), np.zeros(0, int), np.zeros(0, int)
    since = min(at for _, _, at in first.values())
    bought: dict[int, list[datetime]] = defaultdict(list)
    for cid, placed in session.exec(
        select(Order.customer_shopify_id, Order.processed_at).where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.in_(sorted(first)),  # type: ignore[union-attr]
            Order.processed_at >= since,  # type: ignore[operator]
            Order.test.is_(False),  # type: ignore[attr-defined]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
        )
    ).all():
        if placed is not None:
            bought[int(cid)].append(placed)
    ids = sorted(first)
    treated = np.array([first[c][0] == "treatment" for c in ids], int)
    outcome = np.array(
        [any(at <= t <= at + window for t in bought[c]) for c, (_, _, at) in ((c, first[c]) for c in ids)],
        int,
    )
    return pd.DataFrame([first[c][1] for c in ids]), treated, outcome


def reminder_content(
    session: Session, shop_id: int, product_ids: Iterable[int]
) -> tuple[str, dict[int, Card], dict[int, list[int]]]:
    """(the shop's name, cards of the products and of what goes with them, product -> recommendations):
    bought-together first, then similar products, from the precomputed product lists."""
    ids = sorted({int(p) for p in product_ids})
    shop = session.get(Shop, shop_id)
    domain = shop.domain if shop is not None else ""
    name = domain.split(".", 1)[0].replace("-", " ").title() if domain else "the shop"
    pairs: dict[int, list[int]] = defaultdict(list)
    if ids:
        lists = session.exec(
            select(RecommendationList.subject, RecommendationList.placement, RecommendationList.items).where(
                RecommendationList.shop_id == shop_id,
                RecommendationList.scope == "product",
                RecommendationList.subject.in_([str(p) for p in ids]),  # type: ignore[attr-defined]
                RecommendationList.placement.in_(("fbt", "product")),  # type: ignore[attr-defined]
            )
        ).all()
        for subject, _placement, items in sorted(lists, key=lambda r: (r[0], r[1] != "fbt")):
            for item in items or []:
                pid = item.get("product_id") if isinstance(item, dict) else None
                if isinstance(pid, int) and pid not in pairs[int(subject)]:
                    pairs[int(subject)].append(pid)
    wanted = set(ids) | {p for recs in pairs.values() for p in recs[:10]}
    cards = {}
    for pid, card in product_cards(session, shop_id, wanted).items():
        price = card.get("price")
        shown = f"{price} {card['currency']}" if price else None
        cards[pid] = Card(
            product_id=pid,
            title=card["title"],
            url=f"https://{domain}{card['url']}" if domain else card["url"],
            price=shown,
            value=float(price) if price else 0.0,
            currency=card["currency"] if price else None,
            available=bool(card["available"]),
        )
    return name, cards, dict(pairs)
