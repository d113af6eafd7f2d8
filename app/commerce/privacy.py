"""GDPR/CCPA: export and erase one customer's data, erase a shop's data. No commits here.

Convention: any shop-scoped table that stores something about a customer names the column
``customer_shopify_id``; such rows are exported with the customer and deleted on redaction (orders are
kept for the shop's books but lose every link to the person).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, delete, or_, update
from sqlalchemy import select as table_select
from sqlmodel import Session, SQLModel, select

from app.models.commerce import Checkout, Customer, Order, OrderLine, Refund, RefundLine
from app.models.guests import GuestContact, guest_id, guest_phone_id, normal_email
from app.models.inbox import PENDING, WebhookInbox
from app.models.messaging import ConversationMessage, MessageDecision, OutboxMessage
from app.stores.guests import normal_phone

# Tables handled explicitly below; the generic pass covers every other table with customer_shopify_id.
_EXPLICIT = {"customer", "shop_order", "order_line", "refund", "refund_line", "checkout", "webhook_inbox"}
SCRUBBED_PAYLOAD = '{"redacted":true}'


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row_dict(row: Any) -> dict[str, Any]:
    mapping = row._mapping if hasattr(row, "_mapping") else row.model_dump()
    return {k: _plain(v) for k, v in dict(mapping).items()}


def _customer_tables() -> list[Table]:
    return [
        t
        for t in SQLModel.metadata.sorted_tables
        if "customer_shopify_id" in t.c and "shop_id" in t.c and t.name not in _EXPLICIT
    ]


def _order_ids(session: Session, shop_id: int, customer_id: int, extra: list[int]) -> list[int]:
    ids = session.exec(
        select(Order.shopify_id).where(Order.shop_id == shop_id, Order.customer_shopify_id == customer_id)
    ).all()
    return sorted({int(i) for i in ids} | {int(i) for i in extra if isinstance(i, int)})


def export_customer(
    session: Session,
    shop_id: int,
    customer_id: int,
    *,
    email: str | None = None,
    phone: str | None = None,
    order_ids: list[int] = (),
) -> dict[str, Any]:
    """Everything stored about one customer of one shop, as plain JSON-ready data."""
    customer = session.exec(
        select(Customer).where(Customer.shop_id == shop_id, Customer.shopify_id == customer_id)
    ).first()
    orders = _order_ids(session, shop_id, customer_id, list(order_ids))
    in_orders = Order.shopify_id.in_(orders)  # type: ignore[attr-defined]
    doc: dict[str, Any] = {
        "shop_id": shop_id,
        "customer_id": customer_id,
        "customer": _row_dict(customer) if customer else None,
        "orders": [
            _row_dict(r) for r in session.exec(select(Order).where(Order.shop_id == shop_id, in_orders))
        ],
        "order_lines": [
            _row_dict(r)
            for r in session.exec(
                select(OrderLine).where(OrderLine.shop_id == shop_id, OrderLine.order_shopify_id.in_(orders))  # type: ignore[attr-defined]
            )
        ],
        "refunds": [
            _row_dict(r)
            for r in session.exec(
                select(Refund).where(Refund.shop_id == shop_id, Refund.order_shopify_id.in_(orders))  # type: ignore[attr-defined]
            )
        ],
        "refund_lines": [
            _row_dict(r)
            for r in session.exec(
                select(RefundLine).where(
                    RefundLine.shop_id == shop_id, RefundLine.order_shopify_id.in_(orders)
                )  # type: ignore[attr-defined]
            )
        ],
        "checkouts": [
            _row_dict(r)
            for r in session.exec(select(Checkout).where(_checkout_match(shop_id, customer_id, email, phone)))
        ],
        # as a guest (checkouts without an account): address, number, consent per channel, region
        "guest_contact": [
            _row_dict(r)
            for r in session.exec(select(GuestContact).where(_guest_match(shop_id, email, phone)))
        ],
    }
    for table in _customer_tables():
        if table.name == "gdpr_export":
            continue
        rows = session.execute(
            table_select(table).where(table.c.shop_id == shop_id, table.c.customer_shopify_id == customer_id)
        )
        doc[table.name] = [_row_dict(r) for r in rows]
    return doc


def export_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, default=str, indent=1)


def _phones(phone: str | None) -> list[str]:
    """The number as given and in E.164 (when it reads as one without a region)."""
    raw = (phone or "").strip()
    return sorted({raw, normal_phone(raw) or raw}) if raw else []


def _checkout_match(shop_id: int, customer_id: int, email: str | None, phone: str | None = None) -> Any:
    who = [Checkout.customer_shopify_id == customer_id]
    if email:
        who.append(Checkout.email == email)
    if numbers := _phones(phone):
        who.append(Checkout.phone.in_(numbers))  # type: ignore[union-attr]
        who.append(Checkout.sms_marketing_phone.in_(numbers))  # type: ignore[union-attr]
    return (Checkout.shop_id == shop_id) & or_(*who)


def _guest_keys(shop_id: int, email: str | None, phone: str | None) -> list[str]:
    """The person's guest keys: by their address, and by their number (a phone-only checkout)."""
    address = normal_email(email)
    keys = [guest_id(shop_id, address)] if address else []
    return keys + [guest_phone_id(shop_id, p) for p in _phones(phone)]


def _guest_match(shop_id: int, email: str | None, phone: str | None) -> Any:
    """``guest_contact`` rows of the person: their keys, or another key that holds their number."""
    who = [GuestContact.guest_key.in_(_guest_keys(shop_id, email, phone))]  # type: ignore[attr-defined]
    if numbers := _phones(phone):
        who.append(GuestContact.phone.in_(numbers))  # type: ignore[union-attr]
    return (GuestContact.shop_id == shop_id) & or_(*who)


def erase_customer(
    session: Session,
    shop_id: int,
    customer_id: int,
    *,
    email: str | None = None,
    phone: str | None = None,
    order_ids: list[int] = (),
) -> dict[str, int]:
    """customers/redact: remove the person from this shop (and only this shop). Returns counts."""
    orders = _order_ids(session, shop_id, customer_id, list(order_ids))
    counts: dict[str, int] = {}
    counts["customer"] = session.execute(
        delete(Customer).where(Customer.shop_id == shop_id, Customer.shopify_id == customer_id)
    ).rowcount
    counts["orders_scrubbed"] = session.execute(
        update(Order)
        .where(Order.shop_id == shop_id, Order.shopify_id.in_(orders))  # type: ignore[attr-defined]
        .values(customer_shopify_id=None, email=None, phone=None, cart_token=None, checkout_token=None)
    ).rowcount
    counts["checkout"] = session.execute(
        delete(Checkout).where(_checkout_match(shop_id, customer_id, email, phone))
    ).rowcount
    counts.update(_erase_guest(session, shop_id, email, phone))
    for table in _customer_tables():
        counts[table.name] = session.execute(
            delete(table).where(table.c.shop_id == shop_id, table.c.customer_shopify_id == customer_id)
        ).rowcount
    # Processed webhook payloads that mention the person are scrubbed too.
    needles = [str(customer_id)] + ([email] if email else [])
    counts["webhook_payloads"] = session.execute(
        update(WebhookInbox)
        .where(
            WebhookInbox.shop_id == shop_id,
            WebhookInbox.status != PENDING,
            or_(*[WebhookInbox.payload.contains(n, autoescape=True) for n in needles]),  # type: ignore[attr-defined]
        )
        .values(payload=SCRUBBED_PAYLOAD)
    ).rowcount
    return counts


def _erase_guest(session: Session, shop_id: int, email: str | None, phone: str | None) -> dict[str, int]:
    """The person's guest checkouts' trace: their address, number and consent (``guest_contact`` rows keyed by
    their address or number; another key's row that holds their number loses it and its SMS consent) and the
    rescue messages addressed to their guest keys."""
    keys = _guest_keys(shop_id, email, phone)
    if not keys:
        return {"guest_contact": 0}
    mine = (GuestContact.shop_id == shop_id) & GuestContact.guest_key.in_(keys)  # type: ignore[attr-defined]
    counts = {"guest_contact": session.execute(delete(GuestContact).where(mine)).rowcount}
    if numbers := _phones(phone):
        counts["guest_contact_phone_removed"] = session.execute(
            update(GuestContact)
            .where(GuestContact.shop_id == shop_id, GuestContact.phone.in_(numbers))  # type: ignore[union-attr]
            .values(phone=None, sms_state=None)
        ).rowcount
    for model in (ConversationMessage, OutboxMessage, MessageDecision):  # children before parents
        counts[f"{model.__tablename__}_as_guest"] = session.execute(
            delete(model).where(model.shop_id == shop_id, model.client_id.in_(keys))  # type: ignore[union-attr]
        ).rowcount
    return counts


def erase_shop(session: Session, shop_id: int, *, keep_inbox_id: int | None = None) -> dict[str, int]:
    """shop/redact: delete every shop-scoped row (the shop row itself stays, without tokens)."""
    counts: dict[str, int] = {}
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name == "shop" or "shop_id" not in table.c:
            continue
        stmt = delete(table).where(table.c.shop_id == shop_id)
        if table.name == WebhookInbox.__tablename__ and keep_inbox_id is not None:
            stmt = stmt.where(table.c.id != keep_inbox_id)
        counts[table.name] = session.execute(stmt).rowcount
    return counts
