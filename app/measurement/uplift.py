"""Uplift targeting: who should an agent contact, by predicted incremental effect rather than propensity.

The learner is a **regularised S-learner**: one logistic model of the outcome over

    logit P(y | x, t) = b + x·β + t·(γ + x·δ)

fitted on an agent's randomised exposures (``t`` = 1 contacted, 0 held out). ``β`` (who responds anyway) is
lightly penalised; ``δ`` (who responds *because of* the contact) carries a much stronger Gaussian penalty
(``effect_penalty``), since the effect's heterogeneity is a small signal under a large baseline. A shopper's
predicted uplift is ``P(y | x, 1) − P(y | x, 0)``.

**Pooled priors.** A small shop has few exposures. Given ``prior`` (the same model fitted on pooled exposures
of many shops, e.g. every shop running that agent), the penalty is centred on the prior's coefficients instead
of zero, with ``pool_strength`` extra precision: with a handful of exposures the shop's model is the pooled
one, and it moves away as its own randomised evidence accumulates (a MAP estimate under a hierarchical prior).

``readiness`` is the rule the orchestrator applies before trusting a shop's model: enough exposures and enough
positive outcomes in *both* arms.

Plain data in and out: a ``pandas.DataFrame`` of profile-like columns, 0/1 arrays; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from app.measurement.uplift_features import FeatureEncoder


@dataclass(frozen=True)
class UpliftSettings:
    """Regularisation and the "enough randomised exposures" rule."""

    base_penalty: float = 1.0  # Gaussian precision on β (standardised features)
    effect_penalty: float = 25.0  # precision on δ: the effect's heterogeneity is shrunk much harder
    pool_strength: float = 50.0  # extra precision toward a pooled prior's coefficients, when one is given
    min_per_arm: int = 200  # randomised exposures needed in each arm before a shop's own model is used
    min_outcomes_per_arm: int = 10  # positive outcomes needed in each arm


@dataclass(frozen=True)
class Readiness:
    """Whether a shop's own randomised exposures are enough to target by its own model, and why."""

    ready: bool
    reason: str
    treated: int
    control: int
    treated_outcomes: int
    control_outcomes: int


@dataclass(frozen=True)
class UpliftModel:
    """A fitted uplift model: score shoppers with ``predict``."""

    encoder: FeatureEncoder
    intercept: float
    base: np.ndarray  # β
    effect: float  # γ
    effect_by_feature: np.ndarray  # δ
    n_treated: int
    n_control: int
    pooled: bool  # fitted with a pooled prior

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Predicted incremental outcome probability of contacting each row (treated minus not treated)."""
        x = self.encoder.transform(features)
        base = self.intercept + x @ self.base
        return expit(base + self.effect + x @ self.effect_by_feature) - expit(base)

    def coefficients(self) -> np.ndarray:
        """All coefficients in fitting order: intercept, β, γ, δ."""
        return np.r_[self.intercept, self.base, self.effect, self.effect_by_feature]


def _as_flags(name: str, values: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one value per row ({n})")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must be 0/1 (or booleans)")
    return arr.astype(np.float64)


def readiness(treated: np.ndarray, outcome: np.ndarray, settings: UpliftSettings | None = None) -> Readiness:
    """Are there enough randomised exposures, in both arms, to target by this shop's own model?"""
    s = settings or UpliftSettings()
    t = _as_flags("treated", treated, len(np.asarray(treated)))
    y = _as_flags("outcome", outcome, len(t))
    n_t, n_c = int(t.sum()), int(len(t) - t.sum())
    y_t, y_c = int((y * t).sum()), int((y * (1 - t)).sum())
    short = []
    if min(n_t, n_c) < s.min_per_arm:
        short.append(f"{min(n_t, n_c)} exposures in the smaller arm (need {s.min_per_arm})")
    if min(y_t, y_c) < s.min_outcomes_per_arm:
        short.append(f"{min(y_t, y_c)} outcomes in the sparser arm (need {s.min_outcomes_per_arm})")
    reason = "enough randomised exposures in both arms" if not short else "not yet: " + "; ".join(short)
    return Readiness(not short, reason, n_t, n_c, y_t, y_c)


def _design(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x, t, x * t[:, None]])


def _map_logistic(z: np.ndarray, y: np.ndarray, precision: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Coefficients maximising the logistic likelihood times a Gaussian prior N(centre, 1/precision)."""

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = z @ w
        diff = w - centre
        value = float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(precision * diff * diff))
        grad = z.T @ (expit(eta) - y) + precision * diff
        return value, grad

    result = minimize(loss, centre.copy(), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x


def fit_uplift(
    features: pd.DataFrame,
    treated: np.ndarray,
    outcome: np.ndarray,
    prior: UpliftModel | None = None,
    settings: UpliftSettings | None = None,
) -> UpliftModel:
    """Fit on randomised exposures: one row per exposed shopper, ``treated`` 0/1, binary ``outcome``.

    With ``prior`` (a model fitted on pooled exposures), its feature encoding is reused and the coefficients
    are shrunk toward its coefficients rather than toward zero.
    """
    s = settings or UpliftSettings()
    n = len(features)
    t = _as_flags("treated", treated, n)
    y = _as_flags("outcome", outcome, n)
    if n == 0:
        raise ValueError("no exposures to fit on")
    encoder = prior.encoder if prior is not None else FeatureEncoder().fit(features)
    x = encoder.transform(features)
    d = x.shape[1]
    precision = np.r_[0.0, np.full(d, s.base_penalty), s.base_penalty, np.full(d, s.effect_penalty)]
    if prior is not None:
        centre = prior.coefficients()
        precision = precision + np.r_[s.pool_strength, np.full(2 * d + 1, s.pool_strength)]
    else:
        rate = np.clip((y.sum() + 0.5) / (n + 1.0), 1e-6, 1 - 1e-6)
        centre = np.r_[np.log(rate / (1 - rate)), np.zeros(2 * d + 1)]
    w = _map_logistic(_design(x, t), y, precision, centre)
    return UpliftModel(
        encoder=encoder,
        intercept=float(w[0]),
        base=w[1 : d + 1],
        effect=float(w[d + 1]),
        effect_by_feature=w[d + 2 :],
        n_treated=int(t.sum()),
        n_control=int(n - t.sum()),
        pooled=prior is not None,
    )
