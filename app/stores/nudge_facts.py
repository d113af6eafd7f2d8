"""The ladder's facts for one shop: **help** (the shop's shipping facts for the shopper's country and the gap to
free shipping; else the support knowledge's grounded answer to the likely question) and **compare** (in-stock
products of a cart item's type, cheaper or better rated, each with its reason). Every query scoped by shop."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.agents.nudge import Alternative, HelpAnswer
from app.catalog.stock import variant_availability
from app.models.commerce import Product, ProductVariant
from app.models.feedback import ProductReview
from app.stores.knowledge import answer_question
from app.stores.nudge import alternatives_cache, answers_cache

QUESTIONS = {  # the likely question behind each topic, asked of the shop's support knowledge
    "shipping": "How much does shipping cost and how long does delivery take?",
    "returns": "Can I return an item for a refund?",
    "size": "What size should I choose? Size and fit.",
}
MIN_RATING_GAIN = 0.3
MIN_REVIEWS = 2


# --- help --------------------------------------------------------------------------------------------------------


def shipping_facts(settings: dict[str, Any], country: str | None, cart_value: float) -> dict[str, Any] | None:
    """Cost and delivery time for ``country`` (else the shop's default, ``*``) and the gap to free shipping,
    from the shop's shipping settings; None when the shop gave none."""
    shipping = settings.get("shipping") or {}
    rates = shipping.get("rates") or {}
    rate = rates.get((country or "").upper()) or rates.get("*")
    free_over = shipping.get("free_over")
    if not rate and free_over is None:
        return None
    facts: dict[str, Any] = {"currency": shipping.get("currency") or "USD"}
    if rate:
        facts.update({k: rate.get(k) for k in ("cost", "min_days", "max_days")})
    if isinstance(free_over, (int, float)):
        facts["free_gap"] = round(max(float(free_over) - cart_value, 0.0), 2)
        if facts["free_gap"] == 0:
            facts["cost"] = 0
    return facts


def knowledge_answer(session: Session, shop_id: int, topic: str, product_id: int | None) -> Any:
    """The support knowledge's grounded answer to the topic's likely question (cached per process)."""
    question = QUESTIONS.get(topic)
    if question is None:
        return None
    scoped = product_id if topic == "size" else None
    return answers_cache.get(
        (shop_id, topic, scoped), lambda: answer_question(session, shop_id, question, product_id=scoped)
    )


def help_answer(
    session: Session,
    shop_id: int,
    topic: str | None,
    *,
    settings: dict[str, Any],
    country: str | None,
    cart_value: float,
    product_id: int | None,
) -> HelpAnswer | None:
    if topic is None:
        return None
    facts: dict[str, Any] = {}
    source, url = "", None
    if topic == "shipping":
        found = shipping_facts(settings, country, cart_value)
        if found:
            facts.update(found)
            source = f"the shop's shipping rates ({(country or 'default').upper()})"
    if not facts:
        grounded = knowledge_answer(session, shop_id, topic, product_id)
        if grounded is None:
            return None
        facts["text"] = grounded.text
        source, url = grounded.source_title, grounded.url
    return HelpAnswer(topic, facts, source, url)


# --- compare -----------------------------------------------------------------------------------------------------


def _ratings(session: Session, shop_id: int, product_ids: Iterable[int]) -> dict[int, tuple[float, int]]:
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(ProductReview.product_shopify_id, func.avg(ProductReview.rating), func.count())
        .where(ProductReview.shop_id == shop_id, ProductReview.product_shopify_id.in_(ids))
        .group_by(ProductReview.product_shopify_id)
    ).all()
    return {int(p): (float(a), int(n)) for p, a, n in rows}


def alternatives(
    session: Session, shop_id: int, cart_product_ids: Sequence[int], currency: str, limit: int = 3
) -> list[Alternative]:
    """In-stock products of the same type as a cart item, cheaper or better rated, each with its reason
    (cached per process for a minute per cart's products)."""
    key = (shop_id, tuple(sorted(set(cart_product_ids))[:10]), currency, limit)
    return alternatives_cache.get(key, lambda: _alternatives(session, shop_id, key[1], currency, limit))


def _alternatives(
    session: Session, shop_id: int, cart_product_ids: Sequence[int], currency: str, limit: int
) -> list[Alternative]:
    cart = session.exec(
        select(Product).where(Product.shop_id == shop_id, Product.shopify_id.in_(list(cart_product_ids)[:10]))
    ).all()
    types = {p.product_type for p in cart if p.product_type}
    if not types:
        return []
    candidates = session.exec(
        select(Product).where(
            Product.shop_id == shop_id,
            Product.product_type.in_(sorted(types)),
            Product.status == "active",
            Product.deleted_at.is_(None),
        )
    ).all()
    ids = {p.shopify_id for p in candidates}
    variants = session.exec(
        select(ProductVariant).where(
            ProductVariant.shop_id == shop_id, ProductVariant.product_shopify_id.in_(sorted(ids))
        )
    ).all()
    sellable = variant_availability(session, shop_id, variants)
    price: dict[int, float] = {}
    in_stock: set[int] = set()
    for v in variants:
        if v.price is not None:
            price[v.product_shopify_id] = min(price.get(v.product_shopify_id, float("inf")), float(v.price))
        if sellable.get(v.shopify_id):
            in_stock.add(v.product_shopify_id)
    ratings = _ratings(session, shop_id, ids)
    in_cart = {p.shopify_id for p in cart}
    out: list[Alternative] = []
    for item in cart:
        for c in sorted(candidates, key=lambda c: (price.get(c.shopify_id, 0.0), c.shopify_id)):
            if c.shopify_id in in_cart or c.shopify_id not in in_stock or c.product_type != item.product_type:
                continue
            reason = _better(price, ratings, item.shopify_id, c.shopify_id)
            if reason and all(a.product_id != c.shopify_id for a in out):
                rating = ratings.get(c.shopify_id)
                out.append(
                    Alternative(
                        c.shopify_id,
                        c.title,
                        f"/products/{c.handle}",
                        price.get(c.shopify_id, 0.0),
                        currency,
                        rating[0] if rating else None,
                        reason,
                        item.title,
                    )
                )
            if len(out) >= limit:
                return out
    return out


def _better(price: dict[int, float], ratings: dict, mine: int, other: int) -> str | None:
    theirs, own = ratings.get(other), ratings.get(mine)
    if theirs and theirs[1] >= MIN_REVIEWS and theirs[0] >= (own[0] if own else 0.0) + MIN_RATING_GAIN:
        return "better_rated"
    if other in price and mine in price and price[other] < price[mine]:
        return "cheaper"
    return None
