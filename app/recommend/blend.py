"""The blender: candidates from every recommender -> one list per placement, with business rules and reasons.

Rules, in order: merchant excludes, out-of-stock, returned items, items the shopper rated low (1-2 stars: a soft
return, the shopper kept it but did not like it), non-consumables the shopper already bought,
items already on the page or in the cart, anything else the shopper owns unless a repeat recommender brings it
back; then the placement's source weights, a diversity cap per product type (optionally backfilled so a list
is never shorter than its candidates allow), and merchant pins on top (pins still obey stock, excludes and
returns). Where the merchant favours overstocked items (issue 19), an item in ``favoured`` ranks as if its blended
score were ``1 + favour_boost`` times higher (at most ``MAX_FAVOUR_BOOST``): it passes only items scored close to
it, never a pin, and never gets past a rule (stock, excludes, returns, diversity cap). Besides the storefront placements, the precomputed lists ``fbt``, ``buy_again`` and ``popular``
(the holdout's control list) are blended here too, each from its one source. A customer's ``home`` list has one
source, ``ranker`` (the next-basket ranker's order, see ``app.recommend.personal``): the rules filter it and the
pins go on top, its order stays.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

MAX_FAVOUR_BOOST = 0.25
OVERSTOCK_BOOST = 0.15  # the lift lists give overstocked items where the merchant favours them
PLACEMENTS = ("product", "cart", "home", "email", "post_purchase", "fbt", "buy_again", "popular")

# How much each source counts per placement (missing = 0: not shown there).
PLACEMENT_WEIGHTS: dict[str, dict[str, float]] = {
    "product": {"bought_together": 1.0, "similar": 0.8, "session": 0.7, "personal": 0.5, "popular": 0.1},
    "cart": {"bought_together": 1.0, "session": 0.6, "personal": 0.5, "repeat": 0.4, "popular": 0.1},
    "home": {"ranker": 1.0, "personal": 1.0, "repeat": 0.9, "session": 0.6, "similar": 0.3, "popular": 0.3},
    "email": {"repeat": 1.0, "personal": 0.9, "similar": 0.3, "popular": 0.2},
    "post_purchase": {"bought_together": 1.0, "repeat": 0.8, "personal": 0.6, "popular": 0.1},
    "fbt": {"bought_together": 1.0},
    "buy_again": {"repeat": 1.0},
    "popular": {"popular": 1.0},
}


@dataclass(frozen=True)
class Candidate:
    """One suggestion from one recommender: ``score`` in [0, 1] within its source, ``reason`` for the shopper."""

    product_id: str
    score: float
    source: str
    reason: str


@dataclass
class Rules:
    """Business rules for one shop and shopper."""

    out_of_stock: set[str] = field(default_factory=set)
    returned: set[str] = field(default_factory=set)
    disliked: set[str] = field(default_factory=set)  # rated 1-2 stars by this shopper
    owned_one_offs: set[str] = field(default_factory=set)
    context: set[str] = field(default_factory=set)  # the product on the page, the cart's items
    owned: set[str] = field(
        default_factory=set
    )  # everything the shopper bought: shown again only as a repeat
    excludes: set[str] = field(default_factory=set)
    pins: dict[str, list[str]] = field(default_factory=dict)  # placement -> product ids, in order
    product_type: dict[str, str] = field(default_factory=dict)
    max_per_type: int = 3
    backfill: bool = False  # fill slots left by the diversity cap with the best capped items
    limit: int = 10
    favoured: set[str] = field(default_factory=set)  # overstocked items the merchant wants moved
    favour_boost: float = (
        0.0  # relative lift of a favoured item's score in the ordering (0 .. MAX_FAVOUR_BOOST)
    )


@dataclass(frozen=True)
class Recommendation:
    product_id: str
    score: float
    source: str
    reason: str


def blocked(product_id: str, rules: Rules) -> str | None:
    """Why a product may not be shown (None when it may)."""
    if product_id in rules.excludes:
        return "excluded by the merchant"
    if product_id in rules.out_of_stock:
        return "out of stock"
    if product_id in rules.returned:
        return "returned by this shopper"
    if product_id in rules.disliked:
        return "rated low by this shopper"
    if product_id in rules.owned_one_offs:
        return "already bought (not a consumable)"
    if product_id in rules.context:
        return "already on the page or in the cart"
    return None


def blend(candidates: list[Candidate], placement: str, rules: Rules) -> list[Recommendation]:
    """Rank ``candidates`` for ``placement`` under ``rules``; each result keeps the reason of its best source."""
    if placement not in PLACEMENT_WEIGHTS:
        raise ValueError(f"unknown placement {placement!r}; use one of {', '.join(PLACEMENTS)}")
    weights = PLACEMENT_WEIGHTS[placement]
    total: dict[str, float] = defaultdict(float)
    best: dict[str, tuple[float, Candidate]] = {}
    for c in candidates:
        w = weights.get(c.source, 0.0)
        if w <= 0 or blocked(c.product_id, rules):
            continue
        if c.source != "repeat" and c.product_id in rules.owned:
            continue  # the shopper has it: only "buy it again" (with its cycle) may suggest it
        contribution = w * max(0.0, min(1.0, c.score))
        total[c.product_id] += contribution
        if contribution > best.get(c.product_id, (-1.0, c))[0]:
            best[c.product_id] = (contribution, c)
    out: list[Recommendation] = []
    seen: set[str] = set()
    for pid in rules.pins.get(placement, []):
        if pid not in seen and not blocked(pid, rules):
            out.append(Recommendation(pid, 1.0 + (total.get(pid) or 0.0), "pinned", "picked by the shop"))
            seen.add(pid)
    per_type: dict[str, int] = defaultdict(int)
    capped: list[str] = []
    lift = 1.0 + min(max(rules.favour_boost, 0.0), MAX_FAVOUR_BOOST)

    def rank(kv: tuple[str, float]) -> tuple[float, str]:
        return (-kv[1] * (lift if kv[0] in rules.favoured else 1.0), kv[0])

    for pid in (p for p, _ in sorted(total.items(), key=rank)):
        if len(out) >= rules.limit:
            break
        if pid in seen:
            continue
        ptype = rules.product_type.get(pid, "")
        if ptype and per_type[ptype] >= rules.max_per_type:
            capped.append(pid)
            continue
        per_type[ptype] += 1
        c = best[pid][1]
        out.append(Recommendation(pid, round(total[pid], 6), c.source, c.reason))
        seen.add(pid)
    if rules.backfill:
        for pid in capped[: max(0, rules.limit - len(out))]:
            c = best[pid][1]
            out.append(Recommendation(pid, round(total[pid], 6), c.source, c.reason))
    return out[: rules.limit]
