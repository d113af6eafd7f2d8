"""The control room's success table, cached per shop: computing it reads every customer, order, line, refund,
checkout and support question of the shop, so the page would do that on every request.

``cached_table`` keeps the computed table in this process for ``TTL`` seconds under a key made of the shop, the
period, the global holdout (share and salt) and a *fingerprint* of the data it reads: per table a count, the
highest id and the latest change time (and the counts of cancelled orders, deleted customers and escalated
answers, which change a row in place). Any new or changed row changes the fingerprint, so the next request
computes afresh; otherwise the cached table is returned exactly as computed (with its ``measured_at``), and is
the same table a fresh computation at that instant gives (``tests/test_control_room_cache.py``). The fingerprint
is a handful of aggregate queries on indexed shop columns, not a read of every customer.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.measurement.control_room import success_table
from app.models.commerce import Checkout, Customer, Order, OrderLine, Refund
from app.models.feedback import SupportMessage
from app.models.serving import RecommendationList
from app.stores.control_room import customer_facts

TTL = 300.0  # seconds a cached table is served while its data has not changed
MAX_ENTRIES = 256
_lock = threading.Lock()
_entries: OrderedDict[tuple[Any, ...], tuple[float, dict[str, Any]]] = OrderedDict()
stats = {"hits": 0, "misses": 0}


def fingerprint(session: Session, shop_id: int) -> tuple[Any, ...]:
    """What changes whenever anything the success table reads for the shop changes."""
    out: list[Any] = []
    for model, extra in (
        (Customer, (func.max(Customer.shopify_updated_at), func.count(Customer.deleted_at))),
        (
            Order,
            (func.max(Order.shopify_updated_at), func.count(Order.cancelled_at), func.sum(Order.total_price)),
        ),
        (OrderLine, ()),
        (Refund, (func.sum(Refund.amount),)),
        (Checkout, (func.max(Checkout.shopify_updated_at), func.count(Checkout.completed_at))),
        (SupportMessage, (func.count(SupportMessage.resolved_at),)),
        (RecommendationList, (func.max(RecommendationList.computed_at),)),
    ):
        row = session.exec(
            select(func.count(), func.max(model.id), *extra).where(model.shop_id == shop_id)  # type: ignore[attr-defined]
        ).one()
        out.append(tuple(str(v) for v in row))
    escalated = session.exec(
        select(func.count()).where(
            SupportMessage.shop_id == shop_id,
            SupportMessage.escalated.is_(True),  # type: ignore[attr-defined]
        )
    ).one()
    out.append(int(escalated))
    return tuple(out)


def compute_table(
    session: Session, shop_id: int, days: int, now: datetime, share: float, salt: str
) -> dict[str, Any] | None:
    """The success table computed from the database now (None when everyone is held out)."""
    if share >= 1:
        return None
    facts = customer_facts(session, shop_id, now - timedelta(days=days), now, share, salt)
    return success_table(facts, 1 - share, now=now)


def cached_table(
    session: Session,
    shop_id: int,
    days: int,
    now: datetime,
    share: float,
    salt: str,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any] | None:
    """The success table from the cache when its data is unchanged and it is younger than ``TTL``; else
    computed (``compute_table``) and cached. Returns a copy the caller may change."""
    key = (shop_id, days, share, salt, fingerprint(session, shop_id))
    t = clock()
    with _lock:
        hit = _entries.get(key)
        if hit is not None and t - hit[0] < TTL:
            _entries.move_to_end(key)
            stats["hits"] += 1
            return copy.deepcopy(hit[1])
    table = compute_table(session, shop_id, days, now, share, salt)
    with _lock:
        stats["misses"] += 1
        if table is not None:
            _entries[key] = (t, table)
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    return copy.deepcopy(table)


def clear() -> None:
    with _lock:
        _entries.clear()
