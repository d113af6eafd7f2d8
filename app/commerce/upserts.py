"""Version-guarded upserts of Shopify resources, shared by webhook handlers and the bulk backfill.

Each function takes a session, a shop id and one resource in Shopify's REST/webhook shape, writes
the rows, and never commits (the caller's transaction also marks the event done). A version replaces
the stored one only when its version key (``updated_at``, then content digest) is larger, so the
state after any permutation or duplication of deliveries is the state of the largest version.
Refunds carry no ``updated_at``: their versions merge instead (``insert_refund``), which converges as well.

A page of orders (the bulk backfill) goes through ``upsert_orders``: one transaction, the page's stored rows
read up front (``app.commerce.rows.Rows``) and new order lines inserted in one statement, then each order
through the same ``upsert_order`` as a webhook's, in page order, so the page ends in the state the same
orders written one by one would leave: the same invariant, at a cost per order that does not grow with the shop.

Longer than about 400 lines on purpose: every resource's upsert keeps the same invariant, and keeping them in
one module lets a reader check it once, for all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, select

from app.commerce.rows import Rows
from app.commerce.values import (
    EPOCH,
    content_hash,
    money,
    refund_money,
    shop_money,
    shopify_id,
    text,
    ts,
    version_key,
)
from app.models.base import utcnow
from app.models.commerce import (
    Cart,
    Checkout,
    Customer,
    InventoryLevel,
    Order,
    OrderLine,
    Product,
    ProductVariant,
    Refund,
    RefundLine,
)
from app.stores.consent import record_consent


def _get(session: Session, model: type[SQLModel], shop_id: int, **key: Any) -> Any:
    stmt = select(model).where(model.shop_id == shop_id)  # type: ignore[attr-defined]
    for column, value in key.items():
        stmt = stmt.where(getattr(model, column) == value)
    return session.exec(stmt.with_for_update()).first()


def _apply(row: Any, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(row, name, value)


def _guarded(session: Session, row: Any, fields: dict[str, Any], updated_at: datetime | None) -> bool:
    """Write ``fields`` onto ``row`` when this version beats the stored one; True when it did."""
    digest = content_hash(fields)
    if version_key(updated_at, digest) <= version_key(row.shopify_updated_at, row.content_hash):
        return False
    _apply(row, fields)
    row.shopify_updated_at = updated_at or EPOCH
    row.content_hash = digest
    session.add(row)
    return True


# --- customers ---------------------------------------------------------------------------------


def _customer_row(session: Session, shop_id: int, cid: int, rows: Rows | None = None) -> Customer:
    rows = rows or Rows(session, shop_id)
    row = rows.get(Customer, "shopify_id", cid)
    if row is None:
        row = rows.added(Customer, "shopify_id", Customer(shop_id=shop_id, shopify_id=cid))
    return row


def _consent_fields(data: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    email = data.get("email_marketing_consent")
    sms = data.get("sms_marketing_consent")
    return (email if isinstance(email, dict) else None, sms if isinstance(sms, dict) else None)


def upsert_customer(
    session: Session, shop_id: int, data: dict[str, Any], rows: Rows | None = None
) -> Customer | None:
    """customers/create|update, a customer embedded in an order or checkout, or a bulk customer."""
    cid = shopify_id(data.get("id"))
    if cid is None:
        return None
    row = _customer_row(session, shop_id, cid, rows)
    fields = {
        "email": text(data.get("email"), 320),
        "phone": text(data.get("phone"), 64),
        "first_name": text(data.get("first_name"), 255),
        "last_name": text(data.get("last_name"), 255),
        "state": text(data.get("state"), 32),
        "tags": text(data.get("tags"), 4000),
        "currency": text(data.get("currency"), 8),
        "note": text(data.get("note"), 4000),
        "default_address": data.get("default_address"),
        "shopify_created_at": ts(data.get("created_at")),
    }
    if data.get("locale"):  # GraphQL's customer has it; a payload without it keeps the stored one
        fields["locale"] = text(data.get("locale"), 16)
    _guarded(session, row, fields, ts(data.get("updated_at")))
    email, sms = _consent_fields(data)
    if email is not None and apply_consent(row, "email", email):
        mirror_consent(session, row, "email")
    if sms is not None and apply_consent(row, "sms", sms):
        mirror_consent(session, row, "sms")
    return row


def mirror_consent(session: Session, row: Customer, channel: str) -> None:
    """Copy the customer's newest ``email`` or ``sms`` consent into the consent mirror."""
    record_consent(
        session,
        row.shop_id,
        row.shopify_id,
        channel,
        getattr(row, f"{channel}_consent_state"),
        updated_at=getattr(row, f"{channel}_consent_updated_at"),
        opt_in_level=getattr(row, f"{channel}_consent_opt_in_level"),
    )


def apply_consent(row: Customer, channel: str, consent: dict[str, Any]) -> bool:
    """Apply an ``email`` or ``sms`` marketing consent when it is newer than the stored one."""
    incoming = (ts(consent.get("consent_updated_at")) or EPOCH, consent.get("state") or "")
    stored = (
        getattr(row, f"{channel}_consent_updated_at") or EPOCH,
        getattr(row, f"{channel}_consent_state") or "",
    )
    if incoming <= stored:
        return False
    setattr(row, f"{channel}_consent_updated_at", incoming[0])
    setattr(row, f"{channel}_consent_state", incoming[1])
    setattr(row, f"{channel}_consent_opt_in_level", text(consent.get("opt_in_level"), 64))
    return True


def _update_consent(
    session: Session, shop_id: int, cid: int | None, channel: str, consent: Any
) -> Customer | None:
    if cid is None or not isinstance(consent, dict):
        return None
    row = _customer_row(session, shop_id, cid)
    if apply_consent(row, channel, consent):
        session.add(row)
        mirror_consent(session, row, channel)
    return row


def update_email_consent(session: Session, shop_id: int, data: dict[str, Any]) -> Customer | None:
    """customers_email_marketing_consent/update."""
    cid = shopify_id(data.get("customer_id") or data.get("id"))
    return _update_consent(session, shop_id, cid, "email", data.get("email_marketing_consent"))


def update_sms_consent(session: Session, shop_id: int, data: dict[str, Any]) -> Customer | None:
    """customers_marketing_consent/update (SMS)."""
    cid = shopify_id(data.get("id") or data.get("customer_id"))
    return _update_consent(session, shop_id, cid, "sms", data.get("sms_marketing_consent"))


def update_purchasing_summary(
    session: Session, shop_id: int, data: dict[str, Any], rows: Rows | None = None
) -> Customer | None:
    """customers/purchasing_summary: Shopify's order count and amount spent, newest ``occurredAt`` wins."""
    cid = shopify_id(data.get("customerId"))
    if cid is None:
        return None
    row = _customer_row(session, shop_id, cid, rows)
    count = data.get("numberOfOrders")
    amount = money(data.get("amountSpent"))
    incoming = (ts(data.get("occurredAt")) or EPOCH, int(count or 0), amount or 0)
    stored = (row.summary_occurred_at or EPOCH, row.summary_orders_count or 0, row.summary_amount_spent or 0)
    if incoming > stored or row.summary_occurred_at is None:
        row.summary_occurred_at, row.summary_orders_count, row.summary_amount_spent = (
            incoming[0],
            int(count) if count is not None else None,
            amount,
        )
        session.add(row)
    return row


def delete_customer(session: Session, shop_id: int, data: dict[str, Any]) -> Customer | None:
    """customers/delete: a tombstone that no late update can undo."""
    cid = shopify_id(data.get("id"))
    if cid is None:
        return None
    row = _customer_row(session, shop_id, cid)
    if row.deleted_at is None:
        row.deleted_at = utcnow()
        session.add(row)
    return row


# --- products and inventory ----------------------------------------------------------------------


def upsert_product(session: Session, shop_id: int, data: dict[str, Any]) -> Product | None:
    """products/create|update or a bulk product (with ``variants``): the winning version sets the variants."""
    pid = shopify_id(data.get("id"))
    if pid is None:
        return None
    row = _get(session, Product, shop_id, shopify_id=pid)
    if row is None:
        row = Product(shop_id=shop_id, shopify_id=pid)
        session.add(row)
    variants = [v for v in data.get("variants") or [] if shopify_id(v.get("id")) is not None]
    fields = {
        "title": text(data.get("title"), 512),
        "handle": text(data.get("handle"), 512),
        "product_type": text(data.get("product_type"), 255),
        "vendor": text(data.get("vendor"), 255),
        "status": text(data.get("status"), 32),
        "tags": text(data.get("tags"), 4000),
        "body_html": data.get("body_html"),
        "published_at": ts(data.get("published_at")),
        "shopify_created_at": ts(data.get("created_at")),
    }
    # The variant set is part of the version, so two versions differing only in variants still order.
    versioned = dict(fields, variants=[_variant_fields(v) for v in variants])
    digest = content_hash(versioned)
    updated_at = ts(data.get("updated_at"))
    if version_key(updated_at, digest) <= version_key(row.shopify_updated_at, row.content_hash):
        return row
    _apply(row, fields)
    row.shopify_updated_at, row.content_hash = updated_at or EPOCH, digest
    session.add(row)
    _replace_variants(session, shop_id, pid, variants)
    return row


def _variant_fields(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "shopify_id": shopify_id(v.get("id")),
        "title": text(v.get("title"), 512),
        "sku": text(v.get("sku"), 255),
        "price": money(v.get("price")),
        "compare_at_price": money(v.get("compare_at_price")),
        "position": v.get("position"),
        "inventory_item_id": shopify_id(v.get("inventory_item_id")),
        "inventory_quantity": v.get("inventory_quantity"),
        "shopify_updated_at": ts(v.get("updated_at")),
    }


def _replace_variants(session: Session, shop_id: int, pid: int, variants: list[dict[str, Any]]) -> None:
    existing = {
        v.shopify_id: v
        for v in session.exec(
            select(ProductVariant).where(
                ProductVariant.shop_id == shop_id, ProductVariant.product_shopify_id == pid
            )
        )
    }
    keep: set[int] = set()
    for v in variants:
        fields = _variant_fields(v)
        vid = fields["shopify_id"]
        keep.add(vid)
        row = existing.get(vid) or _get(session, ProductVariant, shop_id, shopify_id=vid)
        if row is None:
            row = ProductVariant(shop_id=shop_id, shopify_id=vid, product_shopify_id=pid)
        _apply(row, fields)
        row.product_shopify_id = pid
        session.add(row)
    for vid, row in existing.items():
        if vid not in keep:
            session.delete(row)


def delete_product(session: Session, shop_id: int, data: dict[str, Any]) -> Product | None:
    """products/delete: tombstone the product (its variants stay for order history)."""
    pid = shopify_id(data.get("id"))
    if pid is None:
        return None
    row = _get(session, Product, shop_id, shopify_id=pid)
    if row is None:
        row = Product(shop_id=shop_id, shopify_id=pid)
    if row.deleted_at is None:
        row.deleted_at = utcnow()
    session.add(row)
    return row


def upsert_inventory_level(session: Session, shop_id: int, data: dict[str, Any]) -> InventoryLevel | None:
    item, location = shopify_id(data.get("inventory_item_id")), shopify_id(data.get("location_id"))
    if item is None or location is None:
        return None
    row = _get(session, InventoryLevel, shop_id, inventory_item_id=item, location_id=location)
    if row is None:
        row = InventoryLevel(shop_id=shop_id, inventory_item_id=item, location_id=location)
        session.add(row)
    available = data.get("available")
    incoming = (ts(data.get("updated_at")) or EPOCH, available if isinstance(available, int) else -(2**62))
    stored = (row.shopify_updated_at or EPOCH, row.available if row.available is not None else -(2**62))
    if row.shopify_updated_at is None or incoming > stored:
        row.shopify_updated_at, row.available = incoming[0], available if isinstance(available, int) else None
        session.add(row)
    return row


# --- orders and refunds ------------------------------------------------------------------------


def fulfillments(raw: Any) -> list[dict[str, Any]]:
    """An order's fulfilments as the support agent may tell them: status, shipment status, carrier, tracking
    number and link, when; at most 10, malformed ones dropped (the REST webhook's shape; the bulk sync maps
    GraphQL's into it)."""
    out: list[dict[str, Any]] = []
    for f in raw if isinstance(raw, list) else []:
        if not isinstance(f, dict):
            continue
        url = text(f.get("tracking_url") or next(iter(f.get("tracking_urls") or []), None), 1024)
        out.append(
            {
                "status": text(f.get("status"), 32),
                "shipment_status": text(f.get("shipment_status"), 32),
                "tracking_company": text(f.get("tracking_company"), 128),
                "tracking_number": text(
                    f.get("tracking_number") or next(iter(f.get("tracking_numbers") or []), None), 128
                ),
                "tracking_url": url if url and url.startswith(("https://", "http://")) else None,
                "created_at": (created.isoformat() if (created := ts(f.get("created_at"))) else None),
            }
        )
    return out[:10]


def _line_fields(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "shopify_id": shopify_id(line.get("id")),
        "product_shopify_id": shopify_id(line.get("product_id")),
        "variant_shopify_id": shopify_id(line.get("variant_id")),
        "title": text(line.get("title") or line.get("name"), 512),
        "sku": text(line.get("sku"), 255),
        "quantity": int(line.get("quantity") or 0),
        "price": shop_money(line, "price"),
        "total_discount": shop_money(line, "total_discount"),
    }


def _customer_of(data: dict[str, Any]) -> dict[str, Any] | None:
    customer = data.get("customer")
    return customer if isinstance(customer, dict) else None


def upsert_orders(session: Session, shop_id: int, orders: list[dict[str, Any]]) -> int:
    """A page of orders (bulk, REST shape) in one transaction: the page's stored orders, lines, customers and
    refunds read in one query per table, each order then written by ``upsert_order`` in page order, new lines
    inserted in one statement. Returns how many orders it wrote."""
    rows = Rows(session, shop_id)
    refunds = [r for data in orders for r in data.get("refunds") or [] if isinstance(r, dict)]
    rows.preload(Customer, "shopify_id", (shopify_id((_customer_of(d) or {}).get("id")) for d in orders))
    rows.preload(Order, "shopify_id", (shopify_id(d.get("id")) for d in orders))
    rows.preload(Refund, "shopify_id", (shopify_id(r.get("id")) for r in refunds))
    rows.preload(
        RefundLine,
        "shopify_id",
        (shopify_id(ln.get("id")) for r in refunds for ln in r.get("refund_line_items") or []),
    )
    rows.preload_lines(OrderLine, {oid for d in orders if (oid := shopify_id(d.get("id"))) is not None})
    with session.no_autoflush:
        written = sum(upsert_order(session, shop_id, data, rows) is not None for data in orders)
    rows.flush_lines(OrderLine)
    return written


def upsert_order(
    session: Session, shop_id: int, data: dict[str, Any], rows: Rows | None = None
) -> Order | None:
    """orders/create|paid|updated|cancelled or a bulk order: order, its lines, embedded customer, refunds."""
    oid = shopify_id(data.get("id"))
    if oid is None:
        return None
    rows = rows or Rows(session, shop_id)
    customer = _customer_of(data)
    if customer and shopify_id(customer.get("id")) is not None:
        upsert_customer(session, shop_id, customer, rows)
    row = rows.get(Order, "shopify_id", oid)
    if row is None:
        row = rows.added(Order, "shopify_id", Order(shop_id=shop_id, shopify_id=oid))
    lines = [ln for ln in data.get("line_items") or [] if shopify_id(ln.get("id")) is not None]
    fields = {
        "customer_shopify_id": shopify_id(customer.get("id")) if customer else None,
        "email": text(data.get("email") or data.get("contact_email"), 320),
        "phone": text(data.get("phone"), 64),
        "name": text(data.get("name"), 64),
        "currency": text(data.get("currency"), 8),
        # Shop money (``*_set.shop_money``): the order's amounts in the shop's currency, whatever the buyer saw.
        # ``total_price`` is what the order cost after discounts (shipping and taxes in), before returns;
        # money given back is the refunds' transactions, so ``current_total_price`` (already net of
        # returned lines) would take returns off twice.
        "total_price": shop_money(data, "total_price"),
        "subtotal_price": shop_money(data, "subtotal_price"),
        "total_discounts": shop_money(data, "total_discounts"),
        "financial_status": text(data.get("financial_status"), 32),
        "fulfillment_status": text(data.get("fulfillment_status"), 32),
        "cart_token": text(data.get("cart_token"), 255),
        "checkout_token": text(data.get("checkout_token"), 255),
        "source_name": text(data.get("source_name"), 64),
        "tags": text(data.get("tags"), 4000),
        "test": bool(data.get("test")),
        "status_url": text(data.get("order_status_url"), 1024),
        "fulfillments": fulfillments(data.get("fulfillments")),
        "cancelled_at": ts(data.get("cancelled_at")),
        "processed_at": ts(data.get("processed_at")) or ts(data.get("created_at")),
        "shopify_created_at": ts(data.get("created_at")),
    }
    versioned = dict(fields, lines=[_line_fields(ln) for ln in lines])
    digest = content_hash(versioned)
    updated_at = ts(data.get("updated_at"))
    if version_key(updated_at, digest) > version_key(row.shopify_updated_at, row.content_hash):
        _apply(row, fields)
        row.shopify_updated_at, row.content_hash = updated_at or EPOCH, digest
        session.add(row)
        _replace_lines(session, shop_id, oid, lines, rows)
    for refund in data.get("refunds") or []:
        if isinstance(refund, dict):
            insert_refund(session, shop_id, dict(refund, order_id=refund.get("order_id") or oid), rows)
    return row


def _replace_lines(session: Session, shop_id: int, oid: int, lines: list[dict[str, Any]], rows: Rows) -> None:
    """The order's lines become exactly ``lines``: stored ones updated, missing ones deleted, new ones added
    (a page keeps them as dicts in ``rows.lines``, inserted in bulk by ``Rows.flush_lines``)."""
    if rows.paged:
        existing = rows.lines.setdefault(oid, {})  # type: ignore[union-attr]
    else:
        existing = {
            ln.shopify_id: ln
            for ln in session.exec(
                select(OrderLine).where(OrderLine.shop_id == shop_id, OrderLine.order_shopify_id == oid)
            )
        }
    keep: set[int] = set()
    for line in lines:
        fields = dict(_line_fields(line), order_shopify_id=oid)
        lid = fields["shopify_id"]
        keep.add(lid)
        row = existing.get(lid)
        if isinstance(row, OrderLine):
            _apply(row, fields)
            session.add(row)
        elif rows.paged:
            existing[lid] = dict(fields, shop_id=shop_id)
        else:
            session.add(OrderLine(shop_id=shop_id, **fields))
    for lid in [lid for lid in existing if lid not in keep]:
        row = existing.pop(lid)
        if isinstance(row, OrderLine):
            session.delete(row)


def _money_key(amount: Any, currency: str | None) -> tuple[bool, Any, str]:
    """The order a refund's money versions are merged in: a known amount beats none, then the larger."""
    return (amount is not None, amount if amount is not None else 0, currency or "")


def insert_refund(
    session: Session, shop_id: int, data: dict[str, Any], rows: Rows | None = None
) -> Refund | None:
    """refunds/create, a refund inside an order, or a bulk refund: one row per refund, merged.

    A refund reaches us several times (its webhook, inside each later version of its order, a sync) and
    in any order. Shopify never changes what it refunded, only how much of it has gone through: a pending
    refund transaction turns successful. So the versions merge instead of the first one staying: the
    money returned (``amount``, shop currency, see ``refund_money``) is the largest any version showed
    (a known amount beats an unknown one), missing fields are filled, and each refund line is recorded
    once, against the order line it returns (``order_line_shopify_id``). Max and fill-in are commutative
    and idempotent, so any permutation or duplication of the versions ends in the same row.
    """
    rid, oid = shopify_id(data.get("id")), shopify_id(data.get("order_id"))
    if rid is None or oid is None:
        return None
    amount, currency = refund_money(data)
    rows = rows or Rows(session, shop_id)
    row = rows.get(Refund, "shopify_id", rid)
    if row is None:
        row = rows.added(Refund, "shopify_id", Refund(shop_id=shop_id, shopify_id=rid, order_shopify_id=oid))
    if _money_key(amount, currency) > _money_key(row.amount, row.currency):
        row.amount, row.currency = amount, currency
    for name, value in (
        ("note", text(data.get("note"), 4000)),
        ("restock", data.get("restock")),
        ("shopify_created_at", ts(data.get("created_at"))),
        ("processed_at", ts(data.get("processed_at"))),
    ):
        if getattr(row, name) is None and value is not None:
            setattr(row, name, value)
    session.add(row)
    for ln in data.get("refund_line_items") or []:
        lid = shopify_id(ln.get("id"))
        line_item = ln.get("line_item") or {}
        order_line = shopify_id(ln.get("line_item_id") or line_item.get("id"))
        if lid is None or order_line is None or rows.get(RefundLine, "shopify_id", lid):
            continue
        rows.added(
            RefundLine,
            "shopify_id",
            RefundLine(
                shop_id=shop_id,
                shopify_id=lid,
                refund_shopify_id=rid,
                order_shopify_id=oid,
                order_line_shopify_id=order_line,
                product_shopify_id=shopify_id(line_item.get("product_id")),
                variant_shopify_id=shopify_id(line_item.get("variant_id")),
                quantity=int(ln.get("quantity") or 0),
                subtotal=shop_money(ln, "subtotal"),
                restock_type=text(ln.get("restock_type"), 32),
            ),
        )
    return row


# --- carts and checkouts -----------------------------------------------------------------------


def _compact_lines(lines: Any) -> list[dict[str, Any]]:
    out = []
    for ln in lines or []:
        if not isinstance(ln, dict):
            continue
        out.append(
            {
                "product_id": shopify_id(ln.get("product_id")),
                "variant_id": shopify_id(ln.get("variant_id")),
                "quantity": ln.get("quantity"),
                "price": str(money(ln.get("price"))) if money(ln.get("price")) is not None else None,
                "title": ln.get("title"),
                "sku": ln.get("sku"),
            }
        )
    return out


def upsert_cart(session: Session, shop_id: int, data: dict[str, Any]) -> Cart | None:
    token = text(data.get("token") or data.get("id"), 255)
    if not token:
        return None
    row = _get(session, Cart, shop_id, token=token)
    if row is None:
        row = Cart(shop_id=shop_id, token=token)
        session.add(row)
    lines = _compact_lines(data.get("line_items"))
    total = sum((money(ln.get("line_price")) or 0 for ln in data.get("line_items") or []), start=money("0"))
    fields = {
        "note": text(data.get("note"), 4000),
        "line_items": lines,
        "total_price": total,
        "item_count": sum(int(ln.get("quantity") or 0) for ln in lines),
        "shopify_created_at": ts(data.get("created_at")),
    }
    if data.get("locale"):  # GraphQL's customer has it; a payload without it keeps the stored one
        fields["locale"] = text(data.get("locale"), 16)
    _guarded(session, row, fields, ts(data.get("updated_at")))
    return row


def upsert_checkout(session: Session, shop_id: int, data: dict[str, Any]) -> Checkout | None:
    token = text(data.get("token"), 255)
    if not token:
        return None
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else None
    if customer and shopify_id(customer.get("id")) is not None:
        upsert_customer(session, shop_id, customer)
    row = _get(session, Checkout, shop_id, token=token)
    if row is None:
        row = Checkout(shop_id=shop_id, token=token)
        session.add(row)
    fields = {
        "shopify_id": shopify_id(data.get("id")),
        "cart_token": text(data.get("cart_token"), 255),
        "customer_shopify_id": shopify_id(customer.get("id")) if customer else None,
        "email": text(data.get("email"), 320),
        "phone": text(data.get("phone"), 64),
        "currency": text(data.get("currency") or data.get("presentment_currency"), 8),
        "total_price": money(data.get("total_price")),
        "line_items": _compact_lines(data.get("line_items")),
        "abandoned_checkout_url": text(data.get("abandoned_checkout_url"), 2048),
        "buyer_accepts_marketing": data.get("buyer_accepts_marketing"),
        "buyer_accepts_sms_marketing": data.get("buyer_accepts_sms_marketing"),
        "sms_marketing_phone": text(data.get("sms_marketing_phone"), 64),
        **_region(data),
        "completed_at": ts(data.get("completed_at")),
        "shopify_created_at": ts(data.get("created_at")),
    }
    if data.get("locale"):  # GraphQL's customer has it; a payload without it keeps the stored one
        fields["locale"] = text(data.get("locale"), 16)
    _guarded(session, row, fields, ts(data.get("updated_at")))
    if row.deleted_at is None:
        row.deleted_at = _checkout_tombstone(session, shop_id, row.shopify_id, row.cart_token, token)
    return row


def _region(data: dict[str, Any]) -> dict[str, str | None]:
    """The country and province codes of the checkout's shipping address, else its billing address's."""
    for key in ("shipping_address", "billing_address"):
        address = data.get(key)
        if isinstance(address, dict) and address.get("country_code"):
            return {
                "country_code": text(address.get("country_code"), 8),
                "province_code": text(address.get("province_code"), 16),
            }
    return {"country_code": None, "province_code": None}


def _checkout_tombstone(
    session: Session, shop_id: int, cid: int | None, cart_token: str | None, token: str
) -> datetime | None:
    """A checkouts/delete that arrived before this checkout's create/update keeps it deleted."""
    for column, value in (("shopify_id", cid), ("cart_token", cart_token)):
        if value is None:
            continue
        stmt = select(Checkout.deleted_at).where(
            Checkout.shop_id == shop_id,
            getattr(Checkout, column) == value,
            Checkout.token != token,
            Checkout.deleted_at.is_not(None),  # type: ignore[union-attr]
        )
        found = session.exec(stmt).first()
        if found:
            return found
    return None


def delete_checkout(session: Session, shop_id: int, data: dict[str, Any]) -> int:
    """checkouts/delete (carries the id and cart token, not the checkout token). Returns rows marked."""
    cid, cart_token = shopify_id(data.get("id")), text(data.get("cart_token"), 255)
    rows: list[Checkout] = []
    if cid is not None:
        rows += list(
            session.exec(select(Checkout).where(Checkout.shop_id == shop_id, Checkout.shopify_id == cid))
        )
    if cart_token:
        rows += list(
            session.exec(
                select(Checkout).where(Checkout.shop_id == shop_id, Checkout.cart_token == cart_token)
            )
        )
    now = utcnow()
    if not rows:
        token = f"deleted:{cid if cid is not None else cart_token}"
        if _get(session, Checkout, shop_id, token=token) is None:
            session.add(
                Checkout(shop_id=shop_id, token=token, shopify_id=cid, cart_token=cart_token, deleted_at=now)
            )
        return 1
    for row in {id(r): r for r in rows}.values():
        if row.deleted_at is None:
            row.deleted_at = now
            session.add(row)
    return len(rows)
