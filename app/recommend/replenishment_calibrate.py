"""The last step of the consumption model: P(buy within 14 / 30 days) calibrated on the shop's own recent past.

The rhythm model's probabilities rank pairs well *within* a shop's pairs of one kind, but how much a pair's
purchase count, the shopper's overall silence and the product's repeat share should move them differs by shop.
So :func:`train` holds out the shop's last 30 days of history: it forecasts every pair from the days before, labels
what was bought in those 30 days, and fits one classifier per horizon (logistic regression by default;
gradient-boosted trees overfit small shops) on the rhythm model's own outputs plus a few counts
(:func:`features`). Nothing after ``now`` is used; a shop with too few labelled pairs keeps the rhythm model's
probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.recommend.replenishment_input import PurchaseDays, customer_days

HORIZONS = (14, 30)
MIN_POSITIVES = 50
MAX_ROWS = 200_000


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def features(
    p14: np.ndarray,
    p30: np.ndarray,
    p_active: np.ndarray,
    n_days: np.ndarray,
    silence: np.ndarray,
    cycle: np.ndarray,
    age: np.ndarray,
    repeat_share: np.ndarray,
    shopper_silence: np.ndarray,
    shopper_gap: np.ndarray,
) -> np.ndarray:
    """One row per pair: the rhythm model's view and the counts behind it (all on log/logit scales)."""
    return np.column_stack(
        [
            _logit(p14),
            _logit(p30),
            _logit(p_active),
            np.log(n_days),
            np.log1p(silence),
            np.log(cycle),
            np.log1p(silence) - np.log(cycle),
            np.log((n_days - 0.5) / (age + 1.0)),  # the pair's purchase rate
            _logit(repeat_share),
            np.log1p(shopper_silence),
            np.log1p(shopper_gap),
        ]
    )


@dataclass(frozen=True)
class Calibrator:
    """One classifier per horizon (None: too little data, keep the rhythm model's probability)."""

    models: dict[int, HistGradientBoostingClassifier | None]

    def apply(self, x: np.ndarray, raw: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        out = {}
        for h in HORIZONS:
            model = self.models.get(h)
            out[h] = model.predict_proba(x)[:, 1] if model is not None and len(x) else raw[h]
        out[30] = np.maximum(out[30], out[14])  # buying within 14 days is buying within 30
        return out


def _classifier(kind: str, seed: int):
    if kind == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.08, max_leaf_nodes=15, min_samples_leaf=50, random_state=seed
    )


def train(x: np.ndarray, labels: dict[int, np.ndarray], kind: str = "gbm", seed: int = 0) -> Calibrator:
    """Fit the classifiers on held-out labels (a random subset of ``MAX_ROWS`` rows at most)."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(x)) if len(x) <= MAX_ROWS else rng.choice(len(x), MAX_ROWS, replace=False)
    models: dict[int, HistGradientBoostingClassifier | None] = {}
    for h in HORIZONS:
        y = labels[h][rows]
        if y.sum() < MIN_POSITIVES or (~y).sum() < MIN_POSITIVES:
            models[h] = None
            continue
        models[h] = _classifier(kind, seed).fit(x[rows], y)
    return Calibrator(models)


def pair_features(days: PurchaseDays, fc: Any, now: float) -> np.ndarray:
    """:func:`features` of every pair of ``days`` from its rhythm forecast ``fc`` at ``now``."""
    shopper = customer_days(days)
    last = np.full(len(days.customers), np.nan)
    gap = np.full(len(days.customers), np.nan)
    who = shopper.pair_customer
    last[who] = shopper.last_day()
    first = shopper.day[shopper.ptr[:-1]]
    gap[who] = np.where(shopper.n_days > 1, (last[who] - first) / np.maximum(shopper.n_days - 1, 1), 365.0)
    first_day = days.day[days.ptr[:-1]].astype(float)
    return features(
        fc.p_within_14d,
        fc.p_within_30d,
        fc.p_active,
        fc.n_days.astype(float),
        np.maximum(now - fc.last_day, 0.0),
        fc.cycle_days,
        np.maximum(now - first_day, 0.0),
        fc.repeat_share,
        np.maximum(now - last[days.pair_customer], 0.0),
        gap[days.pair_customer],
    )
