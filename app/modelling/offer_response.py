"""The pricing agent's response model: P(a hesitating shopper buys within 14 days | context, offer), a Bayesian
linear regression whose design shares strength across offers. Pure NumPy.

The design of (context ``x``, arm) has three blocks of ``x``: the base (every arm), × "percentage / 10" (a
percentage code's lift grows with its depth) and × "is free shipping". No-offer has only the base block, so a
percentage arm's lift is learned from every percentage code's data at once (a 15 % code teaches the 10 % one),
and the uncertainty of a lift does not carry the base rate's. Expected gross margin = P(buy) × (margin if bought, known from the cart, its cost and
the discount), so the regression learns only the purchase probability.

``ModelStats`` are sufficient statistics (XᵀX, Xᵀy, n, counts per arm): aggregates, which is what lets the
installation's other shops be pooled into a shop's prior without any shopper's row leaving its shop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

BASE = ("bias", "price_sensitivity", "intent", "clv", "small_cart")
K = len(BASE)
DIM = 3 * K
RIDGE = 1.0
NOISE_PRIOR = 0.2  # Bernoulli variance is at most 0.25
POOL_WEIGHT = 1000.0  # the installation's other shops count as at most this many observations


def design(x: np.ndarray, kind: str, percentage: float) -> np.ndarray:
    """The regression row for context ``x`` under an arm (kind none | percentage | free_shipping)."""
    depth = percentage / 10 if kind == "percentage" else 0.0
    fs = 1.0 if kind == "free_shipping" else 0.0
    return np.concatenate([x, x * depth, x * fs])


@dataclass
class ModelStats:
    n: float = 0.0
    xtx: np.ndarray = field(default_factory=lambda: np.zeros((DIM, DIM)))
    xty: np.ndarray = field(default_factory=lambda: np.zeros(DIM))
    yy: float = 0.0
    counts: dict[str, float] = field(default_factory=dict)  # observations per arm

    def add(self, arm: str, row: np.ndarray, y: float) -> None:
        self.n += 1
        self.xtx += np.outer(row, row)
        self.xty += row * y
        self.yy += y * y
        self.counts[arm] = self.counts.get(arm, 0.0) + 1

    def plus(self, other: ModelStats, weight: float = 1.0) -> ModelStats:
        counts = dict(self.counts)
        for arm, c in other.counts.items():
            counts[arm] = counts.get(arm, 0.0) + weight * c
        return ModelStats(
            self.n + weight * other.n,
            self.xtx + weight * other.xtx,
            self.xty + weight * other.xty,
            self.yy + weight * other.yy,
            counts,
        )

    def to_json(self) -> dict[str, object]:
        return {"n": self.n, "xtx": self.xtx.tolist(), "xty": self.xty.tolist(), "yy": self.yy,
                "counts": self.counts}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, object] | None) -> ModelStats:
        if not raw or np.shape(raw.get("xtx")) != (DIM, DIM):
            return cls()
        counts = raw.get("counts") or {}
        return cls(
            float(raw["n"]),  # type: ignore[arg-type]
            np.array(raw["xtx"], float),
            np.array(raw["xty"], float),
            float(raw["yy"]),  # type: ignore[arg-type]
            {str(k): float(v) for k, v in counts.items()},  # type: ignore[union-attr]
        )


def with_pool(own: ModelStats, pooled: ModelStats | None) -> ModelStats:
    """The shop's statistics with the other shops' as a prior worth at most ``POOL_WEIGHT`` observations."""
    if pooled is None or pooled.n <= 0:
        return own
    return own.plus(pooled, min(1.0, POOL_WEIGHT / pooled.n))


@dataclass(frozen=True)
class Posterior:
    mean: np.ndarray
    cov: np.ndarray  # scaled by the estimated noise variance

    @classmethod
    def of(cls, stats: ModelStats) -> Posterior:
        cov = np.linalg.inv(RIDGE * np.eye(DIM) + stats.xtx)
        mean = cov @ stats.xty
        resid = max(stats.yy - float(mean @ stats.xty), 0.0)
        noise = (resid + NOISE_PRIOR * 4) / (stats.n + 4)
        return cls(mean, cov * noise)

    def linear(self, v: np.ndarray) -> tuple[float, float]:
        """Posterior mean and standard deviation of ``v · β``."""
        return float(v @ self.mean), math.sqrt(max(float(v @ self.cov @ v), 0.0))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return rng.multivariate_normal(self.mean, self.cov, method="cholesky")
