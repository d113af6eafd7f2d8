"""``attune backtest interest-timing``: will a customer buy from each of their interests in the next 30 days?

Protocol (fixed, issue 21):
- Data: Online Retail II, both years (``app.backtest.datasets.convert_online_retail``); order days of lines with
  a positive quantity.
- Interests: ``infer_interests`` (the worker's code) on the products sold before the first cut-off, from their
  titles and co-purchase before it; fixed for every cut-off.
- Cut-offs: the first of each listed month of 2011. Pairs: every customer × interest with an order of it
  before the cut-off. Truth: an order of it in the 30 days from the cut-off.
- ``attune`` is :func:`app.recommend.interest_timing.predict` (fitted on pseudo cut-offs before each cut-off),
  the function the journey job serves. Baselines: the customer's frequency of the interest (orders holding it)
  and the same window a year earlier (bought it in [cut-off − 365, − 335)).
- Metrics: ROC-AUC over all pairs; Recall@3 (share of a customer's bought interests in their top three, mean
  over customers with at least one), also on customers with four or more interests (where three is a choice).
  Baseline ties are broken at random (seeded).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pandas as pd

from app.backtest.datasets import DatasetError, convert_online_retail, read_transactions
from app.recommend import interest_timing as timing
from app.recommend.interest_terms import CatalogueItem
from app.recommend.interests import infer_interests, interest_of

CUTOFFS = ("2011-01-01", "2011-03-01", "2011-05-01", "2011-07-01", "2011-09-01", "2011-11-01")
METHODS = ("attune", "frequency", "last_year")


def _days(at: pd.Series) -> np.ndarray:
    return (pd.to_datetime(at, utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy() / 86400.0


def _day(date: str) -> float:
    return (pd.Timestamp(date, tz="UTC") - pd.Timestamp(0, tz="UTC")).total_seconds() / 86400.0


def shop_interests(frame: pd.DataFrame, before: float) -> dict[str, str]:
    """Product id → interest key, inferred from the products and orders before ``before``."""
    import scipy.sparse as sp

    past = frame[frame["day"] < before]
    titles = past.groupby("product_id")["product_title"].last()
    items = [CatalogueItem(pid, str(t)) for pid, t in titles.items()]
    col = {item.product_id: c for c, item in enumerate(items)}
    rows = pd.factorize(past["order_id"])[0]
    matrix = sp.csr_matrix(
        (np.ones(len(past)), (rows, past["product_id"].map(col).to_numpy())),
        shape=(rows.max() + 1, len(items)),
    )
    matrix.data[:] = 1.0
    return {pid: interest.key for pid, interest in interest_of(infer_interests(items, None, matrix)).items()}


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else None


def recall_at_3(
    customers: list[str], y: np.ndarray, score: np.ndarray, min_interests: int = 1
) -> float | None:
    """Mean over customers with a positive (and ``min_interests`` candidates) of positives in their top 3."""
    frame = pd.DataFrame({"c": customers, "y": y, "s": score})
    frame["rank"] = frame.groupby("c")["s"].rank(ascending=False, method="first")
    per = frame.groupby("c").agg(pos=("y", "sum"), n=("y", "size"))
    hit = frame[frame["rank"] <= 3].groupby("c")["y"].sum()
    ok = per[(per["pos"] > 0) & (per["n"] >= min_interests)]
    if ok.empty:
        return None
    return float((hit.reindex(ok.index).fillna(0) / ok["pos"]).mean())


def evaluate_cutoff(histories, orders, at: float, seed: int = 0) -> dict:
    scores = timing.predict(histories, orders, at)
    customers, interests, x = timing.features(histories, orders, at)
    assert customers == scores.customers and interests == scores.interests
    y = timing.labels(histories, customers, interests, at)
    jitter = np.random.default_rng(seed).random(len(y)) * 1e-6  # random tie-break for the baselines
    col = {name: i for i, name in enumerate(timing.FEATURES)}
    by_method = {
        "attune": scores.probability,
        "frequency": x[:, col["log_interest_orders"]] + jitter,
        "last_year": x[:, col["last_year_window"]] + jitter,
    }
    return {
        "pairs": len(y),
        "positives": int(y.sum()),
        "customers": len(set(customers)),
        "method_used": scores.method,
        "auc": {m: auc(y, s) for m, s in by_method.items()},
        "recall_at_3": {m: recall_at_3(customers, y, s) for m, s in by_method.items()},
        "recall_at_3_4plus": {m: recall_at_3(customers, y, s, 4) for m, s in by_method.items()},
    }


def load(path: str | Path) -> pd.DataFrame:
    """The Online Retail II folder (both years, deduplicated) or a transactions CSV (the shipped sample)."""
    return convert_online_retail(path) if Path(path).is_dir() else read_transactions(path)


def run_backtest(frame: pd.DataFrame, cutoffs: tuple[str, ...] = CUTOFFS, echo=print) -> dict:
    frame = frame[frame["quantity"] > 0].copy()
    frame["day"] = _days(frame["ordered_at"])
    first = _day(cutoffs[0])
    echo(f"{len(frame):,} lines; inferring interests before {cutoffs[0]} …")
    of = shop_interests(frame, first)
    lines = list(zip(frame["customer_id"], np.floor(frame["day"]), frame["product_id"], strict=True))
    histories, orders = timing.histories_from_orders(lines, of)
    results = {"interests": len(set(of.values())), "cutoffs": {}}
    for cutoff in cutoffs:
        results["cutoffs"][cutoff] = evaluate_cutoff(histories, orders, _day(cutoff))
        r = results["cutoffs"][cutoff]
        echo(f"{cutoff}: {r['pairs']:,} pairs, AUC attune {r['auc']['attune']:.3f}")
    results["mean"] = {
        metric: {
            m: float(np.mean([r[metric][m] for r in results["cutoffs"].values() if r[metric][m] is not None]))
            for m in METHODS
        }
        for metric in ("auc", "recall_at_3", "recall_at_3_4plus")
    }
    return results


@click.command("interest-timing")
@click.option("--data", "folder", type=click.Path(exists=True), required=True,
              help="The online_retail_ii folder (../shared/data/online_retail_ii) or a transactions CSV.")  # fmt: skip
@click.option(
    "--cutoff", "cutoffs", multiple=True, help="Cut-off date YYYY-MM-DD (repeatable; default: 6 in 2011)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def interest_timing(folder: str, cutoffs: tuple[str, ...], as_json: bool) -> None:
    """P(buy from each interest in the next 30 days) vs frequency and last-year baselines (Online Retail II)."""
    for c in cutoffs:
        try:
            pd.Timestamp(c)
        except ValueError as exc:
            raise click.BadParameter(f"not a date: {c}", param_hint="--cutoff") from exc
    try:
        frame = load(folder)
    except (DatasetError, OSError, KeyError) as exc:
        raise click.ClickException(f"cannot read {folder}: {exc}") from exc
    results = run_backtest(frame, tuple(cutoffs) or CUTOFFS, echo=lambda s: click.echo(s, err=True))
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    click.echo(
        f"{results['interests']} interests; per cut-off AUC / Recall@3 (attune · frequency · last year)"
    )
    for cutoff, r in results["cutoffs"].items():
        a, rc = r["auc"], r["recall_at_3"]
        click.echo(
            f"{cutoff}: {r['pairs']:,} pairs, {r['positives']:,} positive ({r['method_used']}); "
            f"AUC {a['attune']:.3f} · {a['frequency']:.3f} · {a['last_year']:.3f}; "
            f"R@3 {rc['attune']:.3f} · {rc['frequency']:.3f} · {rc['last_year']:.3f}"
        )
    for metric, by in results["mean"].items():
        click.echo(f"mean {metric}: " + " · ".join(f"{m} {v:.3f}" for m, v in by.items()))
