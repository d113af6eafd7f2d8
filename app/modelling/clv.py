"""Lifetime value and churn: BG/NBD (purchase count, probability alive) + Gamma-Gamma (spend per purchase).

Both are fitted per shop by maximum a-posteriori likelihood: a Gaussian prior on the log-parameters is centred on
a global fit, so a shop with five customers gets the global behaviour and a shop with thousands gets its own.
Time is measured in weeks; a purchase is a customer-day with at least one order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from app.modelling.explain import Explanation, Signal

WEEK_SECONDS = 7 * 86400.0


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_array(self) -> np.ndarray:
        return np.array([self.r, self.alpha, self.a, self.b])


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float

    def as_array(self) -> np.ndarray:
        return np.array([self.p, self.q, self.v])


# Fitted on Online Retail II (all customers, calibration to 2011-06-10, weeks); used as the prior for small shops.
GLOBAL_BGNBD = BgNbdParams(r=0.675, alpha=9.35, a=0.159, b=3.43)
GLOBAL_GAMMA_GAMMA = GammaGammaParams(p=2.38, q=3.52, v=429.0)


@dataclass(frozen=True)
class CustomerHistory:
    """Calibration-period summary of one customer (``lifetimes`` conventions, in weeks)."""

    customer_id: str
    frequency: int  # repeat purchase days (purchase days − 1)
    recency: float  # first → last purchase
    T: float  # first purchase → end of calibration
    monetary: float  # mean value of the repeat purchases (0 without repeats)
    total_spend: float = 0.0
    purchases_13w: int = 0  # purchase days in the last 13 weeks of the calibration period
    purchases_26w: int = 0
    spend_26w: float = 0.0


def summarise(orders: Iterable[tuple[str, datetime, float]], end: datetime) -> list[CustomerHistory]:
    """Build histories from (customer id, ordered at, amount) rows strictly before ``end``."""
    days: dict[str, dict[datetime, float]] = {}
    for cid, at, amount in orders:
        if at >= end:
            continue
        day = datetime(at.year, at.month, at.day, tzinfo=at.tzinfo)
        per = days.setdefault(str(cid), {})
        per[day] = per.get(day, 0.0) + float(amount)
    out = []
    for cid, per in days.items():
        ds = sorted(per)
        first, last = ds[0], ds[-1]
        weeks_before_end = [(end - d).total_seconds() / WEEK_SECONDS for d in ds]
        repeats = [per[d] for d in ds[1:]]
        out.append(
            CustomerHistory(
                customer_id=cid,
                frequency=len(ds) - 1,
                recency=(last - first).total_seconds() / WEEK_SECONDS,
                T=(end - first).total_seconds() / WEEK_SECONDS,
                monetary=float(np.mean(repeats)) if repeats else 0.0,
                total_spend=float(sum(per.values())),
                purchases_13w=sum(w <= 13 for w in weeks_before_end),
                purchases_26w=sum(w <= 26 for w in weeks_before_end),
                spend_26w=float(sum(per[d] for d, w in zip(ds, weeks_before_end, strict=True) if w <= 26)),
            )
        )
    return out


def _arrays(histories: list[CustomerHistory]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([h.frequency for h in histories], dtype=float)
    tx = np.array([h.recency for h in histories], dtype=float)
    T = np.array([h.T for h in histories], dtype=float)
    return x, tx, T


def bgnbd_loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


def _map_fit(
    negll: callable, prior: np.ndarray, prior_sd: float, n_params: int
) -> np.ndarray:  # pragma: no cover - thin wrapper
    theta0 = np.log(prior)

    def objective(theta: np.ndarray) -> float:
        val = negll(np.exp(theta)) + 0.5 * float(np.sum((theta - theta0) ** 2)) / prior_sd**2
        return val if np.isfinite(val) else 1e100

    res = minimize(
        objective, theta0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-8}
    )
    res = minimize(objective, res.x, method="L-BFGS-B")
    return np.exp(res.x)


def fit_bgnbd(
    histories: list[CustomerHistory], prior: BgNbdParams = GLOBAL_BGNBD, prior_sd: float = 1.0
) -> BgNbdParams:
    """MAP fit; ``prior_sd`` is the prior's standard deviation on each log-parameter (inf = plain MLE)."""
    x, tx, T = _arrays(histories)
    sd = prior_sd if np.isfinite(prior_sd) else 1e6
    est = _map_fit(lambda p: -float(np.sum(bgnbd_loglik(p, x, tx, T))), prior.as_array(), sd, 4)
    return BgNbdParams(*map(float, est))


def p_alive(params: BgNbdParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params.as_array()
    with np.errstate(over="ignore", divide="ignore"):
        odds = a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + tx)) ** (r + x)
    return np.where(x > 0, 1.0 / (1.0 + odds), 1.0)


def expected_purchases(
    params: BgNbdParams, t: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Expected purchases in the next ``t`` weeks (FHL 2005, eq. 10)."""
    r, alpha, a, b = params.as_array()
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1) if a > 1 else (a + b + x - 1) / max(a - 1, -0.999)
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
    body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
    with np.errstate(over="ignore", divide="ignore"):
        denom = 1 + (x > 0) * a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + tx)) ** (r + x)
    out = head * body / denom
    # a ≤ 1 or a numerically unstable hypergeometric: fall back to rate × P(alive) × t
    fallback = (r + x) / (alpha + T) * p_alive(params, x, tx, T) * t
    bad = ~np.isfinite(out) | (out < 0) | (a <= 1)
    return np.where(bad, fallback, out)


def gamma_gamma_loglik(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    p, q, v = params
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(v + m * x)
    )


def fit_gamma_gamma(
    histories: list[CustomerHistory], prior: GammaGammaParams = GLOBAL_GAMMA_GAMMA, prior_sd: float = 1.0
) -> GammaGammaParams:
    rep = [h for h in histories if h.frequency > 0 and h.monetary > 0]
    x = np.array([h.frequency for h in rep], dtype=float)
    m = np.array([h.monetary for h in rep], dtype=float)
    sd = prior_sd if np.isfinite(prior_sd) else 1e6
    if not rep:
        return prior
    est = _map_fit(lambda p: -float(np.sum(gamma_gamma_loglik(p, x, m))), prior.as_array(), sd, 3)
    return GammaGammaParams(*map(float, est))


def expected_spend_per_purchase(params: GammaGammaParams, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    p, q, v = params.as_array()
    population = p * v / (q - 1) if q > 1 else float(np.mean(m[x > 0])) if np.any(x > 0) else 0.0
    shrunk = (p * (v + x * m)) / np.maximum(p * x + q - 1, 1e-9)
    return np.where(x > 0, shrunk, population)


@dataclass(frozen=True)
class ClvPrediction:
    customer_id: str
    expected_purchases: float
    expected_spend: float  # predicted value over the horizon
    probability_alive: float
    churn_risk: float
    explanation: Explanation


@dataclass
class ClvModel:
    """A shop's fitted BG/NBD + Gamma-Gamma pair."""

    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    n_customers: int = 0

    @classmethod
    def fit(cls, histories: list[CustomerHistory], prior_sd: float = 1.0) -> ClvModel:
        """Per-shop MAP fit shrunk toward the global parameters (smaller ``prior_sd`` = stronger shrinkage)."""
        return cls(
            fit_bgnbd(histories, prior_sd=prior_sd),
            fit_gamma_gamma(histories, prior_sd=prior_sd),
            len(histories),
        )

    def arrays(self, histories: list[CustomerHistory], horizon_weeks: float) -> dict[str, np.ndarray]:
        x, tx, T = _arrays(histories)
        m = np.array([h.monetary for h in histories], dtype=float)
        purchases = expected_purchases(self.bgnbd, horizon_weeks, x, tx, T)
        alive = p_alive(self.bgnbd, x, tx, T)
        spend = expected_spend_per_purchase(self.gamma_gamma, x, m)
        return {
            "purchases": purchases,
            "p_alive": alive,
            "spend_per_purchase": spend,
            "value": purchases * spend,
        }

    def predict(self, histories: list[CustomerHistory], horizon_weeks: float = 26.0) -> list[ClvPrediction]:
        arr = self.arrays(histories, horizon_weeks)
        out = []
        for i, h in enumerate(histories):
            alive = float(arr["p_alive"][i])
            signals = [
                Signal("frequency", h.frequency, float(h.frequency), f"{h.frequency} repeat purchase days"),
                Signal(
                    "weeks_since_last_purchase",
                    round(h.T - h.recency, 1),
                    -(h.T - h.recency) / max(h.T, 1e-9),
                    f"last purchase {h.T - h.recency:.0f} weeks ago",
                ),
                Signal(
                    "spend_per_purchase",
                    round(float(arr["spend_per_purchase"][i]), 2),
                    float(np.log1p(arr["spend_per_purchase"][i])),
                    f"expected {arr['spend_per_purchase'][i]:.2f} per purchase",
                ),
            ]
            out.append(
                ClvPrediction(
                    customer_id=h.customer_id,
                    expected_purchases=float(arr["purchases"][i]),
                    expected_spend=float(arr["value"][i]),
                    probability_alive=alive,
                    churn_risk=1.0 - alive,
                    explanation=Explanation.build(
                        "lifetime_value",
                        round(float(arr["value"][i]), 2),
                        signals,
                        summary=f"{alive:.0%} likely still active; about {arr['purchases'][i]:.1f} purchases "
                        f"in the next {horizon_weeks:.0f} weeks",
                    ),
                )
            )
        return out
