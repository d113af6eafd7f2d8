"""Lifetime-value backtest on Online Retail II: calibration period → next 26 weeks of purchases and spend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from app.modelling.clv import ClvModel, CustomerHistory, summarise
from app.modelling.clv_hybrid import HybridClv

FILES = (
    "online_retail_ii/online_retail_II_2009-2010.csv.gz",
    "online_retail_ii/online_retail_2010-2011.csv.gz",
)
CAL_END = datetime(2011, 6, 10)
HORIZON_WEEKS = 26.0
TRAINING_CUTOFFS = (1,)  # the hybrid trains on the split ending 26 weeks before CAL_END


def load_orders(data: Path) -> pd.DataFrame:
    """Invoice totals per (customer, invoice): the two files unioned without their 1–9 Dec 2010 overlap."""
    a = pd.read_csv(data / FILES[0], dtype={"Invoice": str, "StockCode": str})
    b = pd.read_csv(data / FILES[1], dtype={"InvoiceNo": str, "StockCode": str})
    b = b.rename(columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"})
    a["InvoiceDate"] = pd.to_datetime(a["InvoiceDate"])
    b["InvoiceDate"] = pd.to_datetime(b["InvoiceDate"])
    a = a[a["InvoiceDate"] < "2010-12-01"]
    df = pd.concat([a, b], ignore_index=True)
    df = df[df["Customer ID"].notna() & (df["Quantity"] > 0) & (df["Price"] > 0)]
    df = df[~df["Invoice"].str.startswith("C")]
    df["amount"] = df["Quantity"] * df["Price"]
    orders = df.groupby(["Customer ID", "Invoice"], as_index=False).agg(
        at=("InvoiceDate", "min"), amount=("amount", "sum")
    )
    orders["customer"] = orders["Customer ID"].astype(int).astype(str)
    return orders[["customer", "at", "amount"]]


def split(orders: pd.DataFrame, cal_end: datetime, weeks: float) -> tuple[list[CustomerHistory], dict, dict]:
    """Histories before ``cal_end``; actual purchase days and spend in the following ``weeks``."""
    before = orders[orders["at"] < cal_end]
    rows = zip(before["customer"], before["at"].dt.to_pydatetime(), before["amount"], strict=True)
    histories = summarise(rows, cal_end)
    after = orders[(orders["at"] >= cal_end) & (orders["at"] < cal_end + timedelta(weeks=weeks))]
    days = after.assign(day=after["at"].dt.normalize()).groupby("customer")["day"].nunique().to_dict()
    spend = after.groupby("customer")["amount"].sum().to_dict()
    return histories, days, spend


def _metrics(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    return {
        "mae": round(float(np.mean(np.abs(pred - actual))), 4),
        "spearman": round(float(spearmanr(pred, actual).statistic), 4),
    }


def evaluate(data: Path, progress: Callable[[str], None] = lambda _: None) -> dict:
    progress("clv load Online Retail II")
    orders = load_orders(data)
    histories, days, spend = split(orders, CAL_END, HORIZON_WEEKS)
    ids = [h.customer_id for h in histories]
    actual_n = np.array([days.get(c, 0) for c in ids], dtype=float)
    actual_s = np.array([spend.get(c, 0.0) for c in ids], dtype=float)

    progress("clv historical-rate baseline")
    T = np.array([h.T for h in histories])
    n_cal = np.array([h.frequency + 1 for h in histories], dtype=float)
    tot = np.array([h.total_spend for h in histories])
    rate_n = n_cal / np.maximum(T, 1.0) * HORIZON_WEEKS
    rate_s = tot / np.maximum(T, 1.0) * HORIZON_WEEKS

    progress("clv BG/NBD + Gamma-Gamma (plain MLE)")
    plain = ClvModel.fit(histories, prior_sd=float("inf")).arrays(histories, HORIZON_WEEKS)

    progress("clv hybrid (trained on earlier split)")
    earlier = [CAL_END - timedelta(weeks=HORIZON_WEEKS * k) for k in TRAINING_CUTOFFS]
    hybrid = HybridClv.fit([split(orders, end, HORIZON_WEEKS) for end in earlier], HORIZON_WEEKS)
    ours = hybrid.predict_arrays(histories)

    models = {
        "historical_rate": (rate_n, rate_s),
        "bgnbd_gamma_gamma": (plain["purchases"], plain["value"]),
        "attune_clv": (ours["purchases"], ours["value"]),
    }
    return {
        "dataset": "online_retail_ii (union of both files, positive invoices with a customer id)",
        "calibration_end": CAL_END.date().isoformat(),
        "holdout_weeks": HORIZON_WEEKS,
        "customers": len(histories),
        "share_buying_in_holdout": round(float((actual_n > 0).mean()), 4),
        "models": {
            name: {"purchases": _metrics(n, actual_n), "spend": _metrics(s, actual_s)}
            for name, (n, s) in models.items()
        },
    }
