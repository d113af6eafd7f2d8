"""``attune backtest replenishment``: when does each shopper buy each product again? (issue 17)

Protocol (fixed):
- History: rows strictly before the cut-off (midnight UTC). Every method sees the same clean purchase days
  (:func:`app.recommend.replenishment_input.purchase_days`: returns netted, same-day lines merged).
- Pairs: customer × product with purchases on at least two distinct days in the history.
- Truth: the pair's first purchase day on or after the cut-off, censored at the end of the data.
- Metrics: MAE in days of ``predicted_next_at`` on pairs bought again before the end of the data; ROC-AUC and
  Brier score of ``p_within_14d`` / ``p_within_30d`` (bought on one of the 14 / 30 days from the cut-off on);
  each overall and for the cold case (exactly two prior purchase days).
- ``attune`` is :func:`app.recommend.replenishment.forecast` with the default :class:`Config`, the function the
  shop's replenishment forecasts are served from.

Two options make the protocol honest on datasets whose clocks are partial (both off by default):
- ``--end-of-data customer``: each customer is observed until their own last order (Instacart: each user's
  prior orders end where their held-out order begins), instead of the data's last day.
- ``--gap-cap D``: gaps between a customer's orders of D days or more are only known to be at least D (Instacart
  writes every longer gap as 30), so the rebuilt clock after such a gap is a lower bound. A purchase after one is
  kept as a negative where the lower bound already says "not within the horizon", left out of the labels it could
  flip, and left out of the MAE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd

from app.backtest import replenishment_baselines as base
from app.backtest.datasets import DatasetError, read_transactions
from app.recommend.replenishment import Config, forecast_history
from app.recommend.replenishment_input import PurchaseDays, purchase_days, select_rows

HORIZONS = (14, 30)
BASELINES = (
    "personal_median_gap",
    "personal_mean_gap",
    "last_gap",
    "product_median_interval",
    "poisson_gamma",
    "profile_next_order",
)


@dataclass
class Truth:
    """Per evaluated pair: truth day (nan if none seen), whether it is exact, and per horizon label + known mask."""

    day: np.ndarray
    exact: np.ndarray
    labels: dict[int, np.ndarray]
    known: dict[int, np.ndarray]


def to_days(at: pd.Series) -> np.ndarray:
    return (pd.to_datetime(at, utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy() / 86400.0


def _days(frame: pd.DataFrame) -> PurchaseDays:
    return purchase_days(
        frame["customer_id"].to_numpy(),
        frame["product_id"].to_numpy(),
        to_days(frame["ordered_at"]),
        frame["quantity"].to_numpy(),
        frame["order_id"].to_numpy(),
    )


def _truth(
    frame: pd.DataFrame, hist: PurchaseDays, cutoff: float, end_of_data: str, gap_cap: float | None
) -> Truth:
    at = to_days(frame["ordered_at"])
    future = _days(frame[at >= cutoff])
    first = pd.Series(
        future.day[future.ptr[:-1]].astype(float),
        index=pd.MultiIndex.from_arrays(
            [future.customers[future.pair_customer], future.products[future.pair_product]]
        ),
    )
    cust = hist.customers[hist.pair_customer]
    keys = pd.MultiIndex.from_arrays([cust, hist.products[hist.pair_product]])
    day = first.reindex(keys).to_numpy()
    order_day = pd.Series(np.floor(at), index=frame["customer_id"].to_numpy())
    if end_of_data == "customer":
        end = order_day.groupby(level=0).max().reindex(cust).to_numpy()
    else:
        end = np.full(len(cust), float(np.floor(at.max())))
    exact = np.isfinite(day)
    if gap_cap is not None:
        exact &= day < _first_capped_day(order_day, cutoff, gap_cap).reindex(cust).fillna(np.inf).to_numpy()
    labels, known = {}, {}
    for h in HORIZONS:
        within = exact & (day < cutoff + h)
        surely_not = (np.isfinite(day) & (day >= cutoff + h)) | (~np.isfinite(day) & (end >= cutoff + h - 1))
        labels[h], known[h] = within, within | surely_not
    return Truth(day, exact, labels, known)


def _first_capped_day(order_day: pd.Series, cutoff: float, cap: float) -> pd.Series:
    """Per customer: the first order on or after the cut-off that follows a gap of ``cap`` days or more (counting
    the gap from their last order before the cut-off)."""
    frame = (
        pd.DataFrame({"c": order_day.index, "d": order_day.to_numpy()})
        .drop_duplicates()
        .sort_values(["c", "d"])
    )
    frame["gap"] = frame.groupby("c")["d"].diff()
    capped = frame[(frame["d"] >= cutoff) & (frame["gap"] >= cap)]
    return capped.groupby("c")["d"].min()


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else None


def score_method(
    pred: np.ndarray,
    scores: dict[int, np.ndarray],
    probs: dict[int, np.ndarray],
    truth: Truth,
    mask: np.ndarray,
) -> dict[str, float | int | None]:
    """MAE, AUC and Brier of one method on the pairs in ``mask``."""
    bought = mask & truth.exact
    out: dict[str, float | int | None] = {
        "pairs": int(mask.sum()),
        "bought": int(bought.sum()),
        "mae_days": float(np.mean(np.abs(pred[bought] - truth.day[bought]))) if bought.any() else None,
    }
    for h in HORIZONS:
        m = mask & truth.known[h]
        y = truth.labels[h][m].astype(float)
        out[f"auc_{h}d"] = _auc(y, scores[h][m])
        out[f"brier_{h}d"] = float(np.mean((probs[h][m] - y) ** 2)) if m.any() else None
        out[f"base_rate_{h}d"] = float(y.mean()) if m.any() else None
    return out


def run_backtest(
    frame: pd.DataFrame,
    cutoff: pd.Timestamp,
    cfg: Config = Config(),
    end_of_data: str = "global",
    gap_cap: float | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Every method on one cut-off: ``({"overall": {method: metrics}, "cold": …, counts}, attune predictions)``."""
    at = to_days(frame["ordered_at"])
    cut = float((cutoff - pd.Timestamp(0, tz="UTC")).total_seconds() / 86400.0)
    if not (at < cut).any() or not (at >= cut).any():
        raise DatasetError(f"cut-off {cutoff.date()} leaves no history or no future in the data")
    if end_of_data == "global" and np.floor(at.max()) < cut + max(HORIZONS) - 1:
        raise DatasetError(f"the data end less than {max(HORIZONS)} days after the cut-off {cutoff.date()}")
    hist_frame = frame[at < cut]
    all_days, fc_all = forecast_history(
        frame["customer_id"].to_numpy(),
        frame["product_id"].to_numpy(),
        at,
        frame["quantity"].to_numpy(),
        frame["order_id"].to_numpy(),
        cut,
        _product_types(hist_frame),
        cfg,
    )
    keep = all_days.n_days >= 2
    days, _ = select_rows(all_days, np.repeat(keep, all_days.n_days))
    truth = _truth(frame, days, cut, end_of_data, gap_cap)
    attune = (fc_all.predicted_next_at[keep], fc_all.p_within_14d[keep], fc_all.p_within_30d[keep])
    preds: dict[str, tuple] = {"attune": (attune[0], attune[1], attune[2], attune[1], attune[2])}
    rules = {
        **base.personal_rules(days, cut),
        "product_median_interval": tuple(a[keep] for a in base.product_median_interval(all_days, cut)),
        "poisson_gamma": base.poisson_gamma(days, cut),
        "profile_next_order": base.profile_next_order(days, _order_days(hist_frame, days), cut),
    }
    preds.update((name, rules[name]) for name in BASELINES)
    cold = days.n_days == 2
    results: dict = {"overall": {}, "cold": {}}
    for name, (pred, s14, s30, p14, p30) in preds.items():
        for label, mask in (("overall", np.ones(days.n_pairs, bool)), ("cold", cold)):
            results[label][name] = score_method(pred, {14: s14, 30: s30}, {14: p14, 30: p30}, truth, mask)
    predictions = pd.DataFrame(
        {
            "customer_id": days.customers[days.pair_customer],
            "product_id": days.products[days.pair_product],
            "predicted_next_at": pd.to_datetime(attune[0] * 86400.0, unit="s", utc=True).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "p_within_14d": attune[1].round(4),
            "p_within_30d": attune[2].round(4),
        }
    )
    results["cutoff"] = str(cutoff.date())
    results["pairs"] = int(days.n_pairs)
    results["cold_pairs"] = int(cold.sum())
    return results, predictions


def _product_types(frame: pd.DataFrame) -> dict[str, str]:
    if "product_type" not in frame.columns:
        return {}
    types = frame[["product_id", "product_type"]].dropna().drop_duplicates("product_id")
    return dict(zip(types["product_id"].astype(str), types["product_type"].astype(str), strict=True))


def _order_days(frame: pd.DataFrame, days: PurchaseDays) -> dict[int, np.ndarray]:
    """Customer index (of ``days``) → sorted distinct order days in the history."""
    idx = pd.Index(days.customers)
    d = pd.DataFrame(
        {"c": idx.get_indexer(frame["customer_id"].astype(str)), "d": np.floor(to_days(frame["ordered_at"]))}
    )
    d = d[d["c"] >= 0].drop_duplicates().sort_values(["c", "d"])
    return {int(c): g.to_numpy() for c, g in d.groupby("c")["d"]}


def targets(results: dict) -> dict[str, float | None]:
    """Attune against the best baseline: MAE reduction (fraction) and AUC-14 gain, overall."""
    overall = results["overall"]
    maes = [overall[b]["mae_days"] for b in BASELINES if overall[b]["mae_days"] is not None]
    aucs = [overall[b]["auc_14d"] for b in BASELINES if overall[b]["auc_14d"] is not None]
    a = overall["attune"]
    return {
        "mae_reduction_vs_best": 1.0 - a["mae_days"] / min(maes) if maes and a["mae_days"] else None,
        "auc14_gain_vs_best": a["auc_14d"] - max(aucs) if aucs and a["auc_14d"] is not None else None,
    }


def _fmt(v: float | int | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


@click.command("replenishment")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Transactions CSV (the one `attune backtest recommendations` reads).")  # fmt: skip
@click.option("--cutoff", required=True, help="Cut-off date YYYY-MM-DD (UTC midnight): history is before it.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--predictions-out", type=click.Path(dir_okay=False),
              help="Write customer_id,product_id,predicted_next_at,p_within_14d,p_within_30d per pair.")  # fmt: skip
@click.option("--end-of-data", type=click.Choice(["global", "customer"]), default="global", show_default=True,
              help="Censor at the data's last day, or at each customer's own last order.")  # fmt: skip
@click.option("--gap-cap", type=float, default=None,
              help="Order gaps of this many days or more are lower bounds (Instacart: 30).")  # fmt: skip
def replenishment(
    data_path: str,
    cutoff: str,
    as_json: bool,
    predictions_out: str | None,
    end_of_data: str,
    gap_cap: float | None,
) -> None:
    """Next-purchase timing per customer × product: Attune's consumption model against six baselines."""
    try:
        when = pd.Timestamp(cutoff, tz="UTC")
    except ValueError as exc:
        raise click.BadParameter(f"not a date: {cutoff}", param_hint="--cutoff") from exc
    try:
        frame = read_transactions(data_path)
        results, predictions = run_backtest(frame, when, Config(), end_of_data, gap_cap)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    results["data"] = str(data_path)
    results["targets"] = targets(results)
    if predictions_out:
        Path(predictions_out).parent.mkdir(parents=True, exist_ok=True)
        predictions.to_csv(predictions_out, index=False)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    click.echo(
        f"{data_path}, cut-off {results['cutoff']}: {results['pairs']} pairs ({results['cold_pairs']} cold)"
    )
    for label in ("overall", "cold"):
        click.echo(f"\n{label}")
        click.echo(
            f"{'method':<26}{'bought':>8}{'MAE d':>8}{'AUC14':>8}{'Brier14':>9}{'AUC30':>8}{'Brier30':>9}"
        )
        for name, r in results[label].items():
            click.echo(
                f"{name:<26}{r['bought']:>8}{_fmt(r['mae_days'], '.2f'):>8}{_fmt(r['auc_14d'], '.4f'):>8}"
                f"{_fmt(r['brier_14d'], '.4f'):>9}{_fmt(r['auc_30d'], '.4f'):>8}{_fmt(r['brier_30d'], '.4f'):>9}"
            )
    t = results["targets"]
    click.echo(
        f"\nattune vs best baseline: MAE {_fmt(t['mae_reduction_vs_best'], '+.1%')} lower, "
        f"AUC14 {_fmt(t['auc14_gain_vs_best'], '+.4f')}"
    )
