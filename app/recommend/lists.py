"""The storefront's recommendation lists of one shop, computed from plain data. Pure: ``ShopData`` in,
``ListSpec`` rows out; loading and storing them is ``app.stores.lists``, scheduling ``app.jobs.recommendations``.

- Shop lists (``placement`` and ``product`` scopes): candidates from popularity, bought-together and content
  similarity, ranked, filtered and explained by the blender (``app.recommend.blend``).
- Personal lists (a customer's ``home`` and ``buy_again``): the shop's next-basket ranker through
  ``app.recommend.personal``, the path ``attune backtest recommendations`` measures, with the blender's rules on
  top. Each list records the model that ranked it (kind, version, and why a fallback was used).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from app.catalog.hybrid import HybridIndex
from app.recommend.blend import OVERSTOCK_BOOST, Candidate, Rules, blend
from app.recommend.cooccurrence import BoughtTogether
from app.recommend.interests import Interest
from app.recommend.nextbasket import Ranker
from app.recommend.personal import Ranked as PersonalRanking
from app.recommend.personal import list_rules, personal_lists, rank_personal
from app.recommend.popularity import item_popularity
from app.recommend.transactions import Baskets, PurchaseLines

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
    lines: PurchaseLines | None = (
        None  # the order lines ``baskets`` was built from (personal lists re-index them)
    )
    ranker: Ranker | None = None  # the shop's next-basket ranker (personal lists)
    model: ModelInfo | None = None  # which ranker that is
    due: dict[int, dict[str, tuple[float, str]]] = field(
        default_factory=dict
    )  # replenishment: "Buy it again"


@dataclass(frozen=True)
class ModelInfo:
    """Which model ranked a personal list: kind (``ranker`` | ``untrained`` | ``popularity``), the stored
    version (None: computed in the job, not stored yet) and a note for the admin (training time and size, or
    why the fallback)."""

    kind: str
    version: int | None
    note: str


STRATEGY = {"ranker": "nextbasket", "untrained": "nextbasket_untrained", "popularity": "popular"}
NO_HISTORY = "no orders of products the ranker knows yet (its next training will)"


@dataclass
class ListSpec:
    scope: str
    subject: str
    placement: str
    strategy: str
    items: list[dict[str, Any]]
    model_version: int | None = None
    model_note: str = ""


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
        out_of_stock={str(p) for p, c in data.cards.items() if not c["available"] or c.get("selling_out")},
        favoured={str(p) for p, c in data.cards.items() if c.get("overstocked")},
        favour_boost=OVERSTOCK_BOOST,
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
    data: ShopData, customers: set[int] | None = None, now: float | None = None, *, personal: bool = True
) -> list[ListSpec]:
    """Every list of a shop (or only the given customers' lists; without ``personal`` no customer's): candidates
    from each recommender, ranked, filtered and explained by the blender (``app.recommend.blend``)."""
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
    if personal:
        specs += personal_specs(data, customers, now)
    return specs


def personal_specs(data: ShopData, customers: set[int] | None, now: float) -> list[ListSpec]:
    """Every customer's (or only ``customers``') ``home`` and ``buy_again`` lists from the shop's ranker."""
    ranker, info = data.ranker, data.model
    if ranker is None or info is None or data.lines is None or not len(data.lines):
        return []
    history = data.lines.baskets(ranker.catalogue)
    cs = ranker.customers(history)
    known = [
        r
        for r, c in enumerate(history.customers)
        if not str(c).startswith("order:") and (customers is None or int(c) in customers)
    ]
    rules = list_rules(data.cards, data.pins, data.excludes, data.disliked, data.interests, data.due)
    specs: list[ListSpec] = []
    for lo in range(0, len(known), 512):
        rows = np.array(known[lo : lo + 512], np.int64)
        ranked = rank_personal(ranker, cs, rows, np.full(len(rows), now / DAY))
        specs += customer_specs(data.cards, ranked, personal_lists(ranked, rules), info)
    return specs


def customer_specs(
    cards: dict[int, dict[str, Any]], ranked: PersonalRanking, lists: list[dict], info: ModelInfo
) -> list[ListSpec]:
    """Storefront rows for ``personal_lists``' output (products without a card are not shown). A customer the
    ranker knows no orders of gets the best sellers, and their lists say so."""
    specs = []
    cold = ModelInfo("popularity", info.version, f"best sellers: {NO_HISTORY}; ranker: {info.note}")
    for j, (cid, per) in enumerate(zip(ranked.customer_ids, lists, strict=True)):
        used = info if ranked.has_history(j) else cold
        for placement, recs in per.items():
            items = [
                {**cards[int(r.product_id)], "score": r.score, "reason": r.reason}
                for r in recs
                if int(r.product_id) in cards
            ]
            if items:
                specs.append(
                    ListSpec("customer", cid, placement, STRATEGY[used.kind], items, used.version, used.note)
                )
    return specs
