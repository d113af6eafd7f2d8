"""Daily demand forecasts per product or variant (issue 19): what the nightly inventory job serves and what
``attune backtest demand`` measures.

Input: one daily-units series per item, from its first sale to the day before the forecast origin; ``NaN`` marks
a censored day (the item was out of stock), which is dropped rather than read as zero demand. Output: ``horizon``
days of expected units per item, and the method that produced them.

The methods are statsforecast's (:data:`METHOD_NAMES`, :func:`method`; the backtest's baselines are the same functions). Attune's
forecast (:func:`forecast`):

- **Members.** Croston SBA, TSB, ADIDA, ETS (A,N,N) and the 28-day mean, each a level for the horizon.
- **Weekly shape.** The shop's day-of-week profile (all items pooled over the last ``profile_weeks`` weeks,
  shrunk toward flat) multiplies each member's level, so a shop closed on Saturdays forecasts no Saturday sales.
- **Selection by rolling-origin accuracy.** Each member, and their mean (the combination), is refitted at
  ``windows`` earlier origins ``horizon`` days apart and scored on the days that followed: the RMSSE-like error
  (scaled by the item's in-sample naive MSE) plus ``stockout_weight`` × the stock-out day error / horizon (the
  backtest's stock-out protocol). Each item gets the candidate with the lowest recency-weighted score, unless the
  combination (the members' mean) is within ``keep_combo`` of it (per-item selection on intermittent series is
  noisy).
- **Calibration.** The shop's actual / forecast ratio at those origins (bounded) scales every forecast, so a shop
  whose demand is growing (a season starting) is not forecast at last month's level.
- **Sparse lift** (off by default). ``sparse_lift`` > 0 raises the forecast of an item that sold on fewer than
  ``1 - sparse_from`` of its last 56 observed days, by up to that fraction. On such items a level above the mean
  costs little squared error while a level below it pushes the predicted stock-out date far past the real one: it
  trades RMSSE for stock-out date error and inflates slow movers' orders (measured in benchmarks/demand.md), so the
  served forecast does not use it.
- **Ranges.** :func:`demand_paths` bootstraps daily paths from the item's recent non-censored days, rescaled to
  the forecast, for stock-out date ranges and lead-time demand quantiles.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Method = Callable[[np.ndarray, int], np.ndarray]


def _stats(model_factory: Callable[[], object], min_len: int = 2) -> Method:
    """A statsforecast model as ``(y, h) -> h expected units``; the series mean when ``y`` is too short."""

    def run(y: np.ndarray, h: int) -> np.ndarray:
        if len(y) < min_len or not np.any(y):
            return np.full(h, float(np.mean(y)) if len(y) else 0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = model_factory().forecast(y=y.astype(np.float64), h=h)["mean"]  # type: ignore[attr-defined]
            except (ValueError, ZeroDivisionError, IndexError, NotImplementedError, FloatingPointError):
                return np.full(h, float(np.mean(y)))
        out = np.nan_to_num(np.asarray(out, dtype=np.float64), nan=float(np.mean(y)))
        return np.clip(out, 0.0, None)

    return run


def _window_mean(y: np.ndarray, h: int, window: int = 28) -> np.ndarray:
    return np.full(h, float(np.mean(y[-window:])) if len(y) else 0.0)


def _methods() -> dict[str, Method]:
    from statsforecast.models import ADIDA, TSB, AutoETS, CrostonSBA, Naive, SeasonalNaive  # heavy: ~1 s

    return {
        "naive": _stats(Naive, 1),
        "seasonal_naive_7": _stats(lambda: SeasonalNaive(season_length=7), 7),
        "mean_28": _window_mean,
        "croston_sba": _stats(CrostonSBA),
        "tsb": _stats(lambda: TSB(alpha_d=0.1, alpha_p=0.1)),
        "adida": _stats(ADIDA),
        "ets": _stats(lambda: AutoETS(model="ANN"), 5),
    }


_METHODS: dict[str, Method] = {}


def method(name: str) -> Method:
    """One of :data:`METHOD_NAMES` (statsforecast is imported on first use)."""
    if not _METHODS:
        _METHODS.update(_methods())
    return _METHODS[name]


METHOD_NAMES = ("naive", "seasonal_naive_7", "mean_28", "croston_sba", "tsb", "adida", "ets")


@dataclass(frozen=True)
class Config:
    """One configuration for every shop (the same on both benchmark datasets; see benchmarks/demand.md)."""

    horizon: int = 28
    members: tuple[str, ...] = ("croston_sba", "tsb", "adida", "ets", "mean_28")
    windows: int = 3  # rolling origins used to pick each item's candidate
    window_decay: float = 0.7  # weight of each older origin relative to the next newer one
    keep_combo: float = 0.1  # keep the combination unless a member's error is this fraction lower
    profile_weeks: int = 8
    profile_shrink: float = 0.1  # weight of a flat week in the day-of-week profile
    weekly: bool = True
    combine: str = "mean"  # or "median"
    stockout_weight: float = 1.0  # weight of the stock-out day error (/ horizon) in the selection score
    calibrate: float = 1.0  # weight of the shop's rolling-origin actual/forecast ratio (0: none)
    calibration_bounds: tuple[float, float] = (0.67, 1.5)
    sparse_lift: float = 0.0  # raise a sparse item's forecast by up to this fraction (0: none, the default)
    sparse_days: int = 56  # the recent observed days its share of days without a sale is taken over
    sparse_from: float = (
        0.8  # no lift at or below this share of zero days, the full lift at 1 (linear between)
    )


@dataclass
class DemandForecast:
    """Per item: expected units for each day from the origin (``mean``, items × horizon) and the chosen method."""

    mean: np.ndarray
    method: list[str]


def weekday(day: np.ndarray | int) -> np.ndarray:
    """Day number since 1970-01-01 → weekday, Monday 0 (1970-01-01 was a Thursday)."""
    return (np.asarray(day) + 3) % 7


def weekday_profile(series: Sequence[np.ndarray], origin: int, cfg: Config) -> np.ndarray:
    """The shop's day-of-week multipliers (mean 1), from all items' last ``profile_weeks`` weeks before ``origin``."""
    span = cfg.profile_weeks * 7
    totals = np.zeros(7)
    for y in series:
        tail = y[-span:]
        if not len(tail):
            continue
        days = weekday(np.arange(origin - len(tail), origin))
        ok = ~np.isnan(tail)
        np.add.at(totals, days[ok], tail[ok])
    if totals.sum() <= 0 or not cfg.weekly:
        return np.ones(7)
    shape = totals / totals.mean()
    return (1 - cfg.profile_shrink) * shape + cfg.profile_shrink


def _observed(y: np.ndarray) -> np.ndarray:
    return y[~np.isnan(y)]


def _levels(y: np.ndarray, h: int, members: Sequence[str]) -> np.ndarray:
    """members × h forecasts of one item's observed (non-censored) days."""
    obs = _observed(y)
    return np.vstack([method(m)(obs, h) for m in members])


def _combine(cand: np.ndarray, cfg: Config) -> np.ndarray:
    return np.median(cand, axis=0) if cfg.combine == "median" else cand.mean(axis=0)


STOCK_DAYS = (7, 14, 21)


def stockout_abs_errors(cand: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Candidates (rows of ``cand``) × cases: the absolute stock-out day error of each, the backtest's protocol:
    for each d in :data:`STOCK_DAYS` within the horizon with sales through day d, the stock is the actual units
    through day d and the true stock-out the first day the actual cumulative demand reaches it."""
    h = len(actual)
    true_cum = np.cumsum(np.nan_to_num(actual))
    cum = np.cumsum(cand, axis=1)
    cases = []
    for d in STOCK_DAYS:
        if d > h or true_cum[d - 1] <= 0:
            continue
        stock = true_cum[d - 1]
        truth = int(np.argmax(true_cum >= stock)) + 1
        cases.append([abs(stockout_day(c, stock, 2 * h) - truth) for c in cum])
    return np.array(cases, dtype=float).T.reshape(len(cand), len(cases))


def stockout_errors(cand: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Per candidate: the mean of :func:`stockout_abs_errors` (zero when no d has sales)."""
    errors = stockout_abs_errors(cand, actual)
    return errors.mean(axis=1) if errors.shape[1] else np.zeros(len(cand))


def _window_errors(series: Sequence[np.ndarray], origin: int, cfg: Config) -> tuple[np.ndarray, float]:
    """Rolling origins: per item and candidate, the recency-weighted score (RMSSE-like error plus
    ``stockout_weight`` × stock-out day error / horizon), and the shop's actual / forecast ratio."""
    h, members = cfg.horizon, cfg.members
    errors = np.zeros((len(series), len(members) + 1))
    sold, predicted = 0.0, 0.0
    for w in range(1, cfg.windows + 1):
        start = origin - w * h
        past = [y[: max(len(y) - w * h, 0)] for y in series]
        past_shape = weekday_profile(past, start, cfg)[weekday(np.arange(start, start + h))]
        weight = cfg.window_decay ** (w - 1)
        for i, y in enumerate(series):
            hist, actual = past[i], y[len(past[i]) : len(past[i]) + h]
            obs = _observed(hist)
            ok = ~np.isnan(actual)
            if not len(obs) or not ok.any():
                continue
            cand = _levels(hist, h, members) * past_shape
            cand = np.vstack([cand, _combine(cand, cfg)])
            scale = max(float(np.mean(np.diff(obs) ** 2)) if len(obs) > 1 else 0.0, 1e-9)
            mse = np.mean((cand[:, ok] - actual[ok]) ** 2, axis=1)
            score = np.sqrt(mse / scale)
            if cfg.stockout_weight:
                score = score + cfg.stockout_weight * stockout_errors(cand, actual) / h
            errors[i] += weight * score
            sold += weight * actual[ok].sum()
            predicted += weight * cand[-1, ok].sum()
    ratio = sold / predicted if predicted > 0 else 1.0
    return errors, float(np.clip(ratio, *cfg.calibration_bounds)) ** cfg.calibrate


def _sparseness(y: np.ndarray, cfg: Config) -> float:
    """0..1: the share of the item's last ``sparse_days`` observed days without a sale, above ``sparse_from``."""
    obs = _observed(y)[-cfg.sparse_days :]
    if not len(obs):
        return 0.0
    zero = float(np.mean(obs <= 0))
    return (
        float(np.clip((zero - cfg.sparse_from) / (1 - cfg.sparse_from), 0.0, 1.0))
        if cfg.sparse_from < 1
        else 0.0
    )


def forecast(series: Sequence[np.ndarray], origin: int, cfg: Config = Config()) -> DemandForecast:
    """Attune's forecast for each item (see the module's docstring); ``origin`` is the first forecast day's number
    (days since 1970-01-01), each series ends the day before it."""
    h, members = cfg.horizon, cfg.members
    shape = weekday_profile(series, origin, cfg)[weekday(np.arange(origin, origin + h))]
    errors, ratio = _window_errors(series, origin, cfg)
    combo = len(members)
    names = [*members, "combination"]
    mean = np.zeros((len(series), h))
    chosen: list[str] = []
    for i, y in enumerate(series):
        cand = _levels(y, h, members) if len(_observed(y)) else np.zeros((len(members), h))
        cand = np.vstack([cand, _combine(cand, cfg)]) * shape
        best = int(np.argmin(errors[i]))
        if errors[i, combo] <= (1 + cfg.keep_combo) * errors[i, best]:
            best = combo
        mean[i] = cand[best] * ratio * (1 + cfg.sparse_lift * _sparseness(y, cfg))
        chosen.append(names[best])
    return DemandForecast(mean=mean, method=chosen)


def demand_paths(
    y: np.ndarray, mean: np.ndarray, n_paths: int = 500, recent_days: int = 56, seed: int = 0
) -> np.ndarray:
    """n_paths × horizon bootstrapped daily demand: the item's recent non-censored days resampled, each path day
    rescaled so that the paths' expectation is ``mean``."""
    obs = _observed(y)[-recent_days:]
    rng = np.random.default_rng(seed)
    if not len(obs) or obs.sum() <= 0:
        return np.zeros((n_paths, len(mean)))
    draws = rng.choice(obs, size=(n_paths, len(mean)))
    return draws * (mean / obs.mean())


def stockout_day(cumulative: np.ndarray, stock: float, cap: int) -> int:
    """The first day (1-based) on which ``cumulative`` demand reaches ``stock``; past the horizon the horizon's
    mean daily rate continues; at most ``cap`` (also when the forecast is zero)."""
    hit = np.flatnonzero(cumulative >= stock)
    if len(hit):
        return int(hit[0]) + 1
    h = len(cumulative)
    rate = cumulative[-1] / h if h else 0.0
    if rate <= 1e-9:
        return cap
    return int(min(cap, h + np.ceil((stock - cumulative[-1]) / rate)))
