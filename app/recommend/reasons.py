"""Why the next-basket ranker put an item on a shopper's list, in words the shopper understands.

The ranker's features come in families, each one reason a shopper would recognise: their own repeat purchases
of the item ("You buy this about every 3 weeks"), its similarity to what they bought ("Often bought with Tea
Towel"), shoppers like them ("Popular with shoppers like you"), what sells now ("Popular this week"), and their
product types ("Best seller in Kitchen", or "For your interest in coffee" when the shop's interests place it in
one the shopper has shown). Which family drove an item's score is measured by occlusion: the family's features
are set to the customer's typical candidate (the median over their candidates) and the drop in the ranker's
score is that family's share; the largest share names the reason. Without a trained ranker the untrained score
(0.7 x own TIFU + 0.3 x neighbours' + popularity) is split the same way. Each customer's reasons depend on their
own candidates only, so a refresh of one customer explains exactly as a whole-shop refresh does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from app.recommend.nextbasket_features import FEATURES

COL = {name: n for n, name in enumerate(FEATURES)}
FAMILIES: dict[str, list[str]] = {
    "repeat": [
        "count",
        "frequency",
        "tifu_own",
        "decayed_30d",
        "decayed_120d",
        "in_last",
        "in_last3",
        "in_last10",
        "orders_since",
        "days_since",
        "own_cycle",
        "due_own",
        "due_item",
        "slot_share",
        "weekday_share",
        "source_own",
        "freq_since_first",
        "share_30d",
        "share_120d",
    ],
    "similar": ["item_knn", "item_knn_last", "source_knn"],
    "neighbours": ["tifu_neighbours", "neighbour_share", "source_neighbours"],
    "popular": [
        "popularity",
        "buyers",
        "pop_4w",
        "pop_1w",
        "pop_trend",
        "pop_7d",
        "pop_2d",
        "pop_7d_trend",
        "source_popular",
        "source_recent",
    ],
    "category": ["cat_frequency", "cat_decayed_120d", "cat_share", "cat_share_120d", "source_category"],
}
FAMILY_COLS = {f: np.array([COL[n] for n in names]) for f, names in FAMILIES.items()}


def drivers(
    x: np.ndarray, baseline: np.ndarray, predict: Callable[[np.ndarray], np.ndarray] | None
) -> list[str]:
    """The family that drove each row's score. ``x``: the explained candidates' features; ``baseline``: per row,
    the customer's median candidate; ``predict``: the trained ranker's score (None: the untrained one)."""
    if not len(x):
        return []
    if predict is None:
        own = 0.7 * np.nan_to_num(x[:, COL["tifu_own"]])
        neigh = 0.3 * np.nan_to_num(x[:, COL["tifu_neighbours"]])
        return [
            "repeat" if o > 0 and o >= n else "neighbours" if n > 0 else "popular"
            for o, n in zip(own, neigh, strict=True)
        ]
    full = predict(x)
    drops = []
    for cols in FAMILY_COLS.values():
        occluded = x.copy()
        occluded[:, cols] = baseline[:, cols]
        drops.append(full - predict(occluded))
    best = np.argmax(np.column_stack(drops), axis=1)
    names = list(FAMILY_COLS)
    return [names[b] for b in best]


def customer_baselines(features: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Per customer row: the median of each feature over that customer's candidates (NaN when all missing)."""
    out = np.full((n_rows, features.shape[1]), np.nan, np.float32)
    order = np.argsort(rows, kind="stable")
    starts = np.searchsorted(rows[order], np.arange(n_rows + 1))
    for r in range(n_rows):
        block = features[order[starts[r] : starts[r + 1]]]
        seen = ~np.isnan(block).all(axis=0)  # columns all missing for this customer stay NaN
        if len(block) and seen.any():
            out[r, seen] = np.nanmedian(block[:, seen], axis=0)
    return out


def _every(days: float) -> str:
    d = max(1, int(round(days)))
    if d == 1:
        return "every day"
    if d < 14:
        return f"about every {d} days"
    if d < 60:
        return f"about every {int(round(d / 7))} weeks"
    months = int(round(d / 30))
    return "about every month" if months == 1 else f"about every {months} months"


def _ago(days: float) -> str:
    d = int(np.floor(days)) if np.isfinite(days) else -1
    if d < 0:
        return "before"
    if d == 0:
        return "today"
    if d == 1:
        return "yesterday"
    if d < 14:
        return f"{d} days ago"
    if d < 60:
        return f"{int(round(d / 7))} weeks ago"
    if d < 365:
        return f"{min(int(round(d / 30)), 11)} months ago"
    return "over a year ago" if d < 730 else f"{d // 365} years ago"


def reason(
    driver: str,
    x: np.ndarray,
    *,
    similar_to: str | None = None,
    interest: str | None = None,
    category: str | None = None,
) -> str:
    """The shopper's reason for one item, from its driving family and its features ``x``."""
    count = float(np.nan_to_num(x[COL["count"]]))
    if driver == "repeat" or (driver == "similar" and similar_to is None and count > 0):
        cycle = x[COL["own_cycle"]]
        if count >= 2 and np.isfinite(cycle) and cycle > 0:
            return f"You buy this {_every(float(cycle))}"
        return f"You bought this {_ago(float(x[COL['days_since']]))}"
    if driver == "similar" and similar_to:
        return f"Often bought with {similar_to}"
    if interest and driver in ("category", "neighbours", "popular", "similar"):
        return f"For your interest in {interest}"
    if driver == "category" and category:
        return f"Best seller in {category}"
    if driver == "popular":
        recent = x[COL["source_recent"]] > 0 or np.nan_to_num(x[COL["pop_7d_trend"]]) > 1.5
        return "Popular this week" if recent else "Popular in this shop"
    return "Popular with shoppers like you"


def popular_reason(recent: bool) -> str:
    """For an item that is on the list only as a best seller (no candidate of the shopper's)."""
    return "Popular this week" if recent else "Popular in this shop"


def most_similar(history: Sequence[int], item: int, sim) -> int | None:
    """The item of the shopper's ``history`` most similar to ``item`` (item-item cosine), if any is."""
    if not len(history):
        return None
    column = np.asarray(sim[np.asarray(history)][:, item].todense()).ravel()
    best = int(np.argmax(column))
    return int(history[best]) if column[best] > 0 else None
