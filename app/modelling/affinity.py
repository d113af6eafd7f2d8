"""Category / vendor / tag affinity with time decay, shrunk toward the shop's popularity for thin histories."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from app.modelling.explain import Explanation, Signal

DEFAULT_HALF_LIFE_DAYS = 180.0
DEFAULT_PRIOR_STRENGTH = 5.0  # pseudo-interactions spread over the shop's popularity


@dataclass(frozen=True)
class Interaction:
    """A customer touching a key (category, vendor or tag): a purchase line, a view, a wishlist add…"""

    customer_id: str
    key: str
    at: datetime
    weight: float = 1.0


@dataclass(frozen=True)
class Affinity:
    key: str
    score: float  # share of the customer's (decayed, smoothed) attention on this key, 0..1
    explanation: Explanation


def decay(age_days: np.ndarray, half_life_days: float) -> np.ndarray:
    return np.power(0.5, np.maximum(age_days, 0.0) / half_life_days)


def affinity_matrix(
    customer_idx: np.ndarray,
    key_idx: np.ndarray,
    weights: np.ndarray,
    age_days: np.ndarray,
    n_customers: int,
    n_keys: int,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense (customers × keys) affinity shares and the shop popularity prior, from interaction arrays."""
    w = weights * decay(age_days, half_life_days)
    m = np.zeros((n_customers, n_keys))
    np.add.at(m, (customer_idx, key_idx), w)
    popularity = np.zeros(n_keys)
    np.add.at(popularity, key_idx, weights)
    popularity = popularity / max(popularity.sum(), 1e-12)
    scores = (m + prior_strength * popularity) / (m.sum(axis=1, keepdims=True) + prior_strength)
    return scores, popularity


def customer_affinities(
    interactions: Iterable[Interaction],
    now: datetime,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    top: int = 5,
) -> dict[str, list[Affinity]]:
    """Top affinities per customer with explanations (recent and total weight behind each key)."""
    rows = list(interactions)
    if not rows:
        return {}
    customers = sorted({r.customer_id for r in rows})
    keys = sorted({r.key for r in rows})
    ci = {c: i for i, c in enumerate(customers)}
    ki = {k: i for i, k in enumerate(keys)}
    c_idx = np.array([ci[r.customer_id] for r in rows])
    k_idx = np.array([ki[r.key] for r in rows])
    wts = np.array([r.weight for r in rows], dtype=float)
    age = np.array([(now - r.at).total_seconds() / 86400.0 for r in rows])
    scores, popularity = affinity_matrix(
        c_idx, k_idx, wts, age, len(customers), len(keys), half_life_days, prior_strength
    )
    raw = np.zeros_like(scores)
    np.add.at(raw, (c_idx, k_idx), wts)
    recent = np.zeros_like(scores)
    np.add.at(recent, (c_idx, k_idx), wts * (age <= half_life_days))
    out: dict[str, list[Affinity]] = {}
    for c, i in ci.items():
        order = np.argsort(-scores[i])[:top]
        out[c] = [
            Affinity(
                key=keys[j],
                score=float(scores[i, j]),
                explanation=Explanation.build(
                    "affinity",
                    round(float(scores[i, j]), 4),
                    [
                        Signal(
                            "recent_weight",
                            float(recent[i, j]),
                            float(recent[i, j]),
                            f"{recent[i, j]:g} in the last {half_life_days:.0f} days",
                        ),
                        Signal(
                            "total_weight",
                            float(raw[i, j]),
                            float(raw[i, j] - recent[i, j]),
                            f"{raw[i, j]:g} in total",
                        ),
                        Signal(
                            "shop_popularity",
                            round(float(popularity[j]), 4),
                            float(popularity[j]),
                            f"{popularity[j]:.1%} of the shop's activity",
                        ),
                    ],
                    summary=f"{keys[j]}: {scores[i, j]:.0%} of this shopper's recent interest",
                ),
            )
            for j in order
            if raw[i, j] > 0 or scores[i, j] > 0
        ]
    return out
