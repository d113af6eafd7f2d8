"""A shopper's personal lists (``home`` and ``buy_again``) from the shop's next-basket ranker: the one ranking
path both the storefront and ``attune backtest recommendations`` use.

Two steps, so that a store can load what the rules need (stock, cards) for the ranked products only:

1. ``rank_personal(ranker, customers, rows, now)``: each customer's candidates ranked by the shop's
   :class:`~app.recommend.nextbasket.Ranker` (trained, or its untrained fallback), ``DEPTH`` deep, best sellers
   filling in; never an item the customer returned.
2. ``personal_lists(ranked, rules)``: the blender (``app.recommend.blend``) applies the business rules on top,
   in the ranker's order: merchant excludes and pins, stock, returns, products the shopper rated low, and
   one-offs the shopper already owns (an item nobody in the shop has bought twice). ``home`` is the ranking;
   ``buy_again`` is the same ranking restricted to what the shopper bought before. Each item gets the reason
   that drove its score (``app.recommend.reasons``).

The backtest calls the same two functions with the rules its data allows (returns, one-offs; it has no stock,
pins or ratings) and scores the first 10 items of each ``home`` list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from app.recommend.blend import OVERSTOCK_BOOST, Candidate, Recommendation, Rules, blend
from app.recommend.interests import Interest, interest_of, shopper_interests
from app.recommend.nextbasket import Ranker
from app.recommend.nextbasket_features import Candidates
from app.recommend.nextbasket_state import CustomerSignals
from app.recommend.reasons import customer_baselines, drivers, most_similar, popular_reason, reason

DEPTH = 40  # ranked items per customer handed to the rules (12 shown)
LENGTH = 12
ONE_OFF_MIN_BUYERS = 5  # an item is a one-off once this many customers bought it and none of them twice


@dataclass
class ListRules:
    """The rules of one shop's personal lists (product ids as strings)."""

    live: set[str] | None = None  # products that may be shown (None: every product the ranker knows)
    out_of_stock: set[str] = field(default_factory=set)
    favoured: set[str] = field(default_factory=set)  # overstocked, where the merchant favours them
    excludes: dict[str, set[str]] = field(default_factory=dict)  # placement | "all" -> products
    pins: dict[str, list[str]] = field(default_factory=dict)  # placement -> products, in order
    disliked: dict[str, set[str]] = field(default_factory=dict)  # customer -> products rated 1-2 stars
    titles: dict[str, str] = field(default_factory=dict)  # display titles (default: the ranker's)
    interests: list[Interest] = field(default_factory=list)
    # customer -> product -> (how due: P(rebuy within 14 d), reason) from the replenishment forecasts
    due: dict[str, dict[str, tuple[float, str]]] = field(default_factory=dict)


def list_rules(
    cards: dict[int, dict[str, Any]],
    pins: dict[str, list[str]],
    excludes: dict[str, set[str]],
    disliked: dict[int, set[str]],
    interests: list[Interest],
    due: dict[int, dict[str, tuple[float, str]]] | None = None,
) -> ListRules:
    """The rules of a shop's personal lists from its catalogue cards (live products, stock, titles), the
    merchant's pins and excludes, its shoppers' low ratings, its interests and its shoppers' due items."""
    return ListRules(
        live={str(p) for p in cards},
        out_of_stock={str(p) for p, c in cards.items() if not c["available"] or c.get("selling_out")},
        favoured={str(p) for p, c in cards.items() if c.get("overstocked")},
        excludes=excludes,
        pins=pins,
        disliked={str(c): ids for c, ids in disliked.items()},
        titles={str(p): c["title"] for p, c in cards.items()},
        interests=interests,
        due={str(c): items for c, items in (due or {}).items()},
    )


@dataclass
class Ranked:
    """Step 1's result: per customer row, ``items`` (indices, best first) and the ranker's candidates."""

    ranker: Ranker
    customers: CustomerSignals | None
    rows: np.ndarray
    now: np.ndarray
    items: np.ndarray
    scores: sp.csr_matrix
    cands: Candidates | None
    p: np.ndarray
    customer_ids: list[str]

    def product_ids(self) -> set[str]:
        ranked = np.unique(self.items[self.items >= 0])
        return {str(p) for p in self.ranker.items[ranked]}

    def has_history(self, j: int) -> bool:
        return self.customers is not None and bool(self.customers.n_orders[self.rows[j]] > 0)


def rank_personal(
    ranker: Ranker,
    customers: CustomerSignals | None,
    rows: np.ndarray,
    now: np.ndarray,
    depth: int = DEPTH,
    customer_ids: list[str] | None = None,
) -> Ranked:
    """Step 1 for the customers ``rows`` of ``customers`` (None: customers the ranker knows no orders of, who
    get the best sellers; name them with ``customer_ids``) at times ``now`` (days)."""
    rows, now = np.asarray(rows, np.int64), np.asarray(now, np.float64)
    items, scores, cands, p = ranker.rank(customers, rows, now, depth)
    if customer_ids is None:
        customer_ids = [str(c) for c in customers.b.customers[rows]] if customers is not None else []
    return Ranked(ranker, customers, rows, now, items, scores, cands, p, customer_ids)


def one_offs(ranker: Ranker) -> np.ndarray:
    """Items the shop's customers do not buy twice: bought by ``ONE_OFF_MIN_BUYERS`` or more, again by none."""
    shop = ranker.shop
    if shop is None:
        return np.zeros(len(ranker.popular), bool)
    return (shop.buyers >= ONE_OFF_MIN_BUYERS) & (shop.repeat_buyers == 0)


def personal_lists(
    ranked: Ranked,
    rules: ListRules,
    *,
    length: int = LENGTH,
    placements: tuple[str, ...] = ("home", "buy_again"),
    explain: bool = True,
) -> list[dict[str, list[Recommendation]]]:
    """Per customer row of ``ranked``: placement -> the list, rules applied, in the ranker's order."""
    items = [str(p) for p in ranked.ranker.items]
    cs = ranked.customers
    one_off = one_offs(ranked.ranker)
    live = rules.live
    out = []
    for j, row in enumerate(ranked.rows):
        order = ranked.items[j][ranked.items[j] >= 0]
        if live is not None:
            order = np.array([i for i in order if items[i] in live], np.int64)
        owned = cs.counts[row].indices if cs is not None else np.zeros(0, np.int64)
        returned = cs.returned[row].indices if cs is not None else np.zeros(0, np.int64)
        customer = ranked.customer_ids[j]
        base = Rules(
            out_of_stock=rules.out_of_stock,
            favoured=rules.favoured,
            favour_boost=OVERSTOCK_BOOST,
            returned={items[i] for i in returned},
            disliked=rules.disliked.get(customer, set()),
            owned_one_offs={items[i] for i in owned if one_off[i]},
            limit=length,
        )
        lists = {}
        for placement in placements:
            pool = order if placement != "buy_again" else order[np.isin(order, owned)]
            source = "repeat" if placement == "buy_again" else "ranker"
            n = max(len(pool), 1)
            cands = [Candidate(items[i], (n - k) / n, source, "") for k, i in enumerate(pool)]
            placed = Rules(
                **{
                    **base.__dict__,
                    "excludes": rules.excludes.get("all", set()) | rules.excludes.get(placement, set()),
                    "pins": {
                        placement: [p for p in rules.pins.get(placement, []) if live is None or p in live]
                    },
                }
            )
            lists[placement] = blend(cands, placement, placed)
        out.append(lists)
    out = _explained(ranked, rules, out) if explain else out
    for j, per in enumerate(out):
        due = rules.due.get(ranked.customer_ids[j])
        if due and "buy_again" in per:
            per["buy_again"] = due_first(per["buy_again"], due)
    return out


def due_first(recs: list[Recommendation], due: dict[str, tuple[float, str]]) -> list[Recommendation]:
    """ "Buy it again" with the merchant's pins first, then the items the shopper is due to reorder, most due
    first and saying why ("you usually reorder every 3 weeks; last order 19 days ago"), then the rest in the
    ranker's order. Only what the rules let into the list is reordered."""
    pinned = [r for r in recs if r.source == "pinned"]
    rest = [r for r in recs if r.source != "pinned"]
    replenish = sorted(
        (Recommendation(r.product_id, round(due[r.product_id][0], 5), "replenishment", due[r.product_id][1])
         for r in rest if r.product_id in due),
        key=lambda r: -r.score,
    )  # fmt: skip
    return pinned + replenish + [r for r in rest if r.product_id not in due]


def _explained(
    ranked: Ranked, rules: ListRules, lists: list[dict[str, list[Recommendation]]]
) -> list[dict[str, list[Recommendation]]]:
    """Each item's score (the ranker's) and reason (what drove it)."""
    ranker, cs, cands = ranked.ranker, ranked.customers, ranked.cands
    index = {str(p): n for n, p in enumerate(ranker.items)}
    n_items = len(ranker.items)
    keys = cands.rows * n_items + cands.items if cands is not None else np.zeros(0, np.int64)
    asked = []  # (row j, placement, position, candidate index or -1)
    for j, per in enumerate(lists):
        for placement, recs in per.items():
            for pos, rec in enumerate(recs):
                if rec.source == "pinned":
                    continue
                key = j * n_items + index[rec.product_id]
                at = int(np.searchsorted(keys, key)) if len(keys) else 0
                asked.append((j, placement, pos, at if at < len(keys) and keys[at] == key else -1))
    found = [a for a in asked if a[3] >= 0]
    why: dict[tuple[int, str, int], str] = {}
    if found:
        x = cands.features[[a[3] for a in found]]
        base = customer_baselines(cands.features, cands.rows, len(ranked.rows))[[a[0] for a in found]]
        x_model = x.copy()
        x_model[:, ranker.void] = 0.0
        base[:, ranker.void] = 0.0
        predict = _predict(ranker) if ranker.boosters else None
        named = drivers(x_model, base, predict)
        by_interest = interest_of(rules.interests)
        shown: dict[int, set[str]] = {}
        for (j, placement, pos, c), driver, feats in zip(found, named, x, strict=True):
            i = int(cands.items[c])
            bought = cs.counts[ranked.rows[j]].indices
            if j not in shown:
                ids = [str(ranker.items[b]) for b in bought]
                shown[j] = {interest.key for interest, _ in shopper_interests(ids, rules.interests)}
            pid = str(ranker.items[i])
            interest = by_interest.get(pid)
            similar = most_similar(bought, i, ranker.shop.sim) if driver == "similar" else None
            why[(j, placement, pos)] = reason(
                driver,
                feats,
                similar_to=_title(ranker, rules, similar) if similar is not None else None,
                interest=interest.name if interest is not None and interest.key in shown[j] else None,
                category=_category(ranker, i),
            )
    p_of = {a[:3]: float(ranked.p[a[3]]) for a in found}
    out = []
    for j, per in enumerate(lists):
        fixed = {}
        for placement, recs in per.items():
            fixed[placement] = [
                rec
                if rec.source == "pinned"
                else Recommendation(
                    rec.product_id,
                    round(p_of.get((j, placement, pos), 0.0), 5),
                    rec.source,
                    why.get((j, placement, pos), popular_reason(_recent(ranker, rec.product_id))),
                )
                for pos, rec in enumerate(recs)
            ]
        out.append(fixed)
    return out


def _predict(ranker: Ranker):
    def predict(x: np.ndarray) -> np.ndarray:
        return np.mean([b.predict(x) for b in ranker.boosters], axis=0)

    return predict


def _title(ranker: Ranker, rules: ListRules, item: int) -> str:
    pid = str(ranker.items[item])
    return rules.titles.get(pid) or str(ranker.shop.titles[item])


def _category(ranker: Ranker, item: int) -> str | None:
    shop = ranker.shop
    if shop is None or shop.categories is None or shop.category_names is None:
        return None
    code = int(shop.categories[item])
    return str(shop.category_names[code]) if code >= 0 else None


def _recent(ranker: Ranker, product_id: str) -> bool:
    shop = ranker.shop
    if shop is None:
        return False
    at = np.searchsorted(shop.items, product_id)
    if at >= len(shop.items) or shop.items[at] != product_id:
        return False
    return bool(shop.recent.count(np.array([at]), np.array([shop.t_ref + 1e-9]), 7.0)[0] > 0)
