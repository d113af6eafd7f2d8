"""The transactions CSV format every backtest reads, and converters from the public datasets in ../shared/data.

Format (UTF-8, comma-separated, one row per order line, header required)::

    customer_id, order_id, ordered_at, product_id, product_title, quantity, unit_price
    [, product_type, vendor, tags]

- ``ordered_at`` is ISO 8601 (``YYYY-MM-DD HH:MM:SS``, UTC or naive); lines of one order share it.
- ``quantity`` is an integer; a negative quantity is a return (refund / cancellation) of that product.
- ``tags`` is a ``|``-separated list. Ids are strings; rows without a customer id are dropped by the converters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ["customer_id", "order_id", "ordered_at", "product_id", "product_title", "quantity", "unit_price"]
OPTIONAL = ["product_type", "vendor", "tags"]


class DatasetError(ValueError):
    """The input is not a valid transactions CSV."""


def read_transactions(path: str | Path) -> pd.DataFrame:
    """Read and validate a transactions CSV (plain or .gz)."""
    try:
        frame = pd.read_csv(path, dtype={"customer_id": str, "order_id": str, "product_id": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing columns {', '.join(missing)} (need {', '.join(REQUIRED)})")
    frame = frame.dropna(subset=["customer_id", "order_id", "product_id", "ordered_at"])
    try:
        frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True, format="mixed")
        frame["quantity"] = pd.to_numeric(frame["quantity"]).astype(np.int64)
        frame["unit_price"] = pd.to_numeric(frame["unit_price"], errors="coerce").fillna(0.0)
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: bad ordered_at/quantity/unit_price values: {exc}") from exc
    frame["product_title"] = frame["product_title"].fillna("").astype(str)
    return frame.reset_index(drop=True)


def write_transactions(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` in the transactions CSV format (gzip when the name ends in .gz)."""
    cols = REQUIRED + [c for c in OPTIONAL if c in frame.columns]
    out = frame[cols].copy()
    out["ordered_at"] = pd.to_datetime(out["ordered_at"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    out.to_csv(path, index=False, compression="infer")


def _is_product_code(codes: pd.Series) -> pd.Series:
    """Online Retail stock codes of real products start with five digits (POST, DOT, M, BANK CHARGES… do not)."""
    return codes.astype(str).str.match(r"^\d{5}")


def convert_online_retail(folder: str | Path) -> pd.DataFrame:
    """Both Online Retail II files, deduplicated on their 2010-12-01..09 overlap; products only, known customers."""
    folder = Path(folder)
    first = pd.read_csv(
        folder / "online_retail_II_2009-2010.csv.gz", dtype={"Invoice": str, "StockCode": str}
    )
    second = pd.read_csv(
        folder / "online_retail_2010-2011.csv.gz", dtype={"InvoiceNo": str, "StockCode": str}
    )
    second = second.rename(
        columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
    )
    first = first[first["InvoiceDate"] < "2010-12-01"]
    raw = pd.concat([first, second], ignore_index=True)
    raw = raw.dropna(subset=["Customer ID"])
    raw = raw[_is_product_code(raw["StockCode"]) & (raw["Quantity"] != 0)]
    return pd.DataFrame(
        {
            "customer_id": raw["Customer ID"].astype(np.int64).astype(str),
            "order_id": raw["Invoice"].astype(str),
            "ordered_at": pd.to_datetime(raw["InvoiceDate"]),
            "product_id": raw["StockCode"].astype(str).str.upper(),
            "product_title": raw["Description"].fillna("").astype(str).str.strip(),
            "quantity": raw["Quantity"].astype(np.int64),
            "unit_price": raw["Price"].astype(float),
            "vendor": "",
            "product_type": "",
            "tags": raw["Country"].fillna("").astype(str),
        }
    ).reset_index(drop=True)


def convert_complete_journey(folder: str | Path) -> pd.DataFrame:
    """84.51° Complete Journey: household = customer, basket = order; quantity 0 (sold by weight) counts as 1."""
    folder = Path(folder)
    tx = pd.read_parquet(folder / "transactions.parquet")
    products = pd.read_parquet(folder / "products.parquet").set_index("product_id")
    qty = tx["quantity"].clip(lower=1).astype(np.int64)
    prod = products.reindex(tx["product_id"])
    title = (
        prod["brand"].fillna("").astype(str).values
        + " "
        + prod["product_type"].fillna(prod["product_category"]).fillna("").astype(str).values
        + " "
        + prod["package_size"].fillna("").astype(str).values
    )
    return pd.DataFrame(
        {
            "customer_id": tx["household_id"].astype(str).values,
            "order_id": tx["basket_id"].astype(str).values,
            "ordered_at": tx["transaction_timestamp"].values,
            "product_id": tx["product_id"].astype(str).values,
            "product_title": pd.Series(title).str.strip().str.replace(r"\s+", " ", regex=True).values,
            "quantity": qty.values,
            "unit_price": (tx["sales_value"] / qty).round(4).values,
            "product_type": prod["product_category"].fillna("").astype(str).values,
            "vendor": prod["manufacturer_id"].fillna(-1).astype(np.int64).astype(str).values,
            "tags": prod["department"].fillna("").astype(str).values,
        }
    )


def convert_instacart(folder: str | Path) -> pd.DataFrame:
    """Instacart sample: timestamps rebuilt from days_since_prior_order (from 2017-01-01) and order hour."""
    folder = Path(folder)
    lines = pd.read_csv(folder / "instacart_prior_orders_sample.csv.gz")
    products = pd.read_csv(folder / "products.csv.gz").set_index("product_id")
    aisles = pd.read_csv(folder / "aisles.csv").set_index("aisle_id")["aisle"]
    departments = pd.read_csv(folder / "departments.csv").set_index("department_id")["department"]
    orders = lines.drop_duplicates("order_id")[
        ["order_id", "user_id", "order_number", "order_hour_of_day", "days_since_prior_order"]
    ].sort_values(["user_id", "order_number"])
    days = orders["days_since_prior_order"].fillna(0).groupby(orders["user_id"]).cumsum()
    at = (
        pd.Timestamp("2017-01-01")
        + pd.to_timedelta(days, unit="D")
        + pd.to_timedelta(orders["order_hour_of_day"], unit="h")
    )
    when = pd.Series(at.values, index=orders["order_id"].values)
    prod = products.reindex(lines["product_id"])
    return pd.DataFrame(
        {
            "customer_id": lines["user_id"].astype(str).values,
            "order_id": lines["order_id"].astype(str).values,
            "ordered_at": when.reindex(lines["order_id"]).values,
            "product_id": lines["product_id"].astype(str).values,
            "product_title": prod["product_name"].fillna("").astype(str).values,
            "quantity": 1,
            "unit_price": 0.0,
            "product_type": aisles.reindex(prod["aisle_id"]).fillna("").astype(str).values,
            "vendor": "",
            "tags": departments.reindex(prod["department_id"]).fillna("").astype(str).values,
        }
    )


CONVERTERS = {
    "online_retail_ii": convert_online_retail,
    "completejourney_8451": convert_complete_journey,
    "instacart_sample": convert_instacart,
}


def baskets_from_frame(frame: pd.DataFrame):
    """Index a transactions frame into :class:`app.recommend.transactions.Baskets` (times in days)."""
    from app.recommend.transactions import build_baskets

    at = pd.to_datetime(frame["ordered_at"], utc=True)
    days = (at - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy() / 86400.0
    return build_baskets(
        frame["customer_id"].to_numpy(),
        frame["order_id"].to_numpy(),
        days,
        frame["product_id"].to_numpy(),
        frame["quantity"].to_numpy(),
        frame["product_title"].to_numpy(),
        frame["product_type"].fillna("").to_numpy() if "product_type" in frame.columns else None,
    )


SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def cached_dataset(
    name: str, cache_dir: str | Path = "var/datasets", shared: str | Path = SHARED_DATA
) -> Path:
    """The transactions CSV of one ../shared dataset, converted once into ``cache_dir/NAME.csv.gz``."""
    out = Path(cache_dir) / f"{name}.csv.gz"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial.csv.gz")
        write_transactions(CONVERTERS[name](Path(shared) / name), partial)
        partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m app.backtest.datasets NAME OUT.csv.gz [--shared DIR]``: convert one ../shared dataset."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("name", choices=sorted(CONVERTERS))
    parser.add_argument("out")
    parser.add_argument("--shared", default=str(SHARED_DATA))
    args = parser.parse_args(argv)
    frame = CONVERTERS[args.name](Path(args.shared) / args.name)
    write_transactions(frame, args.out)
    print(f"{args.out}: {len(frame)} lines, {frame['customer_id'].nunique()} customers")


if __name__ == "__main__":
    main()
