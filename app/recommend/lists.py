"""The storefront's recommendation lists of one shop, computed from plain data: candidates from each
recommender (popularity, bought-together, buy-it-again, content similarity, interests), ranked, filtered and
explained by the blender (``app.recommend.blend``). Pure: ``ShopData`` in, ``ListSpec`` rows out; loading
and storing them is ``app.stores.lists``, scheduling is ``app.jobs.recommendations``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from app.catalog.hybrid import HybridIndex
from app.recommend.blend import Candidate, Rules, blend
from app.recommend.cooccurrence import BoughtTogether
from app.recommend.interests import Interest, interest_of, shopper_interests
from app.recommend.popularity import item_popularity
from app.recommend.repeat import buy_it_again, item_repurchase, just_bought_one_offs
from app.recommend.transactions import Baskets

LIST_LENGTH = 12
DAY = 86400.0


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
    interests: list[Interest] = field(default_factory=list)  # inferred use cases (``app.stores.interests``)
    pins: dict[str, list[str]] = field(default_factory=dict)  # merchant pins: placement -> product ids
    excludes: dict[str, set[str]] = field(default_factory=dict)  # merchant excludes: placement|"all" -> ids
    disliked: dict[int, set[str]] = field(default_factory=dict)  # customer -> products rated 1-2 stars


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
    from sklearn.feature_extraction.text import TfidfVectorizer  # heavy: only a full-shop refresh needs it

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
