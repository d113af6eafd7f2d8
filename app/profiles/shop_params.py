"""A shop's fitted scoring parameters as plain data, and the pure functions that fit them.

Every part has a prior that stands in until the shop has data: the global BG/NBD + Gamma-Gamma fit, a
typical RFM population, an 8 % discount share, the global intent model with the identity shop layer. The
fitting job (``app.jobs.shop_models``) gathers the shop's data and calls ``fit_params``; profiles are then
scored against the stored result (``app.profiles.derived``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from app.modelling.clv import (
    GLOBAL_BGNBD,
    GLOBAL_GAMMA_GAMMA,
    BgNbdParams,
    ClvModel,
    CustomerHistory,
    GammaGammaParams,
)
from app.modelling.intent import GlobalIntentModel, SessionFeatures, ShopIntentModel
from app.modelling.price_sensitivity import PurchaseLine, shop_stats
from app.modelling.rfm import RfmInput
from app.profiles.adapters import AFFINITY_KINDS, SessionSummary, session_features

SKETCH_SIZE = 1000  # RFM population values kept (exact below this many customers)
PAGE_STATS_CAP = 2000
POPULARITY_CAP = 300
PAGE_VALUE_SCALE = (
    100.0  # page value = share of a page's views that went on to buy × this (order-value units)
)
DEFAULT_DISCOUNT_SHARE = 0.08
# A typical small shop's customer base, standing in for RFM ranks until the shop is fitted:
# days since the last order, orders and spend at the 10th/30th/50th/70th/90th percentiles.
PRIOR_RFM = {
    "recency": [-400.0, -200.0, -100.0, -45.0, -14.0],  # negated days: larger = more recent
    "frequency": [1.0, 1.0, 1.0, 2.0, 4.0],
    "monetary": [30.0, 60.0, 100.0, 180.0, 400.0],
}


@dataclass
class ShopParams:
    """Everything the derived scores of one shop depend on (``version`` 0 = priors only)."""

    version: int = 0
    fitted_at: str | None = None
    bgnbd: BgNbdParams = GLOBAL_BGNBD
    gamma_gamma: GammaGammaParams = GLOBAL_GAMMA_GAMMA
    clv_customers: int = 0
    rfm: dict[str, list[float]] = field(default_factory=lambda: {k: list(v) for k, v in PRIOR_RFM.items()})
    rfm_customers: int = 0
    discount_share: float = DEFAULT_DISCOUNT_SHARE
    category_medians: dict[str, float] = field(default_factory=dict)
    popularity: dict[str, dict[str, float]] = field(default_factory=dict)
    intent_weights: list[float] | None = None
    intent_sessions: int = 0
    intent_purchases: int = 0
    page_stats: dict[str, list[float]] = field(default_factory=dict)

    @property
    def shop_intent(self) -> ShopIntentModel:
        if self.intent_weights is None:
            return ShopIntentModel.prior()
        return ShopIntentModel(np.asarray(self.intent_weights, dtype=float), self.intent_sessions)

    @property
    def clv_model(self) -> ClvModel:
        return ClvModel(self.bgnbd, self.gamma_gamma, self.clv_customers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fitted_at": self.fitted_at,
            "clv": {
                "bgnbd": list(self.bgnbd.as_array()),
                "gamma_gamma": list(self.gamma_gamma.as_array()),
                "customers": self.clv_customers,
            },
            "rfm": {"sketch": self.rfm, "customers": self.rfm_customers},
            "price": {"discount_share": self.discount_share, "category_medians": self.category_medians},
            "popularity": self.popularity,
            "intent": {
                "weights": self.intent_weights,
                "sessions": self.intent_sessions,
                "purchases": self.intent_purchases,
                "page_stats": self.page_stats,
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], version: int = 0) -> ShopParams:
        clv, rfm, price, intent = (d.get(k) or {} for k in ("clv", "rfm", "price", "intent"))
        return cls(
            version=version,
            fitted_at=d.get("fitted_at"),
            bgnbd=BgNbdParams(*clv["bgnbd"]) if clv.get("bgnbd") else GLOBAL_BGNBD,
            gamma_gamma=GammaGammaParams(*clv["gamma_gamma"])
            if clv.get("gamma_gamma")
            else GLOBAL_GAMMA_GAMMA,
            clv_customers=int(clv.get("customers") or 0),
            rfm=rfm.get("sketch") or {k: list(v) for k, v in PRIOR_RFM.items()},
            rfm_customers=int(rfm.get("customers") or 0),
            discount_share=float(price.get("discount_share", DEFAULT_DISCOUNT_SHARE)),
            category_medians=dict(price.get("category_medians") or {}),
            popularity=dict(d.get("popularity") or {}),
            intent_weights=intent.get("weights"),
            intent_sessions=int(intent.get("sessions") or 0),
            intent_purchases=int(intent.get("purchases") or 0),
            page_stats=dict(intent.get("page_stats") or {}),
        )


# --- fitting (pure) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSession:
    """One finished storefront session folded into a profile of its own (events before any purchase), whether
    it bought, and whether the visitor had come before."""

    profile: dict[str, Any]
    purchased: bool
    returning: bool


def sketch(values: Sequence[float]) -> list[float]:
    """Sorted population values, thinned to SKETCH_SIZE evenly spaced quantiles for large shops."""
    arr = np.sort(np.asarray(values, dtype=float))
    if len(arr) > SKETCH_SIZE:
        arr = np.quantile(arr, np.linspace(0, 1, SKETCH_SIZE))
    return [round(float(v), 4) for v in arr]


def rfm_sketches(customers: Iterable[RfmInput]) -> dict[str, list[float]]:
    rows = list(customers)
    return {
        "recency": sketch([-c.days_since_last_order for c in rows]),
        "frequency": sketch([c.orders for c in rows]),
        "monetary": sketch([c.spend for c in rows]),
    }


def quintile(value: float, population: Sequence[float]) -> int:
    """1..5 by the value's average rank within ``population`` (``app.modelling.rfm`` ranks the same way)."""
    n = len(population)
    if n <= 1:
        return 3
    pop = np.asarray(population, dtype=float)
    less = int(np.searchsorted(pop, value, side="left"))
    equal = int(np.searchsorted(pop, value, side="right")) - less
    rank = less + (equal - 1) / 2 if equal else less
    return int(np.clip(1 + np.floor(rank / n * 5), 1, 5))


def popularity(touches: Iterable[tuple[str, str, float]]) -> dict[str, dict[str, float]]:
    """Share of the shop's (undecayed) attention per key, per kind, keeping the largest POPULARITY_CAP."""
    totals: dict[str, dict[str, float]] = {k: defaultdict(float) for k in AFFINITY_KINDS}
    for kind, key, weight in touches:
        totals[kind][key] += weight
    out = {}
    for kind, per_key in totals.items():
        s = sum(per_key.values())
        if s > 0:
            top = sorted(per_key.items(), key=lambda kv: (-kv[1], kv[0]))[:POPULARITY_CAP]
            out[kind] = {k: round(v / s, 6) for k, v in top}
    return out


def page_statistics(sessions: Sequence[tuple[SessionSummary, bool]]) -> dict[str, list[float]]:
    """Per page key: [bounce rate, exit rate, page value] from the shop's finished sessions.

    Bounce rate: share of sessions entering on the page that saw nothing else; exit rate: share of the page's
    views that ended a session; page value: share of its views in sessions that bought × PAGE_VALUE_SCALE.
    """
    views: dict[str, int] = defaultdict(int)
    entries: dict[str, int] = defaultdict(int)
    bounces: dict[str, int] = defaultdict(int)
    exits: dict[str, int] = defaultdict(int)
    bought: dict[str, int] = defaultdict(int)
    for summary, purchased in sessions:
        keys = summary.page_keys
        if not keys:
            continue
        for k in keys:
            views[k] += 1
            bought[k] += purchased
        entries[keys[0]] += 1
        bounces[keys[0]] += len(keys) == 1
        exits[keys[-1]] += 1
    if not views:
        return {}
    top = sorted(views, key=lambda k: (-views[k], k))[:PAGE_STATS_CAP]

    def stats(k: str) -> list[float]:
        bounce = bounces[k] / entries[k] if entries[k] else 0.0
        return [
            round(bounce, 4),
            round(exits[k] / views[k], 4),
            round(bought[k] / views[k] * PAGE_VALUE_SCALE, 4),
        ]

    out = {k: stats(k) for k in top}
    total_views = sum(views.values())
    out["_default"] = [
        round(sum(bounces.values()) / max(sum(entries.values()), 1), 4),
        round(sum(exits.values()) / total_views, 4),
        round(sum(bought.values()) / total_views * PAGE_VALUE_SCALE, 4),
    ]
    return out


def fit_params(
    *,
    histories: Sequence[CustomerHistory],
    rfm_inputs: Sequence[RfmInput],
    lines: Sequence[PurchaseLine],
    catalog_prices: dict[str, list[float]],
    touches: Iterable[tuple[str, str, float]],
    sessions: Sequence[TrainingSession],
    global_model: GlobalIntentModel,
    now: datetime,
) -> ShopParams:
    """Fit every part from the shop's own data, each shrunk toward its prior (pure; deterministic)."""
    params = ShopParams(fitted_at=now.isoformat())
    if histories:
        clv = ClvModel.fit(list(histories))
        params.bgnbd, params.gamma_gamma, params.clv_customers = clv.bgnbd, clv.gamma_gamma, clv.n_customers
    if rfm_inputs:
        params.rfm, params.rfm_customers = rfm_sketches(rfm_inputs), len(rfm_inputs)
    if lines:
        stats = shop_stats(lines)
        gross = sum(ln.gross for ln in lines)
        # shrink the shop's discount share toward the prior with 500 currency units of pseudo-spend
        params.discount_share = round(
            (stats.discount_share * gross + DEFAULT_DISCOUNT_SHARE * 500.0) / (gross + 500.0), 6
        )
        params.category_medians = {c: round(v, 4) for c, v in stats.category_median_unit_price.items()}
    for category, prices in catalog_prices.items():  # the catalogue's prices win where there are any
        positive = [p for p in prices if p > 0]
        if positive:
            params.category_medians[category] = round(float(np.median(positive)), 4)
    params.popularity = popularity(touches)
    ref = global_model.reference
    first = [(s, session_features(s.profile, ref, None, s.returning)) for s in sessions]
    kept = [(s, summary) for s, summary in first if summary is not None]
    if kept:
        params.page_stats = page_statistics([(summary, s.purchased) for s, summary in kept])
        features: list[SessionFeatures] = []
        for s, _ in kept:
            summary = session_features(s.profile, ref, params.page_stats, s.returning)
            assert summary is not None
            features.append(summary.features)
        labels = [int(s.purchased) for s, _ in kept]
        shop = ShopIntentModel.fit(global_model, features, labels)
        params.intent_weights = [round(float(w), 6) for w in shop.weights]
        params.intent_sessions, params.intent_purchases = len(kept), sum(labels)
    return params
