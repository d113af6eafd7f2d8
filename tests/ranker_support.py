"""Replaying a transactions CSV into the app (fake Shopify payloads through the commerce upserts) and counting the
order rows a job reads: shared by the parity and per-customer cost tests of the personal lists."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.commerce.upserts import upsert_order, upsert_product
from app.demo.sample import build_plan, load_transactions
from app.models.shop import Shop
from app.shopify.fake.rest import order_payload
from app.shopify.fake.store import ShopStore, gid, gid_num, iso

ORDER_TABLES = re.compile(r"\b(shop_order|order_line|refund|refund_line)\b")


@dataclass
class Replayed:
    shop_id: int
    store: ShopStore
    payloads: list[dict[str, Any]]  # orders/create bodies, as replayed
    types: dict[int, str]  # product id -> product type


def seed_shop(session: Session, domain: str) -> int:
    shop = Shop(domain=domain, access_token_enc="token", scopes="read_orders", installed_at=datetime.now(UTC))
    session.add(shop)
    session.commit()
    assert shop.id is not None
    return shop.id


def replay_sample(session: Session, domain: str, customers: int = 60) -> Replayed:
    """The shipped Online Retail II slice's ``customers`` shoppers as a shop: its products (every one in stock),
    then every order (returns included) as Shopify's ``orders/create`` body through the commerce upserts."""
    plan = build_plan(load_transactions(), customers=customers)
    by_id = {o["id"]: o for o in plan.history_orders + plan.live_orders}
    for refund in plan.live_refunds:  # returns after the demo's live cutoff: part of the order here
        by_id[refund.pop("order_id")]["refunds"].append(refund)
    store = ShopStore(domain)
    for p in plan.products:
        p["variants"] = [
            dict(v, inventory_quantity=max(int(v["inventory_quantity"]), 1)) for v in p["variants"]
        ]
    store.seed(products=plan.products, customers=plan.customers, orders=list(by_id.values()))
    shop_id = seed_shop(session, domain)
    for p in plan.products:
        upsert_product(session, shop_id, product_payload(p))
    payloads = [order_payload(store, gid("Order", o["id"])) for o in by_id.values()]
    for n, body in enumerate(payloads):
        upsert_order(session, shop_id, body)
        if n % 100 == 99:
            session.commit()
    session.commit()
    return Replayed(shop_id, store, payloads, {p["id"]: p["product_type"] for p in plan.products})


def product_payload(p: dict[str, Any]) -> dict[str, Any]:
    stamp = iso(p["created_at"])
    return {
        "id": p["id"],
        "title": p["title"],
        "handle": p["title"].lower().replace(" ", "-"),
        "product_type": p["product_type"],
        "vendor": p["vendor"],
        "status": "active",
        "tags": ", ".join(p["tags"]),
        "created_at": stamp,
        "updated_at": stamp,
        "published_at": stamp,
        "variants": [
            {
                "id": v["id"],
                "sku": v["sku"],
                "price": v["price"],
                "position": 1,
                "inventory_quantity": v["inventory_quantity"],
                "updated_at": stamp,
            }
            for v in p["variants"]
        ],
    }


def transactions(payloads: list[dict[str, Any]], types: dict[int, str]) -> pd.DataFrame:
    """The replayed orders as a transactions CSV frame (``app.backtest.datasets``' columns, the shop's ids):
    one row per order line, and a negative row per returned line at the refund's time."""
    rows = []
    for body in payloads:
        customer = body["customer"]["id"]
        products = {ln["id"]: ln for ln in body["line_items"]}
        for ln in body["line_items"]:
            rows.append(
                (customer, body["id"], body["processed_at"], ln["product_id"], ln["title"], ln["quantity"])
            )
        for refund in body["refunds"]:
            for rl in refund["refund_line_items"]:
                line = products[rl["line_item_id"]]
                rows.append(
                    (
                        customer,
                        f"R{refund['id']}",
                        refund["processed_at"],
                        line["product_id"],
                        line["title"],
                        -rl["quantity"],
                    )
                )
    frame = pd.DataFrame(
        rows, columns=["customer_id", "order_id", "ordered_at", "product_id", "product_title", "quantity"]
    )
    frame["unit_price"] = 1.0
    frame["product_type"] = frame["product_id"].map(types)
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True)
    return frame.astype({"customer_id": str, "order_id": str, "product_id": str})


def new_order(store: ShopStore, customer_id: int, product_ids: list[int], at: datetime) -> dict[str, Any]:
    """A new order of the customer in the fake store; returns its ``orders/create`` body."""
    variant = {gid_num(v["_product_id"]): gid_num(v["id"]) for v in store.variants.values()}
    order = store.add_order(
        {
            "customer_id": customer_id,
            "created_at": at,
            "lines": [{"variant_id": variant[p], "quantity": 1} for p in product_ids],
        }
    )
    return order_payload(store, order["id"])


@dataclass
class RowCount:
    rows: int = 0
    statements: int = 0


@contextmanager
def order_rows_read(engine: Engine):
    """Counts the rows that SELECTs reading the order tables (orders, lines, refunds) return, by running each
    such statement again as ``SELECT count(*)`` on its own connection's cursor."""
    count = RowCount()

    def after(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("SELECT") or not ORDER_TABLES.search(statement):
            return
        raw = conn.connection.dbapi_connection.cursor()
        try:
            raw.execute(f"SELECT count(*) FROM ({statement}) AS counted", parameters)
            count.rows += int(raw.fetchone()[0])
            count.statements += 1
        finally:
            raw.close()

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield count
    finally:
        event.remove(engine, "after_cursor_execute", after)


def order_lines_of(session: Session, shop_id: int, customer_id: int) -> tuple[int, int]:
    """(order lines, returned lines) of one customer."""
    lines = session.exec(
        text(
            "SELECT count(*) FROM order_line l JOIN shop_order o ON o.shop_id = l.shop_id "
            "AND o.shopify_id = l.order_shopify_id WHERE o.shop_id = :s AND o.customer_shopify_id = :c"
        ).bindparams(s=shop_id, c=customer_id)
    ).one()[0]
    returned = session.exec(
        text(
            "SELECT count(*) FROM refund_line r JOIN shop_order o ON o.shop_id = r.shop_id "
            "AND o.shopify_id = r.order_shopify_id WHERE o.shop_id = :s AND o.customer_shopify_id = :c"
        ).bindparams(s=shop_id, c=customer_id)
    ).one()[0]
    return int(lines), int(returned)


def double_shop(session: Session, shop: Replayed, except_customer: int) -> None:
    """The shop doubles: every other shopper orders their history again, a year later (new ids)."""
    for n, body in enumerate(b for b in shop.payloads if b["customer"]["id"] != except_customer):
        later = body["processed_at"].replace("Z", "+00:00")
        copy = dict(body, id=body["id"] + 10_000_000, refunds=[])
        copy["processed_at"] = copy["created_at"] = copy["updated_at"] = (
            pd.Timestamp(later) + timedelta(days=365)
        ).strftime("%Y-%m-%dT%H:%M:%SZ")
        copy["line_items"] = [dict(ln, id=ln["id"] + 10_000_000) for ln in body["line_items"]]
        upsert_order(session, shop.shop_id, copy)
        if n % 100 == 99:
            session.commit()
    session.commit()
