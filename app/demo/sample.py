"""Turn a transactions CSV (the shipped Online Retail II slice) into a sandbox shop's history.

Dates are shifted so the newest order lands just before now. Orders older than the live window are seeded
into the fake Shopify (the app learns them through the install backfill); the rest are replayed as webhooks
and storefront sessions. Credit notes (negative quantities) become refunds of the customer's most recent
earlier order holding that product.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

SHIPPED_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "online_retail_sample.csv.gz"
SAMPLE_SIZES = {"small": 60, "standard": 250}
PRODUCT_BASE, VARIANT_BASE, CUSTOMER_BASE, ORDER_BASE = (
    7_100_000_000,
    8_100_000_000,
    6_100_000_000,
    5_100_000_000,
)

# Online Retail II has no product types: a readable one from the title's words (first match wins).
_TYPES: list[tuple[str, tuple[str, ...]]] = [
    ("Christmas", ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE")),
    ("Bags", ("BAG", "TOTE", "PURSE", "SHOPPER")),
    ("Candles & lights", ("CANDLE", "T-LIGHT", "TEA LIGHT", "LANTERN", "LIGHT", "HOLDER")),
    (
        "Kitchen",
        (
            "MUG",
            "CUP",
            "TEA",
            "PLATE",
            "BOWL",
            "JAR",
            "CAKE",
            "BAKING",
            "LUNCH",
            "BOTTLE",
            "SPOON",
            "TIN",
            "NAPKIN",
            "KITCHEN",
            "APRON",
            "CUTLERY",
        ),
    ),
    ("Stationery", ("CARD", "PAPER", "NOTEBOOK", "PENCIL", "PEN ", "WRAP", "STICKER", "ENVELOPE", "TAPE")),
    ("Toys & games", ("TOY", "GAME", "DOLL", "PUZZLE", "SPACEBOY", "DOMINOES", "SKITTLES")),
    ("Garden", ("GARDEN", "PLANT", "WATERING", "BIRD", "FLOWER POT")),
    ("Jewellery", ("NECKLACE", "EARRINGS", "BRACELET", "RING")),
    (
        "Home decor",
        ("FRAME", "SIGN", "CUSHION", "CLOCK", "MIRROR", "HEART", "DOORSTOP", "HOOK", "DECORATION"),
    ),
]


def product_type(title: str) -> str:
    upper = f" {title.upper()} "
    for name, words in _TYPES:
        if any(w in upper for w in words):
            return name
    return "Gifts"


def _stable(value: str, modulo: int) -> int:
    return int(hashlib.sha256(value.encode()).hexdigest()[:8], 16) % modulo


@dataclass
class DemoPlan:
    """Everything the demo seeds and replays, in the fake store's plain-dict seeding format."""

    products: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    history_orders: list[dict[str, Any]]
    live_orders: list[dict[str, Any]]
    live_refunds: list[dict[str, Any]]  # {"order_id", "created_at", "lines": [{"variant_id", "quantity"}]}
    shift: timedelta
    source: str
    meta: dict[str, Any] = field(default_factory=dict)


def load_transactions(path: Path = SHIPPED_SAMPLE) -> pd.DataFrame:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        df = pd.read_csv(fh, dtype={"customer_id": str, "order_id": str, "product_id": str})
    df["ordered_at"] = pd.to_datetime(df["ordered_at"], utc=True)
    return df


def build_plan(
    df: pd.DataFrame,
    *,
    customers: int | None,
    live_share: float = 0.12,
    live_days: float = 6.0,
    now: datetime | None = None,
    source: str = "Online Retail II (UCI, CC BY 4.0) — shipped sample",
) -> DemoPlan:
    """The newest ``live_share`` of orders (and returns after them) are replayed; their times are spread over
    the last ``live_days`` (pixel events older than 7 days are refused), keeping their order."""
    now = now or datetime.now(UTC)
    if customers is not None:
        ids = sorted(df["customer_id"].unique(), key=lambda c: _stable(c, 10**9))[:customers]
        df = df[df["customer_id"].isin(ids)]
    order_times = df[df["quantity"] > 0].groupby("order_id")["ordered_at"].min().sort_values()
    split_at = order_times.iloc[int(len(order_times) * (1 - live_share))]
    end = now - timedelta(hours=1)
    shift = (end - timedelta(days=live_days)) - split_at.to_pydatetime()
    last = df["ordered_at"].max()
    span = max((last - split_at).total_seconds(), 1.0)

    def retime(t: pd.Timestamp) -> pd.Timestamp:
        if t < split_at:
            return t + shift
        return pd.Timestamp(end - timedelta(days=live_days * (1 - (t - split_at).total_seconds() / span)))

    df = df.assign(ordered_at=df["ordered_at"].map(retime))
    cutoff = end - timedelta(days=live_days)

    sales, returns = df[df["quantity"] > 0], df[df["quantity"] < 0]
    products, variant_of = _products(sales)
    customer_rows = _customers(df, first_seen=df.groupby("customer_id")["ordered_at"].min())
    orders = _orders(sales, variant_of)
    refunds_attached = _attach_returns(returns, orders, variant_of)

    history = [o for o in orders.values() if o["created_at"] < cutoff]
    live = sorted((o for o in orders.values() if o["created_at"] >= cutoff), key=lambda o: o["created_at"])
    live_refunds = []
    for order in orders.values():
        keep = []
        for refund in order.pop("_refunds"):
            if order["created_at"] < cutoff and refund["created_at"] < cutoff:
                keep.append(refund)
            else:
                live_refunds.append(dict(refund, order_id=order["id"]))
        order["refunds"] = keep
    live_refunds.sort(key=lambda r: r["created_at"])
    return DemoPlan(
        products=products,
        customers=customer_rows,
        history_orders=sorted(history, key=lambda o: o["created_at"]),
        live_orders=live,
        live_refunds=live_refunds,
        shift=shift,
        source=source,
        meta={
            "lines": int(len(df)),
            "returns": int(len(returns)),
            "cutoff": cutoff.isoformat(),
            "refunds": refunds_attached,
        },
    )


def _products(sales: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, int]]:
    grouped = sales.groupby("product_id").agg(
        title=("product_title", "last"), price=("unit_price", "median"), first=("ordered_at", "min")
    )
    products, variant_of = [], {}
    for i, (code, row) in enumerate(grouped.sort_index().iterrows()):
        title = str(row["title"]).strip().title()
        pid, vid = PRODUCT_BASE + i, VARIANT_BASE + i
        variant_of[code] = vid
        stock = 0 if _stable(code, 20) == 0 else 5 + _stable(code + "q", 200)
        products.append(
            {
                "id": pid,
                "title": title,
                "product_type": product_type(title),
                "vendor": "Online Retail II",
                "tags": [product_type(title).lower()],
                "description": f"{title}. A gift-ware classic from a UK online retailer.",
                "created_at": row["first"].to_pydatetime() - timedelta(days=30),
                "variants": [
                    {
                        "id": vid,
                        "sku": code,
                        "price": f"{float(row['price']):.2f}",
                        "inventory_quantity": stock,
                    }
                ],
            }
        )
    return products, variant_of


def _customers(df: pd.DataFrame, first_seen: pd.Series) -> list[dict[str, Any]]:
    rows = []
    for cid in sorted(df["customer_id"].unique()):
        bucket = _stable(cid, 10)
        rows.append(
            {
                "id": CUSTOMER_BASE + int(float(cid)),
                "email": f"shopper{cid}@example.com",
                "first_name": "Shopper",
                "last_name": cid,
                "phone": f"+447400{int(float(cid)) % 1000000:06d}"
                if bucket < 4
                else None,  # a valid UK mobile range
                "email_marketing": "SUBSCRIBED" if 2 <= bucket < 9 else "NOT_SUBSCRIBED",  # 0-1: SMS only
                "sms_marketing": "SUBSCRIBED" if bucket < 3 else "NOT_SUBSCRIBED",
                "created_at": first_seen[cid].to_pydatetime() - timedelta(days=1),
            }
        )
    return rows


def _orders(sales: pd.DataFrame, variant_of: dict[str, int]) -> dict[str, dict[str, Any]]:
    merged = (
        sales.groupby(["order_id", "product_id"], sort=True)
        .agg(
            quantity=("quantity", "sum"),
            price=("unit_price", "first"),
            customer=("customer_id", "first"),
            at=("ordered_at", "min"),
        )
        .reset_index()
    )
    orders: dict[str, dict[str, Any]] = {}
    for row in merged.itertuples(index=False):
        order = orders.get(row.order_id)
        if order is None:
            order = orders[row.order_id] = {
                "id": ORDER_BASE + len(orders),
                "name": f"#{row.order_id}",
                "customer_id": CUSTOMER_BASE + int(float(row.customer)),
                "email": f"shopper{row.customer}@example.com",
                "created_at": row.at.to_pydatetime(),
                "lines": [],
                "_refunds": [],
                "_customer": str(row.customer),
            }
        order["lines"].append(
            {
                "variant_id": variant_of[row.product_id],
                "quantity": int(row.quantity),
                "price": f"{float(row.price):.2f}",
            }
        )
    return orders


def _attach_returns(
    returns: pd.DataFrame, orders: dict[str, dict[str, Any]], variant_of: dict[str, int]
) -> int:
    """Each credit note line refunds the latest earlier order of that customer holding the product."""
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for order in orders.values():
        by_customer.setdefault(order["_customer"], []).append(order)
    for lst in by_customer.values():
        lst.sort(key=lambda o: o["created_at"])
    attached = 0
    for note_id, lines in returns.groupby("order_id", sort=True):
        first = lines.iloc[0]
        when = first["ordered_at"].to_pydatetime()
        per_order: dict[int, dict[str, Any]] = {}
        for r in lines.itertuples(index=False):
            vid = variant_of.get(r.product_id)
            if vid is None:
                continue
            target = _refund_target(
                by_customer.get(str(first["customer_id"]), []), vid, when, -int(r.quantity)
            )
            if target is None:
                continue
            refund = per_order.setdefault(
                target["id"],
                {"created_at": when, "note": f"Credit note {note_id}", "lines": [], "_order": target},
            )
            refund["lines"].append({"variant_id": vid, "quantity": -int(r.quantity)})
        for refund in per_order.values():
            refund.pop("_order")["_refunds"].append(refund)
            attached += 1
    return attached


def _refund_target(orders: list[dict[str, Any]], vid: int, when: datetime, qty: int) -> dict[str, Any] | None:
    for order in reversed(orders):
        if order["created_at"] >= when:
            continue
        line = next((ln for ln in order["lines"] if ln["variant_id"] == vid), None)
        if line is None:
            continue
        already = sum(
            rl["quantity"] for rf in order["_refunds"] for rl in rf["lines"] if rl["variant_id"] == vid
        )
        if line["quantity"] - already >= qty:
            return order
    return None
