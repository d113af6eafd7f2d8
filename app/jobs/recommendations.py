"""Precompute the storefront's recommendation lists per shop, product, customer and placement.

``refresh_for_shop`` rebuilds every list of a shop from its commerce rows; ``refresh_for_customer``
rewrites only one customer's lists (after their order or refund). Both are idempotent and enqueued after
the commit of the change that makes them stale (``enqueue_refresh_after_commit``). The app proxy serves
the stored rows; nothing here runs on a storefront request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, select

from app.catalog.hybrid import HybridIndex
from app.config import Settings, get_settings
from app.db import after_commit, get_engine, retry_lost_race
from app.models.base import utcnow
from app.models.catalog import ProductEmbedding
from app.models.commerce import Order, OrderLine, Product, Refund, RefundLine
from app.models.feedback import ProductReview
from app.models.serving import RecommendationList
from app.profiles.feedback import DISLIKED_MAX
from app.queue import enqueue
from app.recommend.blend import Candidate, Rules, blend
from app.recommend.cooccurrence import BoughtTogether
from app.recommend.popularity import item_popularity
from app.recommend.repeat import buy_it_again, item_repurchase, just_bought_one_offs
from app.recommend.transactions import Baskets, build_baskets
from app.recommend.usecases import Interest, interest_of, shopper_interests
from app.storefront.shopper_data import product_cards, shop_currency

log = logging.getLogger(__name__)

LIST_LENGTH = 12
DAY = 86400.0
JOB_SHOP = "app.jobs.recommendations.refresh_for_shop"
JOB_CUSTOMER = "app.jobs.recommendations.refresh_for_customer"


# --- loading ----------------------------------------------------------------------------------


@dataclass
class ShopData:
    """What the recommenders need about one shop, as plain data."""

    cards: dict[int, dict[str, Any]]
    texts: dict[int, str]
    created: dict[int, float]
    baskets: Baskets | None
    customer_index: dict[int, int] = field(default_factory=dict)
    types: dict[int, str] = field(default_factory=dict)  # product type, for the blender's diversity cap
    vectors: tuple[list[int], np.ndarray] | None = None  # stored product embeddings (cold-start similarity)
    interests: list[Interest] = field(default_factory=list)  # inferred use cases (``app.jobs.interests``)
    pins: dict[str, list[str]] = field(default_factory=dict)  # merchant pins: placement -> product ids
    excludes: dict[str, set[str]] = field(default_factory=dict)  # merchant excludes: placement|"all" -> ids
    disliked: dict[int, set[str]] = field(default_factory=dict)  # customer -> products rated 1-2 stars


def stored_vectors(session: Session, shop_id: int) -> tuple[list[int], np.ndarray] | None:
    """The shop's stored product vectors of its most used embedder (None when it has none yet)."""
    from app.catalog.search import load_vectors

    models = session.exec(
        select(ProductEmbedding.model, func.count(ProductEmbedding.id))
        .where(ProductEmbedding.shop_id == shop_id)
        .group_by(ProductEmbedding.model)
    ).all()
    if not models:
        return None
    model = max(models, key=lambda m: (m[1], m[0]))[0]
    ids, matrix = load_vectors(session, shop_id, model)
    return (ids, matrix) if ids else None


def _product_text(p: Product) -> str:
    import re

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
    rows = session.exec(
        select(
            Order.customer_shopify_id,
            Order.shopify_id,
            Order.processed_at,
            OrderLine.product_shopify_id,
            OrderLine.quantity,
            OrderLine.title,
        )
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(
            Order.shop_id == shop_id,
            Order.cancelled_at.is_(None),
            Order.test.is_(False),
            OrderLine.product_shopify_id.is_not(None),
            OrderLine.quantity > 0,
        )
    ).all()
    returns = session.exec(
        select(
            Order.customer_shopify_id,
            Order.shopify_id,
            Refund.processed_at,
            RefundLine.product_shopify_id,
            RefundLine.quantity,
        )
        .join(
            Refund,
            (Refund.shop_id == RefundLine.shop_id) & (Refund.shopify_id == RefundLine.refund_shopify_id),
        )
        .join(
            Order, (Order.shop_id == RefundLine.shop_id) & (Order.shopify_id == RefundLine.order_shopify_id)
        )
        .where(RefundLine.shop_id == shop_id, RefundLine.product_shopify_id.is_not(None))
    ).all()
    disliked = load_disliked(session, shop_id)
    extras = _merchandising(session, shop_id)
    if not rows:
        return ShopData(
            cards, texts, created, None, types=types, vectors=vectors, **extras, disliked=disliked
        )
    cust, oid, times, pid, qty, titles = [], [], [], [], [], []
    for c, o, at, p, q, t in rows:
        cust.append(str(c) if c else f"order:{o}")  # guest orders still teach co-purchase
        oid.append(str(o))
        times.append((at or utcnow()).timestamp() / DAY)
        pid.append(str(p))
        qty.append(q)
        titles.append(cards.get(p, {}).get("title") or t or str(p))
    for c, o, at, p, q in returns:
        if not c or not q:
            continue
        cust.append(str(c))
        oid.append(f"refund:{o}")
        times.append((at or utcnow()).timestamp() / DAY)
        pid.append(str(p))
        qty.append(-abs(q))
        titles.append(cards.get(p, {}).get("title") or str(p))
    baskets = build_baskets(
        np.array(cust), np.array(oid), np.array(times), np.array(pid), np.array(qty), np.array(titles)
    )
    index = {int(c): i for i, c in enumerate(baskets.customers) if not str(c).startswith("order:")}
    return ShopData(
        cards, texts, created, baskets, index, types=types, vectors=vectors, **extras, disliked=disliked
    )


def load_disliked(session: Session, shop_id: int) -> dict[int, set[str]]:
    """Customer -> products they rated 1-2 stars (imported reviews): a soft return for the blender."""
    out: dict[int, set[str]] = {}
    for cid, pid in session.exec(
        select(ProductReview.customer_shopify_id, ProductReview.product_shopify_id).where(
            ProductReview.shop_id == shop_id, ProductReview.rating <= DISLIKED_MAX
        )
    ).all():
        out.setdefault(int(cid), set()).add(str(pid))
    return out


def _merchandising(session: Session, shop_id: int) -> dict[str, Any]:
    """The shop's inferred interests and the merchant's pins and excludes, as ``ShopData`` fields."""
    from app.jobs.interests import load_interests
    from app.jobs.merchant_rules import load_rules

    pins, excludes = load_rules(session, shop_id)
    return {"interests": load_interests(session, shop_id), "pins": pins, "excludes": excludes}


# --- computing (plain data in, lists out) -----------------------------------------------------


@dataclass
class ListSpec:
    scope: str
    subject: str
    placement: str
    strategy: str
    items: list[dict[str, Any]]


Ranked = list[tuple[int, float, str]]  # (product id, score, reason), best first


def _candidates(data: ShopData, ranked: Ranked, source: str, *, scale: bool = False) -> list[Candidate]:
    """Blender candidates for one recommender's ranking (products without a card are not products)."""
    top = max((s for _, s, _ in ranked), default=0.0) if scale else 1.0
    top = top if top > 0 else 1.0
    return [
        Candidate(str(pid), float(s) / top, source, reason) for pid, s, reason in ranked if pid in data.cards
    ]


def _shop_rules(data: ShopData) -> Rules:
    """Rules every list of the shop obeys: stock, the merchant's shop-wide excludes and the diversity cap
    (per-placement pins and excludes are added by ``_blended``)."""
    return Rules(
        out_of_stock={str(p) for p, c in data.cards.items() if not c["available"]},
        excludes=set(data.excludes.get("all", set())),
        product_type={str(p): t for p, t in data.types.items() if t},
        backfill=True,
        limit=LIST_LENGTH,
    )


def _blended(
    data: ShopData, candidates: list[Candidate], placement: str, rules: Rules, *, served: str | None = None
) -> list[dict[str, Any]]:
    """The blender's list as storefront cards, each with its score and reason. ``served`` is the placement the
    list is stored for when it is blended with another placement's weights: its pins and excludes apply."""
    served = served or placement
    rules = replace(
        rules,
        excludes=rules.excludes | data.excludes.get(served, set()),
        pins={placement: [p for p in data.pins.get(served, []) if int(p) in data.cards]},
    )
    return [
        {**data.cards[int(r.product_id)], "score": round(float(r.score), 5), "reason": r.reason}
        for r in blend(candidates, placement, rules)
    ]


def _similar(data: ShopData) -> dict[int, list[tuple[int, float]]]:
    """Content neighbours per product (cold start): the hybrid of the stored product vectors and word TF-IDF
    (``app.catalog.hybrid``) where vectors exist, TF-IDF over title, type, vendor, tags and description for
    products not embedded yet."""
    out: dict[int, list[tuple[int, float]]] = {}
    if data.vectors is not None:
        ids, matrix = data.vectors
        index = HybridIndex.build(ids, matrix, [data.texts.get(pid, "") for pid in ids], center=True)
        for pid, hits in zip(ids, index.similar_items_batch(ids, LIST_LENGTH * 2), strict=True):
            out[pid] = [(n.product_id, n.score) for n in hits if n.score > 0]
    missing = [pid for pid in data.texts if pid not in out]
    if not missing:
        return out
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids = [pid for pid, text in data.texts.items() if text.strip()]
    if len(ids) < 2:
        return out
    matrix = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1).fit_transform(
        [data.texts[i] for i in ids]
    )
    row_of = {pid: r for r, pid in enumerate(ids)}
    for pid in missing:
        if pid not in row_of:
            continue
        sims = (matrix[row_of[pid]] @ matrix.T).toarray().ravel()
        sims[row_of[pid]] = -1.0
        order = np.argsort(-sims)[: LIST_LENGTH * 2]
        out[pid] = [(ids[j], float(sims[j])) for j in order if sims[j] > 0]
    return out


def compute_lists(
    data: ShopData, customers: set[int] | None = None, now: float | None = None
) -> list[ListSpec]:
    """Every list of a shop (or only the given customers' lists): candidates from each recommender, ranked,
    filtered and explained by the blender (``app.recommend.blend``)."""
    now = time.time() if now is None else now
    specs: list[ListSpec] = []
    shop_rules = _shop_rules(data)
    title = {pid: c["title"] for pid, c in data.cards.items()}
    b = data.baskets
    if b is None:  # a new shop: newest products and content similarity, no purchase signal yet
        newest = sorted(data.created, key=lambda p: -data.created[p])
        popular: Ranked = [(p, 1.0 / (r + 1), "New in the shop") for r, p in enumerate(newest)]
        strategy, home_strategy = "new_arrivals", "new_arrivals"
        home = popular
        bt = None
    else:
        items = [int(x) for x in b.items]
        pop = item_popularity(b)
        trend = item_popularity(b, half_life_days=30.0, now=now / DAY)
        popular = [(items[i], float(pop[i]), "Popular in this shop") for i in np.argsort(-pop)]
        home = [(items[i], float(trend[i]), "Trending right now") for i in np.argsort(-trend)]
        strategy, home_strategy = "popular", "trending"
        bt = BoughtTogether(half_life_days=180.0, min_support=1.0).fit(b, now=now / DAY)
    popular_cands = _candidates(data, popular, "popular", scale=True)
    if customers is None:
        specs.append(
            ListSpec(
                "placement", "", "popular", strategy, _blended(data, popular_cands, "popular", shop_rules)
            )
        )
        home_cands = _candidates(data, home, "popular", scale=True)
        specs.append(
            ListSpec(
                "placement",
                "",
                "home",
                home_strategy,
                _blended(data, home_cands, "popular", shop_rules, served="home"),
            )
        )
        similar = _similar(data)
        for pid in data.cards:
            together: Ranked = []
            if bt is not None and b is not None:
                idx = np.searchsorted(b.items, str(pid))
                if idx < len(b.items) and b.items[idx] == str(pid):
                    together = [
                        (
                            int(b.items[r.consequent]),
                            r.confidence,
                            f"Often bought with {title.get(pid, 'this')}",
                        )
                        for r in bt.rules(int(idx), k=LIST_LENGTH)
                    ]
            like = [(q, s, f"Similar to {title.get(pid, 'this')}") for q, s in similar.get(pid, [])]
            on_page = replace(shop_rules, context={str(pid)})
            together_cands = _candidates(data, together, "bought_together")
            fbt = _blended(data, together_cands, "fbt", on_page)
            if fbt:
                specs.append(ListSpec("product", str(pid), "fbt", "bought_together", fbt))
            mixed = _blended(data, together_cands + _candidates(data, like, "similar"), "product", on_page)
            if mixed:
                strategy_name = "bought_together+similar" if together else "similar"
                specs.append(ListSpec("product", str(pid), "product", strategy_name, mixed))
    if b is None or bt is None:
        return specs
    stats = item_repurchase(b)
    returned = b.returned()
    interest_by_product = interest_of(data.interests)
    for cid, ci in data.customer_index.items():
        if customers is not None and cid not in customers:
            continue
        rows = slice(b.cust_ptr[ci], b.cust_ptr[ci + 1])
        bought = [int(i) for i in np.flatnonzero(np.asarray(b.binary()[rows].sum(axis=0)).ravel())]
        mine_rules = replace(
            shop_rules,
            returned={str(b.items[i]) for i in returned[ci].indices},
            disliked=data.disliked.get(cid, set()),
            owned_one_offs={str(b.items[i]) for i in just_bought_one_offs(b, stats, ci)},
            owned={str(b.items[i]) for i in bought},
        )
        # products the shopper rated low do not seed "Because you bought …"
        liked = [i for i in bought if str(b.items[i]) not in mine_rules.disliked]
        again: Ranked = [
            (int(b.items[i]), s, reason[0].upper() + reason[1:])
            for i, s, reason in buy_it_again(b, ci, now / DAY, stats, k=LIST_LENGTH)
        ]
        again_items = _blended(data, _candidates(data, again, "repeat", scale=True), "buy_again", mine_rules)
        if again_items:
            specs.append(ListSpec("customer", str(cid), "buy_again", "repeat", again_items))
        shown = {i.key for i, _ in shopper_interests([str(b.items[i]) for i in bought], data.interests)}
        personal: Ranked = [
            (int(b.items[i]), s, _personal_reason(b, title, interest_by_product, shown, i, src))
            for i, s, src in bt.for_basket(liked, k=LIST_LENGTH * 2)
        ]
        personal_cands = _candidates(data, personal, "personal", scale=True)
        mine = _blended(data, personal_cands + popular_cands, "home", mine_rules)
        if mine:
            specs.append(ListSpec("customer", str(cid), "home", "personal" if personal else "popular", mine))
    return specs


def _personal_reason(
    b: Baskets,
    title: dict[int, str],
    interest_by_product: dict[str, Interest],
    shown: set[str],
    item: int,
    source: int,
) -> str:
    """ "For your interest in coffee" when the product belongs to an interest the shopper has shown (two or
    more of its products bought), else "Because you bought …"."""
    interest = interest_by_product.get(str(b.items[item]))
    if interest is not None and interest.key in shown:
        return f"For your interest in {interest.name}"
    return f"Because you bought {title.get(int(b.items[source]), b.titles[source])}"


# --- writing ----------------------------------------------------------------------------------


def _hash(items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:64]


def write_lists(
    session: Session, shop_id: int, specs: list[ListSpec], *, replace_scopes: dict[str, set[str] | None]
) -> int:
    """Upsert ``specs``; delete this shop's rows in ``replace_scopes`` (scope → subjects, None = all)
    that the new computation no longer produces."""
    now = utcnow()
    query = select(RecommendationList).where(RecommendationList.shop_id == shop_id)
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
    existing = session.exec(query).all()
    by_key = {(r.scope, r.subject, r.placement): r for r in existing}
    fresh = set()
    for spec in specs:
        key = (spec.scope, spec.subject, spec.placement)
        fresh.add(key)
        row = by_key.get(key) or RecommendationList(
            shop_id=shop_id,
            scope=spec.scope,
            subject=spec.subject,
            placement=spec.placement,
            strategy=spec.strategy,
        )
        row.strategy, row.items, row.inputs_hash, row.computed_at = (
            spec.strategy,
            spec.items,
            _hash(spec.items),
            now,
        )
        session.add(row)
    for key, row in by_key.items():
        subjects = replace_scopes.get(key[0], set())
        if key not in fresh and key[0] in replace_scopes and (subjects is None or key[1] in subjects):
            session.delete(row)
    return len(specs)


def refresh_for_shop(shop_id: int, settings: Settings | None = None) -> int:
    """Rebuild every list of the shop. Returns how many lists it wrote."""
    settings = settings or get_settings()

    def work() -> int:
        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            specs = compute_lists(load_shop_data(session, shop_id))
            n = write_lists(
                session, shop_id, specs, replace_scopes={"placement": None, "product": None, "customer": None}
            )
            session.commit()
        return n

    # a customer refresh may insert one of the same rows meanwhile: recompute rather than fail the job
    n = retry_lost_race(work)
    log.info("recommendations: shop %s, %s lists", shop_id, n)
    return n


def refresh_for_customer(shop_id: int, customer_id: int, settings: Settings | None = None) -> int:
    """Rewrite one customer's lists (buy it again, personal home) from the shop's current history."""
    settings = settings or get_settings()

    def work() -> int:
        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            data = load_shop_data(session, shop_id, with_content=False)
            specs = compute_lists(data, customers={customer_id})
            n = write_lists(session, shop_id, specs, replace_scopes={"customer": {str(customer_id)}})
            session.commit()
        return n

    return retry_lost_race(work)


def enqueue_refresh_after_commit(
    session: Session, settings: Settings, shop_id: int, customer_id: int | None = None
) -> None:
    """Queue a refresh once the change that made the lists stale has committed (deduplicated by job id)."""
    if customer_id is None:
        after_commit(
            session,
            lambda: enqueue(
                settings.redis_url, JOB_SHOP, shop_id, queue="low", job_id=f"recs-shop-{shop_id}"
            ),
        )
    else:
        after_commit(
            session,
            lambda: enqueue(
                settings.redis_url,
                JOB_CUSTOMER,
                shop_id,
                customer_id,
                queue="low",
                job_id=f"recs-customer-{shop_id}-{customer_id}",
            ),
        )


def flush_served_log() -> int:
    """Periodic: move the served-list log from Redis into ``served_list``."""
    from app.storefront.served_log import flush_served_log as flush

    settings = get_settings()
    return flush(settings.database_url, settings.redis_url)
