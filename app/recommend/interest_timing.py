"""When will a shopper next buy from each of their interests? (Pattern 2's timing, issue 21)

For every customer × interest they have bought from, the probability of an order holding a product of that
interest in the next ``HORIZON`` days. Features, all from orders strictly before ``at``:

- frequency: orders with the interest (ever, last year, last 90 days), all orders, their ratio;
- timing: days since the last order with it, that over the shopper's usual gap for it (the hazard clock);
- season: bought it in the same 30 days a year earlier (and the wider ±15 days), and the shop-wide season index
  of the interest (its orders in that window a year ago over a 30-day average of that year) and its momentum
  (its orders in the last 30 days over the same average), and its share of the shop's recent interest orders;
- the shopper: days since the last order, tenure, orders in the last 90 days.

The model is a gradient-boosted classifier fitted per shop on pseudo cut-offs before ``at`` (``at`` − 30,
− 60, … days, labels from the 30 days after each), so it learns the shop's own rhythm without seeing the
future. A shop with too few positives falls back to a fixed hazard × frequency × season score. The journey job
serves :func:`predict` and ``attune backtest interest-timing`` scores the same function.
Plain Python over plain data: order days in, probabilities out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

HORIZON = 30.0
TRAIN_WINDOWS = 8  # pseudo cut-offs, 30 days apart, before ``at``
MIN_POSITIVES = 30  # fewer training positives: the fallback score
YEAR = 365.0
FEATURES = (
    "log_interest_orders",
    "log_orders",
    "interest_share",
    "log_interest_orders_90d",
    "log_recency",
    "log_gap_ratio",
    "last_year_window",
    "last_year_wide",
    "season_index",
    "momentum",
    "log_popularity",
    "log_interest_orders_year",
    "log_customer_recency",
    "log_tenure",
    "log_orders_90d",
)

# customer id -> interest key -> sorted order days (days since epoch) holding the interest
Histories = Mapping[str, Mapping[str, np.ndarray]]


@dataclass
class TimingScores:
    """Per (customer, interest) pair, in the same order: the probability of buying it within the horizon."""

    customers: list[str]
    interests: list[str]
    probability: np.ndarray
    method: str  # "model" or "fallback"

    def by_customer(self) -> dict[str, list[tuple[str, float]]]:
        """Customer → their interests, most likely first."""
        out: dict[str, list[tuple[str, float]]] = {}
        for c, i, p in zip(self.customers, self.interests, self.probability, strict=True):
            out.setdefault(c, []).append((i, float(p)))
        for rows in out.values():
            rows.sort(key=lambda ip: (-ip[1], ip[0]))
        return out


def _season_index(histories: Histories, at: float) -> tuple[dict[str, float], dict[str, float]]:
    """Per interest, over its 30-day average across [at − 365, at): its orders in [at − 365, at − 335) (the
    season ahead, as last year had it) and in [at − 30, at) (its momentum now)."""
    window: dict[str, int] = {}
    recent: dict[str, int] = {}
    year: dict[str, int] = {}
    for interests in histories.values():
        for key, days in interests.items():
            window[key] = window.get(key, 0) + int(((days >= at - YEAR) & (days < at - YEAR + HORIZON)).sum())
            recent[key] = recent.get(key, 0) + int(((days >= at - HORIZON) & (days < at)).sum())
            year[key] = year.get(key, 0) + int(((days >= at - YEAR) & (days < at)).sum())
    base = {k: year[k] * HORIZON / YEAR + 0.5 for k in year}
    return {k: (window[k] + 0.5) / base[k] for k in year}, {k: (recent[k] + 0.5) / base[k] for k in year}


def _popularity(histories: Histories, at: float) -> dict[str, float]:
    """Per interest: its share of the shop's interest orders in the last 90 days (how common it is now)."""
    recent: dict[str, int] = {}
    for interests in histories.values():
        for key, days in interests.items():
            recent[key] = recent.get(key, 0) + int(((days >= at - 90) & (days < at)).sum())
    total = sum(recent.values()) + 0.5 * len(recent)
    return {k: (n + 0.5) / total for k, n in recent.items()}


def features(
    histories: Histories, orders: Mapping[str, np.ndarray], at: float
) -> tuple[list[str], list[str], np.ndarray]:
    """(customers, interests, feature rows) for every pair with an order of the interest before ``at``."""
    past = {c: {k: d[d < at] for k, d in ints.items()} for c, ints in histories.items()}
    season, momentum = _season_index(past, at)
    popularity = _popularity(past, at)
    customers, interests, rows = [], [], []
    for customer, by_interest in histories.items():
        all_days = orders.get(customer, np.empty(0))
        all_days = all_days[all_days < at]
        if not len(all_days):
            continue
        n_orders = len(all_days)
        gaps_all = np.diff(all_days)
        usual_all = float(np.median(gaps_all)) if len(gaps_all) else 60.0
        for key, days in by_interest.items():
            days = days[days < at]
            if not len(days):
                continue
            gaps = np.diff(days)
            usual = float(np.median(gaps)) if len(gaps) else max(usual_all, 30.0)
            recency = at - days[-1]
            customers.append(customer)
            interests.append(key)
            rows.append(
                [
                    np.log1p(len(days)),
                    np.log1p(n_orders),
                    len(days) / n_orders,
                    np.log1p(int((days >= at - 90).sum())),
                    np.log1p(recency),
                    np.log1p(recency / max(usual, 1.0)),
                    float(((days >= at - YEAR) & (days < at - YEAR + HORIZON)).any()),
                    float(((days >= at - YEAR - 15) & (days < at - YEAR + HORIZON + 15)).any()),
                    np.log(season.get(key, 1.0)),
                    np.log(momentum.get(key, 1.0)),
                    np.log(popularity.get(key, 1e-3)),
                    np.log1p(int((days >= at - YEAR).sum())),
                    np.log1p(at - all_days[-1]),
                    np.log1p(at - all_days[0]),
                    np.log1p(int((all_days >= at - 90).sum())),
                ]
            )
    return customers, interests, np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))


def labels(histories: Histories, customers: list[str], interests: list[str], at: float) -> np.ndarray:
    """1 where the customer ordered from the interest in [at, at + horizon)."""
    out = np.zeros(len(customers), dtype=np.int8)
    for n, (c, k) in enumerate(zip(customers, interests, strict=True)):
        days = histories[c][k]
        out[n] = bool(((days >= at) & (days < at + HORIZON)).any())
    return out


def fallback_score(x: np.ndarray) -> np.ndarray:
    """No model: frequency share × how due it is × season, squashed to (0, 1)."""
    col = {name: i for i, name in enumerate(FEATURES)}
    due = np.exp(-np.abs(x[:, col["log_gap_ratio"]] - np.log(2.0)))  # most due about one usual gap after
    raw = (
        x[:, col["interest_share"]] * due * np.exp(x[:, col["season_index"]])
        + 0.5 * x[:, col["last_year_window"]]
    )
    return raw / (1.0 + raw)


def fit(histories: Histories, orders: Mapping[str, np.ndarray], at: float, seed: int = 0):
    """A classifier fitted on pseudo cut-offs before ``at`` (labels end by ``at``), or None when too thin."""
    xs, ys = [], []
    for w in range(1, TRAIN_WINDOWS + 1):
        t = at - w * HORIZON
        cs, ks, x = features(histories, orders, t)
        if len(x):
            xs.append(x)
            ys.append(labels(histories, cs, ks, t))
    if not xs:
        return None
    x, y = np.vstack(xs), np.concatenate(ys)
    if y.sum() < MIN_POSITIVES or y.sum() == len(y):
        return None
    from sklearn.ensemble import HistGradientBoostingClassifier  # heavy: only when fitting

    model = HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
        random_state=seed,
    )  # fmt: skip
    return model.fit(x, y)


def predict(histories: Histories, orders: Mapping[str, np.ndarray], at: float, model=None) -> TimingScores:
    """The probability that each customer buys from each of their interests within ``HORIZON`` days of ``at``.

    ``model`` from :func:`fit` (fitted here when not given); the fallback score when the shop is too thin."""
    if model is None:
        model = fit(histories, orders, at)
    customers, interests, x = features(histories, orders, at)
    if not len(x):
        return TimingScores([], [], np.empty(0), "fallback" if model is None else "model")
    if model is None:
        return TimingScores(customers, interests, fallback_score(x), "fallback")
    return TimingScores(customers, interests, model.predict_proba(x)[:, 1], "model")


def histories_from_orders(
    order_lines: list[tuple[str, float, str]], interest_of: Mapping[str, str]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """(histories, order days per customer) from (customer, order day, product id) lines; one day per order."""
    per: dict[str, dict[str, set[float]]] = {}
    all_days: dict[str, set[float]] = {}
    for customer, day, product in order_lines:
        all_days.setdefault(customer, set()).add(day)
        key = interest_of.get(product)
        if key is not None:
            per.setdefault(customer, {}).setdefault(key, set()).add(day)
    histories = {c: {k: np.array(sorted(d)) for k, d in ints.items()} for c, ints in per.items()}
    return histories, {c: np.array(sorted(d)) for c, d in all_days.items()}
