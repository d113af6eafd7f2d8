"""The replenishment oracle's consumption model: when each shopper runs out of each product (issue 17).

Per customer × product, from clean purchase days (:mod:`app.recommend.replenishment_input`):

- **Per-unit gaps.** The gap after a purchase of ``q`` units is modelled on the log scale as
  ``x = log(gap) - β·log(q / q_usual)`` (β = ``quantity_elasticity``; q_usual: the pair's median units), so
  twice the usual quantity lasts 2^β times as long (β = 1: twice as long; 0.5 was chosen on the tuning splits).
- **Shrinkage (empirical Bayes).** ``x`` is normal around the pair's rhythm μ_pair (within-pair variance σ²,
  per product, shrunk toward the shop's); μ_pair is normal around the product's rhythm (between-pair variance
  τ²), which is shrunk toward its product type's, itself shrunk toward the shop's (between-product variance ω²).
  The variances are moment estimates over the shop. The pair's gaps are recency-weighted (half-life in days), so
  the posterior follows lifestyle and seasonal shifts. A pair with one purchase day has no gaps: it gets the
  product's prior only and ``basis == "product_prior"``.
- **Due date.** The next gap is log-normal: median ``exp(m)`` with ``m = μ_post + β·log(q_last / q_usual)``,
  variance σ² + the posterior variance; the due date's interval is its central ``interval`` quantiles.
- **Stopped buying vs due.** A pair is *active* with prior probability π = (r + k·share) / (r + k + 1) (r: its
  repeat purchases, share: the product's repeat-purchase share). Silence lowers it (Bayes on the survival
  ``S(s)`` of the gap), so the hazard falls after a silence far past the rhythm:
  ``P(buy within h) = π·(S(s) − S(s+h)) / (π·S(s) + 1 − π)``; below ``stopped_below`` the status is "stopped".
- **Calibration.** P(14 d) and P(30 d) are then calibrated on the shop's own last 30 days of history
  (``app.recommend.replenishment_calibrate``).
- **Next purchase.** ``predicted_next_at`` is the median of the next purchase given that the pair is active and
  has not bought during the silence ``s`` so far (always at or after ``now``).
- **Consumables.** The product's repeat-purchase share (buyers with two purchase days or more), shrunk toward its
  product type's share (the shop's for an untyped product): a product is consumable when the share reaches
  ``consumable_share``. Durables never get reminders.

The backtest (``attune backtest replenishment``) and the production path call the same :func:`fit` and
:func:`forecast`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import log_ndtr, ndtri

from app.recommend.replenishment_calibrate import HORIZONS, Calibrator, pair_features, train
from app.recommend.replenishment_input import PurchaseDays, median_quantity, purchase_days, select_rows

LN2 = float(np.log(2.0))
HOLDOUT_DAYS = 30


@dataclass(frozen=True)
class Config:
    """One configuration for every shop (chosen on an earlier cut-off than the benchmark's; see benchmarks/)."""

    quantity_elasticity: float = 0.5
    half_life_days: float = 120.0
    active_prior_strength: float = 2.0  # pseudo-repeats of the product's repeat share in π
    share_prior_strength: float = 10.0  # pseudo-buyers of the product type's share in the repeat share
    consumable_share: float = 0.2
    interval: float = 0.8
    stopped_below: float = 0.2  # P(still buying) under which a pair counts as "stopped", not "due"
    min_variance: float = 0.02
    variance_prior_dof: float = 16.0  # pseudo-gaps of the product's (then shop's) spread in a pair's spread
    type_prior: bool = True  # shrink a product's rhythm toward its product type's (then the shop's)
    calibrate: bool = True  # calibrate P(within 14/30 d) on the shop's last 30 days (replenishment_calibrate)
    calibrator: str = "logistic"  # "logistic" or "gbm" (gradient-boosted trees)


@dataclass(frozen=True)
class Priors:
    """What the shop's history says about each product (rows follow ``products``) and the shop."""

    products: np.ndarray
    product_mean: np.ndarray  # μ_product (posterior, shrunk toward the shop)
    product_var: np.ndarray  # τ² + posterior variance of μ_product: the prior variance of a pair's μ
    repeat_share: np.ndarray  # smoothed share of buyers with ≥ 2 purchase days
    shop_mean: float
    shop_var: float
    sigma2: float
    product_sigma2: np.ndarray  # the product's within-pair variance, shrunk toward ``sigma2``
    tau2: float
    shop_share: float
    calibrator: Calibrator | None = None

    def lookup(self, product_ids: np.ndarray) -> np.ndarray:
        """Row of each product id in these priors, -1 for a product they have never seen."""
        idx = np.searchsorted(self.products, product_ids)
        idx = np.clip(idx, 0, max(len(self.products) - 1, 0))
        found = len(self.products) > 0
        ok = (self.products[idx] == product_ids) if found else np.zeros(len(product_ids), bool)
        return np.where(ok, idx, -1)


@dataclass(frozen=True)
class Forecast:
    """Per pair of the input :class:`PurchaseDays` (same order). Times in days since the epoch."""

    customer: np.ndarray
    product: np.ndarray
    n_days: np.ndarray
    last_day: np.ndarray
    last_quantity: np.ndarray
    usual_quantity: np.ndarray
    cycle_days: np.ndarray  # median gap expected after the last purchase
    due_at: np.ndarray
    due_low: np.ndarray
    due_high: np.ndarray
    predicted_next_at: np.ndarray
    p_within_14d: np.ndarray
    p_within_30d: np.ndarray
    supply_left: np.ndarray  # fraction of the last purchase's supply left at ``now`` (0..1)
    p_active: np.ndarray  # P(still buying | silence so far)
    consumable: np.ndarray
    repeat_share: np.ndarray  # the product's
    basis: np.ndarray  # "personal" (own gaps, shrunk) or "product_prior" (one purchase day)
    status: np.ndarray  # "stocked", "due" or "stopped"

    def p_within(self, horizon: float) -> np.ndarray:
        return self.p_within_14d if horizon == 14 else self.p_within_30d


def _gaps(days: PurchaseDays, cfg: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per gap: its pair, x = log(gap) − β·log(q before it), and the recency weight."""
    if not len(days.day):
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    pair = days.row_pair
    follows = np.r_[pair[1:] == pair[:-1], False]  # row i has a next purchase day in its pair
    i = np.flatnonzero(follows)
    gap = (days.day[i + 1] - days.day[i]).astype(float)
    usual = median_quantity(days)[pair[i]]
    x = np.log(gap) - cfg.quantity_elasticity * np.log(np.maximum(days.quantity[i], 1e-9) / usual)
    age = days.last_day()[pair[i]] - days.day[i + 1]
    weight = 0.5 ** (age / cfg.half_life_days)
    return pair[i], x, weight


def _group_mean(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    count = np.bincount(keys, minlength=n).astype(float)
    total = np.bincount(keys, weights=values, minlength=n)
    return np.divide(total, count, out=np.zeros(n), where=count > 0), count


def fit_rhythm(
    days: PurchaseDays, cfg: Config = Config(), product_type: dict[str, str] | None = None
) -> Priors:
    """Empirical-Bayes priors of the shop's products from its purchase days (``product_type``: id → type)."""
    n_prod = len(days.products)
    pair, x, _ = _gaps(days, cfg)
    gap_product = days.pair_product[pair]
    shop_mean = float(x.mean()) if len(x) else float(np.log(30.0))
    shop_var = float(x.var()) if len(x) > 1 else 1.0
    pair_mean, pair_n = _group_mean(pair, x, days.n_pairs)
    multi = pair_n >= 2
    resid = x - pair_mean[pair]
    dof = float((pair_n[multi] - 1).sum())
    sigma2 = float((resid[multi[pair]] ** 2).sum() / dof) if dof > 0 else shop_var
    sigma2 = max(sigma2, cfg.min_variance)
    nu = cfg.variance_prior_dof
    in_multi = multi[pair]
    prod_ss = np.bincount(gap_product[in_multi], weights=resid[in_multi] ** 2, minlength=n_prod)
    prod_dof = np.bincount(days.pair_product[multi], weights=pair_n[multi] - 1, minlength=n_prod)
    product_sigma2 = np.maximum((nu * sigma2 + prod_ss) / (nu + prod_dof), cfg.min_variance)
    prod_mean, prod_n = _group_mean(gap_product, x, n_prod)
    has = pair_n > 0
    dev = pair_mean[has] - prod_mean[days.pair_product[has]]
    tau2 = float(np.mean(dev**2 - sigma2 / pair_n[has])) if has.any() else shop_var
    tau2 = max(tau2, cfg.min_variance)
    pairs_per_product = np.bincount(days.pair_product[has], minlength=n_prod).astype(float)
    se2 = np.divide(tau2, pairs_per_product, out=np.full(n_prod, np.inf), where=pairs_per_product > 0)
    se2 += np.divide(sigma2, prod_n, out=np.full(n_prod, np.inf), where=prod_n > 0)
    seen = prod_n > 0
    omega2 = float(np.mean((prod_mean[seen] - shop_mean) ** 2 - se2[seen])) if seen.any() else shop_var
    omega2 = max(omega2, cfg.min_variance)
    center = np.full(n_prod, shop_mean)
    if cfg.type_prior and product_type and seen.any():
        center = _type_centers(days.products, product_type, prod_mean, seen, shop_mean, omega2, cfg)
        omega2 = max(float(np.mean((prod_mean[seen] - center[seen]) ** 2 - se2[seen])), cfg.min_variance)
    precision = 1.0 / omega2 + np.where(seen, 1.0 / se2, 0.0)
    product_mean = (center / omega2 + np.where(seen, prod_mean / se2, 0.0)) / precision
    product_var = tau2 + 1.0 / precision
    share, shop_share = _repeat_share(days, cfg, product_type or {})
    return Priors(
        products=days.products,
        product_mean=product_mean,
        product_var=product_var,
        repeat_share=share,
        shop_mean=shop_mean,
        shop_var=tau2 + omega2,
        sigma2=sigma2,
        product_sigma2=product_sigma2,
        tau2=tau2,
        shop_share=shop_share,
    )


def _type_centers(
    products: np.ndarray,
    product_type: dict[str, str],
    prod_mean: np.ndarray,
    seen: np.ndarray,
    shop_mean: float,
    omega2: float,
    cfg: Config,
) -> np.ndarray:
    """Per product, the rhythm of its product type (the mean of its typed products' rhythms, shrunk toward the
    shop's by the between-type variance); the shop's for an untyped product."""
    types = np.array([product_type.get(str(p), "") for p in products], dtype=object)
    typed = types != ""
    center = np.full(len(products), shop_mean)
    if not (typed & seen).any():
        return center
    codes, inverse = np.unique(types[typed].astype(str), return_inverse=True)
    code = np.full(len(products), -1)
    code[typed] = inverse
    use = typed & seen
    n_t = np.bincount(code[use], minlength=len(codes)).astype(float)
    m_t = np.divide(np.bincount(code[use], weights=prod_mean[use], minlength=len(codes)), n_t,
                    out=np.full(len(codes), shop_mean), where=n_t > 0)  # fmt: skip
    has = n_t > 0
    kappa2 = max(float(np.mean((m_t[has] - shop_mean) ** 2 - omega2 / n_t[has])), cfg.min_variance)
    post = (n_t * m_t / omega2 + shop_mean / kappa2) / (n_t / omega2 + 1.0 / kappa2)
    center[typed] = post[inverse]
    return center


def _repeat_share(days: PurchaseDays, cfg: Config, product_type: dict[str, str]) -> tuple[np.ndarray, float]:
    """Share of each product's buyers with ≥ 2 purchase days, shrunk toward its type's share, then the shop's."""
    n_prod = len(days.products)
    buyers = np.bincount(days.pair_product, minlength=n_prod).astype(float)
    repeaters = np.bincount(days.pair_product[days.n_days >= 2], minlength=n_prod).astype(float)
    shop = float(repeaters.sum() / buyers.sum()) if buyers.sum() else 0.0
    k = cfg.share_prior_strength
    types = np.array([product_type.get(p, "") for p in days.products], dtype=object)
    prior = np.full(n_prod, shop)
    known = types != ""
    if known.any():
        codes, inverse = np.unique(types[known].astype(str), return_inverse=True)
        t_buyers = np.bincount(inverse, weights=buyers[known], minlength=len(codes))
        t_rep = np.bincount(inverse, weights=repeaters[known], minlength=len(codes))
        t_share = (t_rep + k * shop) / (t_buyers + k)
        prior[known] = t_share[inverse]
    return (repeaters + k * prior) / (buyers + k), shop


def forecast_rhythm(days: PurchaseDays, priors: Priors, now: float, cfg: Config = Config()) -> Forecast:
    """The rhythm model's forecast of every pair of ``days`` at ``now`` (float days since the epoch)."""
    n = days.n_pairs
    row = priors.lookup(days.products)[days.pair_product] if n else np.zeros(0, np.int64)
    known = row >= 0
    prior_mean = np.where(known, priors.product_mean[np.maximum(row, 0)], priors.shop_mean)
    prior_var = np.where(known, priors.product_var[np.maximum(row, 0)], priors.shop_var)
    share = np.where(known, priors.repeat_share[np.maximum(row, 0)], priors.shop_share)
    pair, x, w = _gaps(days, cfg)
    wsum = np.bincount(pair, weights=w, minlength=n)
    wx = np.bincount(pair, weights=w * x, minlength=n)
    spread = np.where(known, priors.product_sigma2[np.maximum(row, 0)], priors.sigma2)
    pair_mean = np.divide(wx, wsum, out=np.zeros(n), where=wsum > 0)
    ss = np.bincount(pair, weights=w * (x - pair_mean[pair]) ** 2, minlength=n)
    wsq = np.bincount(pair, weights=w**2, minlength=n)
    dof = np.maximum(wsum - np.divide(wsq, wsum, out=np.zeros(n), where=wsum > 0), 0.0)  # effective n − 1
    nu = cfg.variance_prior_dof
    sigma2 = np.maximum((nu * spread + ss) / (nu + dof), cfg.min_variance)
    precision = 1.0 / prior_var + wsum / sigma2
    post_mean = (prior_mean / prior_var + wx / sigma2) / precision
    last_q = days.last_quantity()
    m = post_mean + cfg.quantity_elasticity * np.log(np.maximum(last_q, 1e-9) / median_quantity(days))
    sd = np.sqrt(sigma2 + 1.0 / precision)
    last = days.last_day().astype(float)
    silence = np.maximum(now - last, 0.0)
    log_s = _log_survival(silence, m, sd)
    log_s14 = _log_survival(silence + 14.0, m, sd)
    log_s30 = _log_survival(silence + 30.0, m, sd)
    repeats = days.n_days - 1.0
    k = cfg.active_prior_strength
    pi = (repeats + k * share) / (repeats + k + 1.0)  # one pseudo-stop: no pair is sure to go on
    s_now = np.exp(log_s)
    denom = np.maximum(pi * s_now + (1.0 - pi), 1e-300)
    p14 = pi * (s_now - np.exp(log_s14)) / denom
    p30 = pi * (s_now - np.exp(log_s30)) / denom
    p_active = pi * s_now / denom
    z = ndtri(np.clip(1.0 - np.exp(log_s - LN2), 1e-12, 1 - 1e-12))  # S(t) = S(s)/2
    next_gap = np.maximum(np.exp(m + sd * z), silence)
    cycle = np.exp(m)
    zq = ndtri(0.5 + cfg.interval / 2.0)
    supply = np.clip(1.0 - silence / cycle, 0.0, 1.0)
    status = np.where(p_active < cfg.stopped_below, "stopped", np.where(supply <= 0.2, "due", "stocked"))
    usual = np.maximum(np.rint(median_quantity(days)), 1).astype(np.int64)
    return Forecast(
        customer=days.customers[days.pair_customer],
        product=days.products[days.pair_product],
        n_days=days.n_days,
        last_day=last,
        last_quantity=last_q,
        usual_quantity=usual,
        cycle_days=cycle,
        due_at=last + cycle,
        due_low=last + np.exp(m - zq * sd),
        due_high=last + np.exp(m + zq * sd),
        predicted_next_at=last + next_gap,
        p_within_14d=np.clip(p14, 0.0, 1.0),
        p_within_30d=np.clip(p30, 0.0, 1.0),
        supply_left=supply,
        p_active=p_active,
        consumable=share >= cfg.consumable_share,
        repeat_share=share,
        basis=np.where(days.n_days >= 2, "personal", "product_prior"),
        status=status,
    )


def fit(
    days: PurchaseDays,
    cfg: Config = Config(),
    product_type: dict[str, str] | None = None,
    now: float | None = None,
) -> Priors:
    """The shop's priors (:func:`fit_rhythm`) and, given the end of its history ``now``, the calibrator trained on
    its last ``HOLDOUT_DAYS`` (forecast from the days before them, labelled by what was bought in them)."""
    priors = fit_rhythm(days, cfg, product_type)
    if not cfg.calibrate or now is None or not days.n_pairs:
        return priors
    inner = float(np.floor(now)) - HOLDOUT_DAYS
    early = days.day < inner
    before, kept = select_rows(days, early)
    if not before.n_pairs:
        return priors
    inner_priors = fit_rhythm(before, cfg, product_type)
    fc = forecast_rhythm(before, inner_priors, inner, cfg)
    n_before = before.n_days
    has_next = n_before < days.n_days[kept]
    nxt = np.where(has_next, days.day[np.minimum(days.ptr[kept] + n_before, len(days.day) - 1)], np.inf)
    labels = {h: nxt < inner + h for h in HORIZONS}
    return replace(priors, calibrator=train(pair_features(before, fc, inner), labels, cfg.calibrator))


def forecast(days: PurchaseDays, priors: Priors, now: float, cfg: Config = Config()) -> Forecast:
    """Forecast every pair of ``days`` at ``now`` (float days since the epoch; the caller leaves out anything
    later): the rhythm model, its probabilities calibrated when ``priors`` carry a calibrator."""
    fc = forecast_rhythm(days, priors, now, cfg)
    if priors.calibrator is None or not days.n_pairs:
        return fc
    p = priors.calibrator.apply(pair_features(days, fc, now), {14: fc.p_within_14d, 30: fc.p_within_30d})
    return replace(fc, p_within_14d=p[14], p_within_30d=p[30])


def forecast_history(
    customer: np.ndarray,
    product: np.ndarray,
    at_days: np.ndarray,
    quantity: np.ndarray,
    order_id: np.ndarray | None,
    now: float,
    product_type: dict[str, str] | None = None,
    cfg: Config = Config(),
) -> tuple[PurchaseDays, Forecast]:
    """A shop's order lines (returns as negative quantities) → every pair's forecast at ``now``: the one entry
    point of production (``app.jobs.replenishment``) and of ``attune backtest replenishment``. Lines at or after
    ``now`` are left out."""
    at = np.asarray(at_days, dtype=float)
    early = at < now
    days = purchase_days(
        np.asarray(customer)[early],
        np.asarray(product)[early],
        at[early],
        np.asarray(quantity)[early],
        None if order_id is None else np.asarray(order_id)[early],
    )
    return days, forecast(days, fit(days, cfg, product_type, now), now, cfg)


def _weeks_or_days(days: float) -> str:
    d = max(int(round(days)), 1)
    if d >= 14 and d % 7 in (0, 1, 6):
        return f"{round(d / 7)} weeks"
    return "day" if d == 1 else f"{d} days"


def reorder_reason(cycle_days: float, days_since_last: float) -> str:
    """Why an item is due, in the shopper's words: "you usually reorder every 3 weeks; last order 19 days ago"."""
    ago = max(int(days_since_last), 0)
    return f"you usually reorder every {_weeks_or_days(cycle_days)}; last order {ago} days ago"


def _log_survival(t: np.ndarray, m: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """log P(gap > t) of the log-normal gap (0 for t ≤ 0)."""
    safe = np.maximum(t, 1e-9)
    return np.where(t > 0, log_ndtr(-(np.log(safe) - m) / sd), 0.0)
