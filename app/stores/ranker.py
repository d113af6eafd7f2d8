"""One shop's next-basket ranker (``ranker_model``) and the order history it reads. No commits.

- ``load_ranker``: the stored ranker, unpacked once per process and reused while the stored (version,
  trained_at) is the one this process holds: one small query per job, the blob is read only after a training.
- ``save_ranker``: store a newly trained ranker (the version grows; a training that started earlier than the
  stored one is dropped); ``history_stamp``: a fingerprint of the training data, so an unchanged history is not
  trained again.
- ``purchase_lines``: a shop's order and returned lines as ``PurchaseLines``, for every customer (training, a
  whole-shop refresh) or only some (one customer's refresh reads that customer's rows and nothing else).
- ``orders_since``: how many orders arrived after the ranker's last training order (bounded count), for the
  retraining rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, select

from app.models.commerce import Order, OrderLine, Product, Refund, RefundLine
from app.models.shop_models import RankerModel
from app.recommend.lists import DAY, ModelInfo
from app.recommend.nextbasket import Ranker
from app.recommend.ranker_io import dumps, loads
from app.recommend.transactions import PurchaseLines

_CACHE: dict[int, tuple[tuple[int, str], StoredRanker]] = {}
_CACHE_CAP = 64


@dataclass(frozen=True)
class StoredRanker:
    ranker: Ranker
    version: int
    trained_at: datetime
    last_order_at: datetime | None
    orders: int
    customers: int
    currency: str

    def info(self) -> ModelInfo:
        r = self.ranker
        trained = (
            f"v{self.version}, trained {self.trained_at:%Y-%m-%d %H:%M} UTC on {self.orders:,} orders of "
            f"{self.customers:,} customers"
        )
        if r.kind == "ranker":
            return ModelInfo("ranker", self.version, f"next-basket ranker {trained}")
        label = "TIFU + popularity, untrained" if r.kind == "untrained" else "popularity"
        return ModelInfo(r.kind, self.version, f"fallback ({label}) {trained}: {r.why}")


def ranker_stamp(session: Session, shop_id: int) -> tuple[int, datetime, datetime | None, int] | None:
    """(version, trained_at, last_order_at, orders) of the stored ranker, or None."""
    row = session.exec(
        select(
            RankerModel.version, RankerModel.trained_at, RankerModel.last_order_at, RankerModel.orders
        ).where(RankerModel.shop_id == shop_id)
    ).first()
    return None if row is None else (int(row[0]), row[1], row[2], int(row[3]))


def load_ranker(session: Session, shop_id: int) -> StoredRanker | None:
    stamp_row = ranker_stamp(session, shop_id)
    if stamp_row is None:
        return None
    stamp = (stamp_row[0], stamp_row[1].isoformat())
    cached = _CACHE.get(shop_id)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    row = session.exec(select(RankerModel).where(RankerModel.shop_id == shop_id)).one()
    stored = StoredRanker(
        loads(row.blob),
        row.version,
        row.trained_at,
        row.last_order_at,
        row.orders,
        row.customers,
        row.currency,
    )
    if len(_CACHE) >= _CACHE_CAP:
        _CACHE.clear()
    _CACHE[shop_id] = ((row.version, row.trained_at.isoformat()), stored)
    return stored


def history_stamp(session: Session, shop_id: int) -> list[Any]:
    """What a training's data is, in a few numbers: order lines, the customers they belong to (a redacted
    customer's orders become guest orders: the same lines, one customer fewer), the newest order time and order
    update, returned lines and the newest return. A training with the stamp of the stored ranker would learn the
    same model."""
    orders = session.exec(
        select(
            func.count(OrderLine.id),
            func.count(func.distinct(Order.customer_shopify_id)),
            func.max(Order.processed_at),
            func.max(Order.shopify_updated_at),
        )
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(Order.shop_id == shop_id, Order.cancelled_at.is_(None), Order.test.is_(False))
    ).one()
    returns = session.exec(
        select(func.count(RefundLine.id), func.max(Refund.processed_at))
        .join(
            Refund,
            (Refund.shop_id == RefundLine.shop_id) & (Refund.shopify_id == RefundLine.refund_shopify_id),
        )
        .where(RefundLine.shop_id == shop_id)
    ).one()
    return [v.isoformat() if isinstance(v, datetime) else v for v in (*orders, *returns)]


def stored_stamp(session: Session, shop_id: int) -> list[Any] | None:
    params = session.exec(select(RankerModel.params).where(RankerModel.shop_id == shop_id)).first()
    return None if params is None else params.get("history")


def save_ranker(
    session: Session,
    shop_id: int,
    ranker: Ranker,
    *,
    trained_at: datetime,
    lines: PurchaseLines,
    currency: str,
    params: dict[str, Any],
) -> RankerModel | None:
    """Store a trained ranker as the shop's new version; returns the row, or None when a training that started
    later was stored meanwhile (it saw at least the same orders). No commit."""
    blob = dumps(ranker)
    row = session.exec(select(RankerModel).where(RankerModel.shop_id == shop_id).with_for_update()).first()
    if row is None:
        row = RankerModel(shop_id=shop_id, version=1, kind=ranker.kind)
    elif row.trained_at > trained_at:
        return None
    else:
        row.version += 1
    sold = lines.quantities > 0
    last = float(lines.days[sold].max()) if sold.any() else None
    row.kind, row.why, row.trained_at = ranker.kind, ranker.why[:512], trained_at
    row.last_order_at = datetime.fromtimestamp(last * DAY, UTC) if last is not None else None
    row.orders = int(len(np.unique(lines.orders[sold])))
    row.customers = int(len(np.unique(lines.customers[sold])))
    row.items = int(len(ranker.items))
    row.currency, row.params = currency, params
    row.blob, row.size_bytes = blob, len(blob)
    session.add(row)
    session.flush()
    return row


def orders_since(session: Session, shop_id: int, since: datetime | None, cap: int) -> int:
    """Orders processed after ``since`` (all when None), counted up to ``cap``."""
    query = select(Order.id).where(Order.shop_id == shop_id, Order.test.is_(False))
    if since is not None:
        query = query.where(Order.processed_at > since)
    return int(session.exec(select(func.count()).select_from(query.limit(cap).subquery())).one())


def purchase_lines(
    session: Session, shop_id: int, customer_ids: list[int] | None = None, *, with_products: bool = True
) -> PurchaseLines:
    """Order lines (quantity > 0) and returned lines (< 0) of the shop, or of ``customer_ids`` only. Guest
    orders count as one-order customers ``order:<id>`` (they still teach what sells and what goes together);
    ``with_products`` adds each line's product title and type (a one-customer refresh reads them from the
    stored ranker instead)."""
    query = (
        select(
            Order.customer_shopify_id,
            Order.shopify_id,
            func.coalesce(Order.processed_at, Order.shopify_created_at),
            OrderLine.product_shopify_id,
            OrderLine.quantity,
            OrderLine.title,
        )
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(
            Order.shop_id == shop_id,
            Order.cancelled_at.is_(None),
            Order.test.is_(False),
            OrderLine.product_shopify_id.is_not(None),
            OrderLine.quantity > 0,
        )
    )
    returns = (
        select(
            Order.customer_shopify_id,
            Order.shopify_id,
            func.coalesce(Refund.processed_at, Refund.shopify_created_at),
            RefundLine.product_shopify_id,
            RefundLine.quantity,
        )
        .join(
            Refund,
            (Refund.shop_id == RefundLine.shop_id) & (Refund.shopify_id == RefundLine.refund_shopify_id),
        )
        .join(
            Order, (Order.shop_id == RefundLine.shop_id) & (Order.shopify_id == RefundLine.order_shopify_id)
        )
        .where(
            RefundLine.shop_id == shop_id,
            RefundLine.product_shopify_id.is_not(None),
            Order.customer_shopify_id.is_not(None),
        )
    )
    if customer_ids is not None:
        query = query.where(Order.customer_shopify_id.in_(customer_ids))  # type: ignore[union-attr]
        returns = returns.where(Order.customer_shopify_id.in_(customer_ids))  # type: ignore[union-attr]
    cust, oid, days, pid, qty, titles = [], [], [], [], [], []
    for c, o, at, p, q, t in session.exec(query).all():
        if at is None:
            continue
        cust.append(str(c) if c else f"order:{o}")
        oid.append(str(o))
        days.append(_days(at))
        pid.append(str(p))
        qty.append(q)
        titles.append(t or "")
    for c, o, at, p, q in session.exec(returns).all():
        if at is None or not q:
            continue
        cust.append(str(c))
        oid.append(f"refund:{o}")
        days.append(_days(at))
        pid.append(str(p))
        qty.append(-abs(q))
        titles.append("")
    lines = PurchaseLines(
        np.array(cust, dtype=str),
        np.array(oid, dtype=str),
        np.array(days, dtype=np.float64),
        np.array(pid, dtype=str),
        np.array(qty, dtype=np.float64),
    )
    if with_products and len(lines):
        lines.titles, lines.types = _product_columns(session, shop_id, lines.products, np.array(titles, str))
    return lines


def _days(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() / DAY


def _product_columns(
    session: Session, shop_id: int, products: np.ndarray, line_titles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each line's product title (the catalogue's, else the line's) and product type ("" when unknown)."""
    known = {
        str(pid): (title or "", ptype or "")
        for pid, title, ptype in session.exec(
            select(Product.shopify_id, Product.title, Product.product_type).where(Product.shop_id == shop_id)
        ).all()
    }
    titles = np.array(
        [known.get(p, ("", ""))[0] or t or p for p, t in zip(products, line_titles, strict=True)], dtype=str
    )
    types = np.array([known.get(p, ("", ""))[1] for p in products], dtype=str)
    return titles, types
