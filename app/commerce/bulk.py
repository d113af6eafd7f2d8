"""Bulk-operation JSONL (GraphQL shape, see ``app.shopify.bulk_queries``) → the REST/webhook shape the
upserts take. Children (variants, line items) follow their parent line, carrying ``__parentId``.
Plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from app.commerce.values import shopify_id


def _amount(money_set: Any) -> str | None:
    if not isinstance(money_set, dict):
        return None
    return ((money_set.get("shopMoney") or {}) or {}).get("amount")


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _ref(obj: Any) -> int | None:
    return shopify_id(obj.get("id")) if isinstance(obj, dict) else None


def group_children(
    records: Iterable[dict[str, Any]],
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(parent, descendants) pairs from JSONL where each child line follows its parent: children carry the
    parent's gid as ``__parentId``, grandchildren (a variant's inventory levels) a child's gid, or the gid of
    an object inside it (its ``inventoryItem``)."""
    parent: dict[str, Any] | None = None
    children: list[dict[str, Any]] = []
    known: set[Any] = set()
    for record in records:
        if "__parentId" in record:
            if parent is not None and record["__parentId"] in known:
                children.append(record)
                known.update(_ids(record))
            continue
        if parent is not None:
            yield parent, children
        parent, children, known = record, [], _ids(record)
    if parent is not None:
        yield parent, children


def _ids(record: dict[str, Any]) -> set[Any]:
    """The record's gid and those of the objects inline in it (``inventoryItem``)."""
    out = {record.get("id")}
    out.update(v.get("id") for v in record.values() if isinstance(v, dict) and v.get("id"))
    out.discard(None)
    return out


def _is_level(record: dict[str, Any]) -> bool:
    return "location" in record or "quantities" in record


def inventory_levels(variants: list[dict[str, Any]], lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The product's InventoryLevel lines in ``inventory_levels/update``'s shape: ``{"inventory_item_id",
    "location_id", "location_name", "available", "updated_at"}``; ``available`` is None when the line has no
    ``available`` quantity. A line whose parent is not one of the variants (or their items) is skipped."""
    items: dict[Any, Any] = {}
    for v in variants:
        item = v.get("inventoryItem") or {}
        items[v.get("id")] = items[item.get("id")] = item.get("id")
    out = []
    for line in lines:
        item = items.get(line.get("__parentId"))
        location = line.get("location") or {}
        if item is None or not location.get("id"):
            continue
        available = next(
            (q.get("quantity") for q in line.get("quantities") or [] if q.get("name") == "available"), None
        )
        out.append(
            {
                "inventory_item_id": shopify_id(item),
                "location_id": shopify_id(location.get("id")),
                "location_name": location.get("name"),
                "available": available,
                "updated_at": line.get("updatedAt"),
            }
        )
    return out


def product(node: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
    """The product with its variants and (``inventory_levels``) its items' levels per location."""
    variants = [c for c in children if not _is_level(c)]
    return {
        "id": shopify_id(node.get("id")),
        "title": node.get("title"),
        "handle": node.get("handle"),
        "product_type": node.get("productType"),
        "vendor": node.get("vendor"),
        "status": _lower(node.get("status")),
        "tags": ", ".join(node.get("tags") or []),
        "body_html": node.get("description"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "published_at": node.get("publishedAt"),
        "variants": [
            {
                "id": shopify_id(v.get("id")),
                "title": v.get("title"),
                "sku": v.get("sku"),
                "barcode": v.get("barcode"),
                "unit_cost": ((v.get("inventoryItem") or {}).get("unitCost") or {}).get("amount"),
                "price": v.get("price"),
                "compare_at_price": v.get("compareAtPrice"),
                "position": v.get("position"),
                "inventory_item_id": _ref(v.get("inventoryItem")),
                "inventory_quantity": v.get("inventoryQuantity"),
                "updated_at": v.get("updatedAt"),
            }
            for v in variants
        ],
        "inventory_levels": inventory_levels(variants, [c for c in children if _is_level(c)]),
    }


def customer(node: dict[str, Any]) -> dict[str, Any]:
    email = node.get("defaultEmailAddress") or {}
    phone = node.get("defaultPhoneNumber") or {}
    out: dict[str, Any] = {
        "id": shopify_id(node.get("id")),
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "locale": node.get("locale"),
        "state": _lower(node.get("state")),
        "tags": ", ".join(node.get("tags") or []),
        "email": email.get("emailAddress"),
        "phone": phone.get("phoneNumber"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
    }
    if email:
        out["email_marketing_consent"] = {
            "state": _lower(email.get("marketingState")),
            "opt_in_level": _lower(email.get("marketingOptInLevel")),
            "consent_updated_at": email.get("marketingUpdatedAt"),
        }
    if phone:
        out["sms_marketing_consent"] = {
            "state": _lower(phone.get("marketingState")),
            "opt_in_level": _lower(phone.get("marketingOptInLevel")),
            "consent_updated_at": phone.get("marketingUpdatedAt"),
        }
    return out


def purchasing_summary(node: dict[str, Any]) -> dict[str, Any]:
    """The customer's Shopify totals, in customers/purchasing_summary's shape."""
    return {
        "customerId": node.get("id"),
        "numberOfOrders": int(node["numberOfOrders"]) if node.get("numberOfOrders") is not None else None,
        "amountSpent": node.get("amountSpent"),
        "occurredAt": node.get("updatedAt"),
    }


def order(node: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    customer_id = _ref(node.get("customer"))
    return {
        "id": shopify_id(node.get("id")),
        "name": node.get("name"),
        "email": node.get("email"),
        "test": bool(node.get("test")),
        "source_name": node.get("sourceName"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "processed_at": node.get("processedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "financial_status": _lower(node.get("displayFinancialStatus")),
        "currency": node.get("currencyCode"),
        "subtotal_price": _amount(node.get("subtotalPriceSet")),
        "total_price": _amount(node.get("totalPriceSet")),
        "customer": {"id": customer_id} if customer_id is not None else None,
        "order_status_url": node.get("statusPageUrl"),
        "fulfillments": [
            {
                "status": _lower(f.get("status")),
                "shipment_status": _lower(f.get("displayStatus")),
                "created_at": f.get("createdAt"),
                "tracking_company": (track := next(iter(f.get("trackingInfo") or []), None) or {}).get(
                    "company"
                ),
                "tracking_number": track.get("number"),
                "tracking_url": track.get("url"),
            }
            for f in node.get("fulfillments") or []
            if isinstance(f, dict)
        ],
        "line_items": [
            {
                "id": shopify_id(ln.get("id")),
                "title": ln.get("title") or ln.get("name"),
                "quantity": ln.get("quantity"),
                "sku": ln.get("sku"),
                "variant_id": _ref(ln.get("variant")),
                "product_id": _ref(ln.get("product")),
                "price": _amount(ln.get("originalUnitPriceSet")),
            }
            for ln in lines
        ],
        # Bulk queries cannot select refund line items; the refunds themselves are recorded, with the money
        # each gave back (``totalRefundedSet``: its successful refund transactions, in shop money).
        "refunds": [
            {
                "id": shopify_id(r.get("id")),
                "created_at": r.get("createdAt"),
                "note": r.get("note"),
                "total_refunded_set": _shop_money_set(r.get("totalRefundedSet")),
            }
            for r in node.get("refunds") or []
        ],
    }


def _shop_money_set(money_set: Any) -> dict[str, Any] | None:
    """GraphQL's ``{"shopMoney": {"amount", "currencyCode"}}`` as REST's ``{"shop_money": {...}}``."""
    shop = money_set.get("shopMoney") if isinstance(money_set, dict) else None
    if not isinstance(shop, dict):
        return None
    return {"shop_money": {"amount": shop.get("amount"), "currency_code": shop.get("currencyCode")}}
