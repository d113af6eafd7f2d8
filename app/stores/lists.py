"""One shop's recommendation lists: the plain ``ShopData`` the list computation reads (catalogue cards,
purchase history net of returns, reviews, interests, merchant rules, product vectors, the shop's next-basket
ranker), the rules of a few customers' personal lists, and the upsert of the computed lists into
``recommendation_list``. No commits.

Invariant of ``write_lists``: after a refresh of some scopes, the stored rows of those scopes are exactly the
computed ones (new rows added, changed rows rewritten, rows no longer produced deleted); other scopes are
untouched, so a one-customer refresh never reads or rewrites another shopper's lists.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.commerce import Product
from app.models.feedback import ProductReview
from app.models.serving import RecommendationList
from app.profiles.feedback import DISLIKED_MAX
from app.recommend.lists import ListSpec, ModelInfo, ShopData
from app.recommend.nextbasket import NextBasketRecommender
from app.recommend.personal import ListRules, list_rules
from app.stores.catalog import product_cards, shop_currency, stored_vectors
from app.stores.interests import load_interests
from app.stores.merchant_rules import load_rules
from app.stores.ranker import load_ranker, purchase_lines
from app.stores.replenishment import buy_again_due

NO_RANKER_YET = "no ranker trained yet (a sync, the nightly job or a customer refresh queues one)"


def _product_text(p: Product) -> str:
    body = re.sub(r"<[^>]+>", " ", p.body_html or "")
    return " ".join(x for x in (p.title, p.product_type, p.vendor, p.tags, body) if x)


def load_shop_data(session: Session, shop_id: int, *, with_content: bool = True) -> ShopData:
    """The shop's catalogue and purchase history; ``with_content=False`` skips the product texts and vectors
    (only the per-product similar lists use them, and a one-customer refresh computes none)."""
    products = session.exec(
        select(Product).where(Product.shop_id == shop_id, Product.deleted_at.is_(None))
    ).all()
    currency = shop_currency(session, shop_id)
    cards = product_cards(session, shop_id, [p.shopify_id for p in products], currency)
    texts = {p.shopify_id: _product_text(p) for p in products} if with_content else {}
    types = {p.shopify_id: p.product_type or "" for p in products}
    vectors = stored_vectors(session, shop_id) if with_content else None
    created = {
        p.shopify_id: (p.shopify_created_at or p.published_at or utcnow()).timestamp() for p in products
    }
    disliked = load_disliked(session, shop_id)
    extras = _merchandising(session, shop_id)
    lines = purchase_lines(session, shop_id)
    baskets = lines.baskets() if (lines.quantities > 0).any() else None
    stored = load_ranker(session, shop_id)
    if stored is not None and stored.ranker.shop is not None:
        ranker, model = stored.ranker, stored.info()
    elif baskets is not None:  # before the first training: the untrained fallback, computed here
        ranker = NextBasketRecommender().untrained(baskets, NO_RANKER_YET)
        model = ModelInfo(ranker.kind, None, f"fallback (TIFU + popularity, untrained): {NO_RANKER_YET}")
    else:
        ranker, model = None, None
    index = (
        {int(c): i for i, c in enumerate(baskets.customers) if not str(c).startswith("order:")}
        if baskets
        else {}
    )
    return ShopData(
        cards,
        texts,
        created,
        baskets,
        index,
        types=types,
        vectors=vectors,
        **extras,
        disliked=disliked,
        lines=lines,
        ranker=ranker,
        model=model,
        due=buy_again_due(session, shop_id, utcnow()),
    )


def customer_rules(
    session: Session, shop_id: int, customer_ids: list[int], product_ids: set[str], currency: str
) -> tuple[dict[int, dict[str, Any]], ListRules]:
    """The cards of ``product_ids`` (and of the merchant's pins) and the rules of these customers' personal
    lists: what a one-customer refresh reads besides the customer's own orders."""
    pins, excludes = load_rules(session, shop_id)
    wanted = {int(p) for p in product_ids} | {int(p) for ids in pins.values() for p in ids}
    cards = product_cards(session, shop_id, wanted, currency)
    disliked = load_disliked(session, shop_id, customer_ids)
    due = buy_again_due(session, shop_id, utcnow(), customer_ids)
    rules = list_rules(cards, pins, excludes, disliked, load_interests(session, shop_id), due)
    return cards, rules


def load_disliked(
    session: Session, shop_id: int, customer_ids: list[int] | None = None
) -> dict[int, set[str]]:
    """Customer -> products they rated 1-2 stars (imported reviews): a soft return for the blender."""
    out: dict[int, set[str]] = {}
    query = select(ProductReview.customer_shopify_id, ProductReview.product_shopify_id).where(
        ProductReview.shop_id == shop_id, ProductReview.rating <= DISLIKED_MAX
    )
    if customer_ids is not None:
        query = query.where(ProductReview.customer_shopify_id.in_(customer_ids))  # type: ignore[attr-defined]
    for cid, pid in session.exec(query).all():
        out.setdefault(int(cid), set()).add(str(pid))
    return out


def _merchandising(session: Session, shop_id: int) -> dict[str, Any]:
    """The shop's inferred interests and the merchant's pins and excludes, as ``ShopData`` fields."""
    pins, excludes = load_rules(session, shop_id)
    return {"interests": load_interests(session, shop_id), "pins": pins, "excludes": excludes}


def _hash(items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:64]


def write_lists(
    session: Session,
    shop_id: int,
    specs: list[ListSpec],
    *,
    replace_scopes: dict[str, set[str] | None],
    now: datetime | None = None,
) -> int:
    """Upsert ``specs`` (computed from data read at ``now``, their ``computed_at``); delete this shop's rows in
    ``replace_scopes`` (scope → subjects, None = all) that the new computation no longer produces. Returns how
    many lists it wrote.

    Invariant: a list is never replaced or deleted by a computation older than the one that wrote it. A
    shop-wide pass reads its data, ranks for a while, then writes: a customer's list refreshed meanwhile
    after a new order is newer than the pass and stays. The check is in each ``UPDATE`` and ``DELETE`` itself
    (``computed_at <= now``), so it also holds against a refresh that commits between this read and write."""
    now = now or utcnow()
    table = RecommendationList.__table__  # type: ignore[attr-defined]
    query = select(RecommendationList.id, RecommendationList.scope, RecommendationList.subject,
                   RecommendationList.placement, RecommendationList.computed_at).where(
        RecommendationList.shop_id == shop_id
    )  # fmt: skip
    scopes = {spec.scope for spec in specs} | set(replace_scopes)
    if all(replace_scopes.get(scope, set()) is not None for scope in scopes):
        # a partial refresh (one customer's lists): read only the rows it may touch, not the whole shop's
        subjects = {spec.subject for spec in specs}
        for subject_set in replace_scopes.values():
            subjects |= subject_set or set()
        query = query.where(
            RecommendationList.scope.in_(scopes),  # type: ignore[attr-defined]
            RecommendationList.subject.in_(subjects),  # type: ignore[attr-defined]
        )
    by_key = {
        (scope, subject, placement): (rid, at) for rid, scope, subject, placement, at in session.exec(query)
    }
    fresh: set[tuple[str, str, str]] = set()
    updates: list[dict[str, Any]] = []
    written = 0
    for spec in specs:
        key = (spec.scope, spec.subject, spec.placement)
        fresh.add(key)
        values = {
            "strategy": spec.strategy,
            "items": spec.items,
            "inputs_hash": _hash(spec.items),
            "computed_at": now,
            "model_version": spec.model_version,
            "model_note": spec.model_note[:512],
        }
        if key not in by_key:
            session.add(RecommendationList(shop_id=shop_id, scope=spec.scope, subject=spec.subject,
                                           placement=spec.placement, **values))  # fmt: skip
            written += 1
        elif by_key[key][1] <= now:
            updates.append({"row_id": by_key[key][0], **values})
    if updates:  # one guarded UPDATE, executed for every row (bind names must differ from the columns')
        guarded = (
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.computed_at <= now)
            .values({name: bindparam(f"new_{name}") for name in updates[0] if name != "row_id"})
        )
        params = [{("row_id" if k == "row_id" else f"new_{k}"): v for k, v in u.items()} for u in updates]
        written += session.connection().execute(guarded, params).rowcount
    gone = [
        rid
        for key, (rid, at) in by_key.items()
        if key not in fresh
        and key[0] in replace_scopes
        and (replace_scopes[key[0]] is None or key[1] in (replace_scopes[key[0]] or ()))
        and at <= now
    ]
    for lo in range(0, len(gone), 500):
        session.connection().execute(
            delete(table).where(table.c.id.in_(gone[lo : lo + 500]), table.c.computed_at <= now)
        )
    return written
