"""Price sensitivity and affinity backtests on Complete Journey: weeks 1–26 predict weeks 27–53."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from app.modelling.affinity import affinity_matrix
from app.modelling.price_sensitivity import PurchaseLine, score_customers

FOLDER = "completejourney_8451"
CAL_LAST_WEEK = 26
TOP_K = 10


def load_lines(data: Path) -> pd.DataFrame:
    t = pd.read_parquet(
        data / FOLDER / "transactions.parquet",
        columns=[
            "household_id",
            "basket_id",
            "product_id",
            "quantity",
            "sales_value",
            "retail_disc",
            "coupon_disc",
            "coupon_match_disc",
            "week",
            "transaction_timestamp",
        ],
    )
    p = pd.read_parquet(data / FOLDER / "products.parquet", columns=["product_id", "product_category"])
    t = t.merge(p, on="product_id", how="left")
    t["product_category"] = t["product_category"].fillna("UNKNOWN")
    t["household_id"] = t["household_id"].astype(str)
    return t[t["sales_value"] >= 0]


def evaluate_price(t: pd.DataFrame, progress: Callable[[str], None]) -> dict:
    cal, nxt = t[t["week"] <= CAL_LAST_WEEK], t[t["week"] > CAL_LAST_WEEK]
    progress("price: scoring calibration period")
    lines = [
        PurchaseLine(h, c, q, s, r, cd + cm)
        for h, c, q, s, r, cd, cm in zip(
            cal["household_id"],
            cal["product_category"],
            cal["quantity"],
            cal["sales_value"],
            cal["retail_disc"],
            cal["coupon_disc"],
            cal["coupon_match_disc"],
            strict=True,
        )
    ]
    scores = score_customers(lines)
    g = nxt.assign(disc=nxt["retail_disc"] + nxt["coupon_disc"] + nxt["coupon_match_disc"])
    g = g.groupby("household_id").agg(disc=("disc", "sum"), paid=("sales_value", "sum"))
    g = g[(g["disc"] + g["paid"]) > 0]
    ids = [h for h in g.index if h in scores]
    actual = (g.loc[ids, "disc"] / (g.loc[ids, "disc"] + g.loc[ids, "paid"])).to_numpy()
    ours = np.array([scores[h].score for h in ids])
    raw = np.array([scores[h].discount_share for h in ids])
    cal_g = cal.assign(disc=cal["retail_disc"] + cal["coupon_disc"] + cal["coupon_match_disc"])
    shop_avg = float(cal_g["disc"].sum() / (cal_g["disc"].sum() + cal_g["sales_value"].sum()))

    def m(pred: np.ndarray) -> dict:
        rho = 0.0 if np.ptp(pred) == 0 else float(spearmanr(pred, actual).statistic)
        return {"mae": round(float(np.mean(np.abs(pred - actual))), 4), "spearman": round(rho, 4)}

    return {
        "households": len(ids),
        "target": "next-period discount share of spend (markdown + coupon savings / gross)",
        "models": {
            "shop_average": m(np.full(len(ids), shop_avg)),
            "raw_calibration_share": m(raw),
            "attune_price_sensitivity": m(ours),
        },
    }


def ndcg_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Binary-relevance NDCG@k per row."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    gains = np.take_along_axis(relevant, top, axis=1).astype(float)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gains * discounts).sum(axis=1)
    ideal_n = np.minimum(relevant.sum(axis=1), k)
    idcg = np.array([discounts[: int(n)].sum() for n in ideal_n])
    return np.where(idcg > 0, dcg / np.maximum(idcg, 1e-12), 0.0)


def _mean_row_spearman(scores: np.ndarray, counts: np.ndarray) -> float:
    rs, rc = rankdata(scores, axis=1), rankdata(counts, axis=1)
    rs -= rs.mean(axis=1, keepdims=True)
    rc -= rc.mean(axis=1, keepdims=True)
    den = np.sqrt((rs**2).sum(axis=1) * (rc**2).sum(axis=1))
    ok = den > 0
    return float(np.mean((rs * rc).sum(axis=1)[ok] / den[ok]))


def evaluate_affinity(t: pd.DataFrame, progress: Callable[[str], None]) -> dict:
    progress("affinity: building category matrices")
    cal, nxt = t[t["week"] <= CAL_LAST_WEEK], t[t["week"] > CAL_LAST_WEEK]
    hh = sorted(set(cal["household_id"]) & set(nxt["household_id"]))
    cats = sorted(t["product_category"].unique())
    hi, ci = {h: i for i, h in enumerate(hh)}, {c: i for i, c in enumerate(cats)}
    cal = cal[cal["household_id"].isin(hi)]
    nxt = nxt[nxt["household_id"].isin(hi)]
    # one interaction per (basket, category): a purchase occasion
    cb = cal.drop_duplicates(["basket_id", "product_category"])
    c_idx = cb["household_id"].map(hi).to_numpy()
    k_idx = cb["product_category"].map(ci).to_numpy()
    end = cal["transaction_timestamp"].max()
    age = ((end - cb["transaction_timestamp"]).dt.total_seconds() / 86400.0).to_numpy()
    nb = nxt.drop_duplicates(["basket_id", "product_category"])
    counts = np.zeros((len(hh), len(cats)))
    np.add.at(counts, (nb["household_id"].map(hi).to_numpy(), nb["product_category"].map(ci).to_numpy()), 1.0)
    ones = np.ones(len(cb))
    variants = {}
    progress("affinity: scoring")
    ours, popularity = affinity_matrix(c_idx, k_idx, ones, age, len(hh), len(cats))
    no_decay, _ = affinity_matrix(c_idx, k_idx, ones, age, len(hh), len(cats), half_life_days=1e9)
    variants["shop_average"] = np.tile(popularity, (len(hh), 1))
    variants["attune_no_decay"] = no_decay
    variants["attune_affinity"] = ours
    relevant = counts > 0
    return {
        "households": len(hh),
        "categories": len(cats),
        "target": f"next-period category purchases (baskets per category); NDCG@{TOP_K} binary, row Spearman",
        "models": {
            name: {
                f"ndcg@{TOP_K}": round(float(ndcg_at_k(s, relevant).mean()), 4),
                "spearman": round(_mean_row_spearman(s, counts), 4),
            }
            for name, s in variants.items()
        },
    }


def evaluate(data: Path, only: str | None, progress: Callable[[str], None] = lambda _: None) -> dict:
    progress("complete journey: loading")
    t = load_lines(data)
    out: dict[str, dict] = {}
    if only in (None, "price"):
        out["price"] = {"dataset": FOLDER, **evaluate_price(t, progress)}
    if only in (None, "affinity"):
        out["affinity"] = {"dataset": FOLDER, **evaluate_affinity(t, progress)}
    return out
