"""The derived section: every score ``app.modelling`` offers, computed from a profile's plain sections and the
shop's fitted parameters, each with the signals behind it.

Entries (all ``{"value", "summary", "signals": [{"name", "value", "contribution", "text"}], …}``):
``intent`` (in-session purchase probability), ``clv`` (expected spend over the next 52 weeks), ``churn_risk``
(1 − probability alive), ``price_sensitivity``, ``affinity`` (top categories / vendors / tags) and ``rfm``
(value = segment name, ``segment`` = its slug used by the admin filter). A score without enough data is left
out (an anonymous visitor has intent and affinity, no CLV). ``derive_many`` scores a batch in one pass (the
intent trees run once for all profiles), which is what the worker calls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from app.modelling.affinity import DEFAULT_HALF_LIFE_DAYS, DEFAULT_PRIOR_STRENGTH, decay
from app.modelling.clv import BgNbdParams, p_alive
from app.modelling.compiled_trees import CompiledTrees
from app.modelling.explain import Explanation, Signal
from app.modelling.intent import GlobalIntentModel
from app.modelling.intent_fast import FastIntentScorer
from app.modelling.price_sensitivity import ShopPriceStats, score_customers
from app.modelling.rfm import _segment as rfm_segment_name
from app.profiles.adapters import (
    AFFINITY_KINDS,
    affinity_touches,
    age_days,
    purchase_history,
    purchase_lines,
    rfm_input,
    session_features,
)
from app.profiles.shop_params import ShopParams, quintile

HORIZON_WEEKS = 52.0
TOP_KEYS = 5
RFM_SLUGS = {"At risk": "at_risk_loyal"}  # "at_risk" is the admin's churn-risk filter


@lru_cache(maxsize=1)
def global_intent() -> tuple[GlobalIntentModel, CompiledTrees]:
    """The shipped day-one intent model, loaded and compiled once per process."""
    model = GlobalIntentModel.load()
    return model, CompiledTrees.compile(model.trees)


@lru_cache(maxsize=1)
def _prior_scorer() -> FastIntentScorer:
    model, compiled = global_intent()
    return FastIntentScorer(model, compiled)


@dataclass
class Scorers:
    """A shop's parameters with the objects built from them (built once per parameter version)."""

    params: ShopParams
    intent: FastIntentScorer

    @classmethod
    def build(cls, params: ShopParams | None = None) -> Scorers:
        params = params or ShopParams()
        scorer = _prior_scorer()
        if params.intent_weights is not None:
            scorer = scorer.with_shop(params.shop_intent)
        return cls(params, scorer)

    @property
    def price_stats(self) -> ShopPriceStats:
        return ShopPriceStats(self.params.discount_share, self.params.category_medians)


def rfm_slug(name: str) -> str:
    return RFM_SLUGS.get(name) or re.sub(r"[^a-z0-9]+", "_", name.lower().replace("'", "")).strip("_")


def derive(profile: dict[str, Any], now: datetime, scorers: Scorers | None = None) -> dict[str, Any]:
    """The derived section of one profile."""
    return derive_many([profile], now, scorers)[0]


def derive_many(
    profiles: Sequence[dict[str, Any]], now: datetime, scorers: Scorers | None = None
) -> list[dict[str, Any]]:
    scorers = scorers or Scorers.build()
    out: list[dict[str, Any]] = [{} for _ in profiles]
    _intent(profiles, scorers, out)
    for profile, derived in zip(profiles, out, strict=True):
        for key, entry in (
            *_clv_and_churn(profile, now, scorers.params),
            ("price_sensitivity", _price(profile, scorers)),
            ("affinity", _affinity(profile, now, scorers.params)),
            ("rfm", _rfm(profile, now, scorers.params)),
        ):
            if entry is not None:
                derived[key] = entry
        derived["computed_at"] = now.isoformat()
        derived["params_version"] = scorers.params.version
    return out


def _entry(explanation: Explanation, **extra: Any) -> dict[str, Any]:
    entry = explanation.as_dict()
    entry.pop("score", None)
    return {**entry, **extra}


def _intent(profiles: Sequence[dict[str, Any]], scorers: Scorers, out: list[dict[str, Any]]) -> None:
    ref = scorers.intent.global_model.reference
    page_stats = scorers.params.page_stats or None
    summaries = [session_features(p, ref, page_stats) for p in profiles]
    idx = [i for i, s in enumerate(summaries) if s is not None]
    scores = scorers.intent.score([summaries[i].features for i in idx])  # type: ignore[union-attr]
    for i, score in zip(idx, scores, strict=True):
        s = summaries[i]
        assert s is not None
        out[i]["intent"] = _entry(
            score.explanation,
            value=round(score.probability, 4),
            session={
                "started_at": s.started_at,
                "ended_at": s.ended_at,
                "steps": s.steps,
                "purchased": s.completed,
            },
            shop_sessions=scorers.params.intent_sessions,
        )


def _p_alive(params: BgNbdParams, x: float, tx: float, T: float) -> float:
    """BG/NBD's probability alive; for one-time buyers the MBG/NBD form (they may drop out right after
    their first purchase; plain BG/NBD calls them alive forever)."""
    if x > 0:
        return float(p_alive(params, np.array([x]), np.array([tx]), np.array([T]))[0])
    r, alpha, a, b = params.as_array()
    return float(1.0 / (1.0 + a / b * ((alpha + T) / (alpha + tx)) ** r))


def _clv_and_churn(profile: dict[str, Any], now: datetime, params: ShopParams) -> list[tuple[str, Any]]:
    history = purchase_history(profile, now)
    if history is None:
        return []
    model = params.clv_model
    prediction = model.predict([history], HORIZON_WEEKS)[0]
    weeks_since = history.T - history.recency
    x, tx, T = float(history.frequency), history.recency, history.T
    alive = _p_alive(params.bgnbd, x, tx, T)
    churn = 1.0 - alive
    if_bought_now = 1.0 - _p_alive(params.bgnbd, x, T, T)
    # one more (or, for one-time buyers, a first) repeat purchase day spread over the same span
    with_repeat = 1.0 - _p_alive(params.bgnbd, x + 1, tx, T)
    gap = tx / x if x > 0 else None
    signals = [
        Signal(
            "weeks_since_last_purchase",
            round(weeks_since, 1),
            round(churn - if_bought_now, 4),
            f"last purchase {weeks_since:.0f} weeks ago",
        ),
        Signal(
            "repeat_purchase_days",
            int(x),
            round(churn - with_repeat, 4),
            f"{int(x)} repeat purchase days" if x else "one purchase day so far",
        ),
        Signal(
            "typical_gap_weeks",
            round(gap, 1) if gap is not None else None,
            round(0.1 * (weeks_since / gap - 1), 4) if gap else 0.0,
            f"usually buys every {gap:.0f} weeks" if gap else "no repeat purchase yet",
        ),
    ]
    churn_entry = _entry(
        Explanation.build(
            "churn_risk",
            round(churn, 4),
            signals,
            summary=f"{churn:.0%} risk this customer has stopped buying",
        ),
        value=round(churn, 4),
        probability_alive=round(alive, 4),
    )
    value = float(prediction.expected_spend)
    clv_entry = _entry(
        prediction.explanation,
        value=round(value, 2),
        expected_purchases=round(prediction.expected_purchases, 3),
        probability_alive=round(alive, 4),
        horizon_weeks=HORIZON_WEEKS,
        summary=f"about {prediction.expected_purchases:.1f} purchases and {value:.2f} in the next "
        f"{HORIZON_WEEKS:.0f} weeks; {alive:.0%} likely still active",
        spent_net=round(history.total_spend, 2),
        shop_customers=params.clv_customers,
    )
    return [("clv", clv_entry), ("churn_risk", churn_entry)]


def _price(profile: dict[str, Any], scorers: Scorers) -> dict[str, Any] | None:
    lines = purchase_lines(profile, "me")
    if not lines:
        return None
    result = score_customers(lines, scorers.price_stats).get("me")
    if result is None:
        return None
    return _entry(
        result.explanation,
        value=round(result.score, 4),
        index=round(result.index, 3),
        discount_share=round(result.discount_share, 4),
        price_tier=round(result.price_tier, 3),
    )


def _affinity(profile: dict[str, Any], now: datetime, params: ShopParams) -> dict[str, Any] | None:
    touches = affinity_touches(profile)
    if not touches:
        return None
    lists: dict[str, list[dict[str, Any]]] = {}
    for kind in AFFINITY_KINDS:
        recent: dict[str, float] = {}
        total: dict[str, float] = {}
        decayed: dict[str, float] = {}
        for k, key, at, w in touches:
            if k != kind:
                continue
            age = age_days(at, now)
            total[key] = total.get(key, 0.0) + w
            recent[key] = recent.get(key, 0.0) + (w if age <= DEFAULT_HALF_LIFE_DAYS else 0.0)
            decayed[key] = decayed.get(key, 0.0) + w * float(decay(np.array(age), DEFAULT_HALF_LIFE_DAYS))
        if not decayed:
            continue
        pop = params.popularity.get(kind) or {}
        mass = sum(decayed.values())
        prior = DEFAULT_PRIOR_STRENGTH if pop else 0.0
        scores = {key: (decayed[key] + prior * pop.get(key, 0.0)) / (mass + prior) for key in decayed}
        ranked = sorted(scores, key=lambda k: (-scores[k], k))[:TOP_KEYS]
        lists[kind] = [
            _entry(
                Explanation.build(
                    "affinity",
                    round(scores[key], 4),
                    [
                        Signal(
                            "recent_weight",
                            recent[key],
                            recent[key],
                            f"{recent[key]:g} in the last {DEFAULT_HALF_LIFE_DAYS:.0f} days",
                        ),  # fmt: skip
                        Signal(
                            "total_weight", total[key], total[key] - recent[key], f"{total[key]:g} in total"
                        ),
                        Signal(
                            "shop_popularity",
                            round(pop.get(key, 0.0), 4),
                            pop.get(key, 0.0),
                            f"{pop.get(key, 0.0):.1%} of the shop's activity",
                        ),  # fmt: skip
                    ],
                    summary=f"{key}: {scores[key]:.0%} of this shopper's recent interest",
                ),
                key=key,
                value=round(scores[key], 4),
            )
            for key in ranked
        ]
    if not lists:
        return None
    head_kind = next(k for k in AFFINITY_KINDS if k in lists)
    head = lists[head_kind][0]
    return {
        "value": head["key"],
        "summary": f"most drawn to {head['key']} ({head_kind[:-1] if head_kind != 'categories' else 'category'})",
        "signals": head["signals"],
        **lists,
    }


def _rfm(profile: dict[str, Any], now: datetime, params: ShopParams) -> dict[str, Any] | None:
    c = rfm_input(profile, now)
    if c is None:
        return None
    sk = params.rfm
    r = quintile(-c.days_since_last_order, sk["recency"])
    f = quintile(float(c.orders), sk["frequency"])
    m = quintile(c.spend, sk["monetary"])
    name = rfm_segment_name(r, f)
    signals = [
        Signal(
            "recency",
            c.days_since_last_order,
            float(r - 3),
            f"last order {c.days_since_last_order:.0f} days ago (R{r})",
        ),
        Signal("frequency", c.orders, float(f - 3), f"{c.orders} orders (F{f})"),
        Signal("monetary", round(c.spend, 2), float(m - 3) / 2, f"spent {c.spend:.2f} net of returns (M{m})"),
    ]
    explanation = Explanation.build("rfm_segment", name, signals, summary=f"{name}: R{r} F{f} M{m}")
    return _entry(
        explanation, value=name, segment=rfm_slug(name), r=r, f=f, m=m, shop_customers=params.rfm_customers
    )


def preload() -> None:
    """Worker start-up (``app.worker.PRELOADS``): load and compile the global intent model once."""
    _prior_scorer()
