"""Webhook payloads (REST shape, as Shopify sends them) built from the fake store's records.

The demo adds an order to the fake store and delivers exactly the ``orders/create`` payload Shopify would
send for it, so backfill (GraphQL bulk) and webhooks (REST JSON) describe the same objects.
"""

from __future__ import annotations

from typing import Any

from app.shopify.fake.store import ShopStore, gid_num


def _amount(bag: dict[str, Any] | None) -> str | None:
    return bag["shopMoney"]["amount"] if bag else None


def customer_payload(store: ShopStore, customer_gid: str) -> dict[str, Any]:
    c = store.customers[customer_gid]
    email = c.get("defaultEmailAddress") or {}
    phone = c.get("defaultPhoneNumber") or {}
    return {
        "id": gid_num(c["id"]),
        "admin_graphql_api_id": c["id"],
        "email": email.get("emailAddress"),
        "phone": phone.get("phoneNumber"),
        "first_name": c.get("firstName"),
        "last_name": c.get("lastName"),
        "state": (c.get("state") or "ENABLED").lower(),
        "tags": ", ".join(c.get("tags") or []),
        "created_at": c["createdAt"],
        "updated_at": c["updatedAt"],
        "email_marketing_consent": {
            "state": (email.get("marketingState") or "NOT_SUBSCRIBED").lower(),
            "opt_in_level": (email.get("marketingOptInLevel") or "").lower() or None,
            "consent_updated_at": email.get("marketingUpdatedAt"),
        }
        if email
        else None,
        "sms_marketing_consent": {
            "state": (phone.get("marketingState") or "NOT_SUBSCRIBED").lower(),
            "opt_in_level": (phone.get("marketingOptInLevel") or "").lower() or None,
            "consent_updated_at": phone.get("marketingUpdatedAt"),
            "consent_collected_from": phone.get("marketingCollectedFrom"),
        }
        if phone
        else None,
    }


def _line_payload(line: dict[str, Any]) -> dict[str, Any]:
    unit = _amount(line["originalUnitPriceSet"])
    total = _amount(line["discountedTotalSet"]) or "0"
    undiscounted = float(unit or 0) * line["quantity"]
    return {
        "id": gid_num(line["id"]),
        "admin_graphql_api_id": line["id"],
        "product_id": gid_num(line["_product_id"]) if line.get("_product_id") else None,
        "variant_id": gid_num(line["_variant_id"]) if line.get("_variant_id") else None,
        "title": line["title"],
        "name": line["name"],
        "sku": line.get("sku"),
        "vendor": line.get("vendor"),
        "quantity": line["quantity"],
        "current_quantity": line["currentQuantity"],
        "price": unit,
        "total_discount": f"{max(0.0, undiscounted - float(total)):.2f}",
    }


def refund_payload(store: ShopStore, order_gid: str, refund: dict[str, Any]) -> dict[str, Any]:
    order = store.orders[order_gid]
    lines = {ln["id"]: ln for ln in order["_lines"]}
    return {
        "id": gid_num(refund["id"]),
        "admin_graphql_api_id": refund["id"],
        "order_id": gid_num(order_gid),
        "created_at": refund["createdAt"],
        "processed_at": refund["createdAt"],
        "note": refund.get("note"),
        "restock": True,
        "refund_line_items": [
            {
                "id": gid_num(rl["id"]),
                "line_item_id": gid_num(rl["_line_id"]),
                "quantity": rl["quantity"],
                "restock_type": "return",
                "subtotal": _amount(rl["subtotalSet"]),
                "line_item": _line_payload(lines[rl["_line_id"]]),
            }
            for rl in refund["_lines"]
        ],
        # The money given back: one successful refund transaction (its currency: the order's).
        "transactions": [
            {
                "order_id": gid_num(order_gid),
                "kind": "refund",
                "status": "success",
                "gateway": "bogus",
                "amount": _amount(refund["totalRefundedSet"]),
                "currency": order["currencyCode"],
                "created_at": refund["createdAt"],
            }
        ],
    }


def order_payload(
    store: ShopStore,
    order_gid: str,
    *,
    cart_token: str | None = None,
    checkout_token: str | None = None,
) -> dict[str, Any]:
    """The ``orders/create`` (and ``orders/updated``) body for an order in the store."""
    o = store.orders[order_gid]
    customer = customer_payload(store, o["_customer_id"]) if o.get("_customer_id") else None
    subtotal, total = _amount(o["subtotalPriceSet"]), _amount(o["totalPriceSet"])
    return {
        "id": gid_num(o["id"]),
        "admin_graphql_api_id": o["id"],
        "name": o["name"],
        "email": o.get("email") or (customer or {}).get("email"),
        "contact_email": o.get("email") or (customer or {}).get("email"),
        "test": o["test"],
        "source_name": o["sourceName"],
        "created_at": o["createdAt"],
        "updated_at": o["updatedAt"],
        "processed_at": o["processedAt"],
        "cancelled_at": o.get("cancelledAt"),
        "closed_at": o.get("closedAt"),
        "financial_status": o["displayFinancialStatus"].lower(),
        "fulfillment_status": None,
        "currency": o["currencyCode"],
        "subtotal_price": subtotal,
        "total_price": total,
        "total_discounts": f"{max(0.0, float(subtotal or 0) - float(total or 0)):.2f}",
        "cart_token": cart_token,
        "checkout_token": checkout_token,
        "tags": "",
        "customer": customer,
        "line_items": [_line_payload(ln) for ln in o["_lines"]],
        "refunds": [refund_payload(store, order_gid, r) for r in o["refunds"]],
    }
