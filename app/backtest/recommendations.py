"""``attune backtest recommendations``: next-order backtest of Attune's recommender against tuned baselines.

Protocol: for every customer with at least two orders, the last order (by time, ties by order id) is the
target and everything before it is history; methods are fitted on the history only. Baselines pick their
hyperparameters on a validation split of the history (each customer's last history order as the target) from
the grids below, and are then refitted on the whole history. Attune's recommender has one fixed configuration;
it learns its ranker from the history alone (that same validation split and the five orders before it).

Attune's method is measured through the path the storefront serves (``attune_top_k``): the shop's ranker
(``NextBasketRecommender.train``, with its untrained fallback for a small shop), ``app.recommend.personal``'s
ranking and business rules (returns and owned one-offs; the CSVs have no stock, pins or ratings), and the first
10 items of the customer's ``home`` list. ``tests/test_recommend_parity.py`` replays a shop through the app and
checks that each served list is this function's top 10.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from app.backtest.datasets import DatasetError, baskets_from_frame, read_transactions
from app.backtest.metrics import evaluate
from app.recommend.nextbasket import NextBasketRecommender, Ranker
from app.recommend.nextbasket_state import CustomerSignals
from app.recommend.personal import LENGTH, ListRules, personal_lists, rank_personal
from app.recommend.topk import sparse_top_k, top_k
from app.recommend.transactions import Baskets, Split

K = 10

# name -> grid of constructor kwargs, tuned on the validation split (TIFU-KNN: every combination below)
TIFU_VECTORS = [  # (within-basket decay r_b, group decay r_g, groups m)
    (0.9, 0.7, 7),
    (0.9, 0.6, 3),
    (1.0, 0.8, 10),
    (1.0, 0.9, 3),
]
TIFU_NEIGHBOURS = [100, 300]
TIFU_ALPHAS = [0.3, 0.5, 0.7, 0.9]
BASELINES: dict[str, list[dict]] = {
    "popularity": [{"half_life_days": None}, {"half_life_days": 30.0}, {"half_life_days": 90.0}],
    "gp_topfreq": [{}],
    "item_knn": [{"k": 20, "shrink": 10.0}, {"k": 100, "shrink": 10.0}, {"k": 300, "shrink": 10.0}],
    "implicit_als": [
        {"factors": 64, "regularization": 0.05, "alpha": 1.0},
        {"factors": 64, "regularization": 0.05, "alpha": 5.0},
        {"factors": 128, "regularization": 0.05, "alpha": 20.0},
        {"factors": 64, "regularization": 0.5, "alpha": 20.0},
    ],
    "tifu_knn": [
        {"n_neighbors": k, "within_decay": rb, "group_decay": rg, "alpha": a, "n_groups": m}
        for rb, rg, m in TIFU_VECTORS
        for k in TIFU_NEIGHBOURS
        for a in TIFU_ALPHAS
    ],
}


def make_baseline(name: str, params: dict):
    if name == "popularity":
        from app.recommend.popularity import Popularity

        return Popularity(**params)
    if name == "gp_topfreq":
        from app.recommend.repeat import PersonalTopFrequency

        return PersonalTopFrequency(**params)
    if name == "item_knn":
        from app.recommend.cooccurrence import ItemKNN

        return ItemKNN(**params)
    if name == "implicit_als":
        from app.recommend.als import ImplicitALS

        return ImplicitALS(**params)
    if name == "tifu_knn":
        from app.recommend.tifu import TIFUKNN

        return TIFUKNN(**params)
    raise KeyError(name)


def rank(model, customers: np.ndarray, now: np.ndarray, popular: np.ndarray, k: int = K) -> np.ndarray:
    """Top ``k`` per customer from ``model.score``; ties and empty scores fall back to popularity."""
    if hasattr(model, "score_sparse"):
        out = np.zeros((len(customers), k), np.int64)
        for lo in range(0, len(customers), 512):
            scores = model.score_sparse(customers[lo : lo + 512], now[lo : lo + 512])
            out[lo : lo + 512] = sparse_top_k(scores, k, popular)
        return out
    out = np.zeros((len(customers), k), np.int64)
    tie = 1e-9 * popular / max(float(popular.max()), 1.0)
    chunk = max(16, int(3e6 // max(len(popular), 1)))
    for lo in range(0, len(customers), chunk):
        scores = np.asarray(model.score(customers[lo : lo + chunk], now[lo : lo + chunk]), dtype=np.float64)
        out[lo : lo + chunk] = top_k(scores + tie, k)
    return out


def attune_top_k(
    ranker: Ranker,
    customers: CustomerSignals | None,
    rows: np.ndarray,
    now: np.ndarray,
    rules: ListRules | None = None,
    k: int = K,
) -> np.ndarray:
    """The first ``k`` items (indices) of each customer's served ``home`` list: ``app.recommend.personal`` with
    ``rules`` (default: the rules the data allows, i.e. returns and owned one-offs), padded with the best
    sellers in the rare case the rules leave fewer than ``k``."""
    rules = rules or ListRules()
    index = {str(p): i for i, p in enumerate(ranker.items)}
    fill = np.argsort(-ranker.popular, kind="stable")
    out = np.zeros((len(rows), k), np.int64)
    for lo in range(0, len(rows), 1024):
        ranked = rank_personal(ranker, customers, rows[lo : lo + 1024], now[lo : lo + 1024])
        lists = personal_lists(ranked, rules, length=LENGTH, placements=("home",), explain=False)
        for j, per in enumerate(lists):
            top = [index[r.product_id] for r in per["home"][:k]]
            if len(top) < k:
                returned = customers.returned[ranked.rows[j]].indices if customers is not None else []
                top += [int(i) for i in fill if i not in top and i not in returned][: k - len(top)]
            out[lo + j] = top
    return out


def score_split(ranked: np.ndarray, history: Baskets, split: Split) -> dict[str, float]:
    counts = history.counts()
    histories = [set(counts[c].indices.tolist()) for c in split.customers]
    targets = [set(t.tolist()) for t in split.target_lists()]
    return evaluate([r.tolist() for r in ranked], targets, histories, K)


def _subsample(split: Split, n: int | None, seed: int = 0) -> Split:
    if n is None or n >= len(split.customers):
        return split
    pick = np.sort(np.random.default_rng(seed).choice(len(split.customers), n, replace=False))
    return Split(split.customers[pick], split.targets[pick], split.times[pick])


def run_backtest(
    baskets: Baskets,
    limit_customers: int | None = None,
    methods: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, dict], dict[str, np.ndarray], Split]:
    """Run every method; returns per-method metrics (with tuned params), top-K item indices, and the test split."""
    from app.recommend.popularity import item_popularity

    say = progress or (lambda _msg: None)
    history, test = baskets.split_last()
    test = _subsample(test, limit_customers)
    val_history, val = history.split_last()
    val = _subsample(val, limit_customers, seed=1)
    pop_val, pop_test = item_popularity(val_history), item_popularity(history)
    results: dict[str, dict] = {}
    ranked: dict[str, np.ndarray] = {}
    for name, grid in BASELINES.items():
        if methods and name not in methods:
            continue
        started = time.perf_counter()
        best, best_key = grid[0], (-1.0, -1.0)
        if len(grid) > 1:
            for params, top in _grid_rankings(name, grid, val_history, val, pop_val):
                res = score_split(top, val_history, val)
                key = (res["recall@10"], res["ndcg@10"])
                say(f"{name} {params}: validation recall@10={key[0]:.4f} ndcg@10={key[1]:.4f}")
                if key > best_key:
                    best, best_key = params, key
        model = make_baseline(name, best).fit(history)
        ranked[name] = rank(model, test.customers, test.times, pop_test)
        results[name] = score_split(ranked[name], history, test) | {
            "params": best,
            "seconds": round(time.perf_counter() - started, 1),
        }
        say(f"{name}: recall@10={results[name]['recall@10']:.4f} ndcg@10={results[name]['ndcg@10']:.4f}")
    if not methods or "attune" in methods:
        started = time.perf_counter()
        ours = NextBasketRecommender()
        ranker = ours.train(history)
        ranked["attune"] = attune_top_k(ranker, ranker.customers(history), test.customers, test.times)
        results["attune"] = score_split(ranked["attune"], history, test) | {
            "params": {**ours.params(), "model": ranker.kind},
            "seconds": round(time.perf_counter() - started, 1),
        }
        say(
            f"attune: recall@10={results['attune']['recall@10']:.4f} ndcg@10={results['attune']['ndcg@10']:.4f}"
        )
    return results, ranked, test


def _grid_rankings(name: str, grid: list[dict], history: Baskets, split: Split, popular: np.ndarray):
    """(params, top-K rankings of ``split``) for every point of ``grid``; what does not depend on a parameter is
    computed once (TIFU vectors per decay setting and neighbour means per k, item-item similarity per shrink)."""
    if name == "tifu_knn":
        from app.recommend.tifu import TIFUKNN

        fit_keys = ("within_decay", "group_decay", "n_groups")
        for key in dict.fromkeys(tuple(p[f] for f in fit_keys) for p in grid):
            at_key = [p for p in grid if tuple(p[f] for f in fit_keys) == key]
            model = TIFUKNN(**at_key[0]).fit(history)
            for k in dict.fromkeys(p["n_neighbors"] for p in at_key):
                points = [p for p in at_key if p["n_neighbors"] == k]
                model.n_neighbors = k
                tops = [np.zeros((len(split.customers), K), np.int64) for _ in points]
                for lo in range(0, len(split.customers), 512):
                    own, neigh = model.parts(split.customers[lo : lo + 512])
                    for p, top in zip(points, tops, strict=True):
                        top[lo : lo + 512] = sparse_top_k(
                            p["alpha"] * own + (1 - p["alpha"]) * neigh, K, popular
                        )
                yield from zip(points, tops, strict=True)
        return
    if name == "item_knn":
        for shrink in dict.fromkeys(p["shrink"] for p in grid):
            points = [p for p in grid if p["shrink"] == shrink]
            widest = make_baseline(name, max(points, key=lambda p: p["k"])).fit(history)
            for p in points:
                yield p, rank(widest.with_k(p["k"]), split.customers, split.times, popular)
        return
    for params in grid:
        model = make_baseline(name, params).fit(history)
        yield params, rank(model, split.customers, split.times, popular)


def lift_over_best(results: dict[str, dict], metric: str) -> float | None:
    base = [r[metric] for n, r in results.items() if n != "attune"]
    if "attune" not in results or not base or max(base) <= 0:
        return None
    return results["attune"][metric] / max(base) - 1.0


@click.command("recommendations")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Transactions CSV (see app/backtest/datasets.py; `attune backtest convert` makes one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--predictions-out", type=click.Path(dir_okay=False), help="Write customer_id,rank,product_id.")
@click.option("--limit-customers", type=int, default=None, help="Evaluate a random subset of N customers.")
@click.option("--methods", default=None, help="Comma-separated subset of methods (default: all).")
def recommendations(
    data_path: str,
    as_json: bool,
    predictions_out: str | None,
    limit_customers: int | None,
    methods: str | None,
) -> None:
    """Next-order Recall/NDCG/PHR@10 of Attune's recommender vs popularity, GP-TopFreq, item-kNN, ALS, TIFU-KNN."""
    from tqdm import tqdm

    try:
        frame = read_transactions(data_path)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    baskets = baskets_from_frame(frame)
    chosen = [m.strip() for m in methods.split(",")] if methods else None
    bar = tqdm(total=len(chosen) if chosen else len(BASELINES) + 1, file=sys.stderr, desc="methods")

    def progress(msg: str) -> None:
        if ":" in msg and "validation" not in msg:
            bar.update(1)
        bar.write(msg, file=sys.stderr)

    results, ranked, test = run_backtest(baskets, limit_customers, chosen, progress)
    bar.close()
    if predictions_out and "attune" in ranked:
        _write_predictions(Path(predictions_out), baskets, test, ranked["attune"])
    summary = {
        "data": str(data_path),
        "customers": int(baskets.n_customers),
        "orders": int(baskets.n_orders),
        "items": int(baskets.n_items),
        "evaluated_customers": int(len(test.customers)),
        "methods": results,
        "attune_lift_recall@10": lift_over_best(results, "recall@10"),
        "attune_lift_ndcg@10": lift_over_best(results, "ndcg@10"),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{data_path}: {summary['evaluated_customers']} customers evaluated, {baskets.n_items} items")
    click.echo(
        f"{'method':<14}{'recall@10':>11}{'ndcg@10':>10}{'phr@10':>9}{'repeat':>9}{'explore':>9}  params"
    )
    for name, r in results.items():
        click.echo(
            f"{name:<14}{r['recall@10']:>11.4f}{r['ndcg@10']:>10.4f}{r['phr@10']:>9.4f}"
            f"{r['repeat_recall@10']:>9.4f}{r['explore_recall@10']:>9.4f}  {r['params']}"
        )
    for metric in ("recall@10", "ndcg@10"):
        lift = summary[f"attune_lift_{metric}"]
        if lift is not None:
            click.echo(f"attune vs best baseline, {metric}: {lift:+.1%}")


def _write_predictions(path: Path, baskets: Baskets, test: Split, ranked: np.ndarray) -> None:
    with path.open("w") as fh:
        fh.write("customer_id,rank,product_id\n")
        for c, row in zip(test.customers, ranked, strict=True):
            for r, item in enumerate(row, start=1):
                fh.write(f"{baskets.customers[c]},{r},{baskets.items[item]}\n")
