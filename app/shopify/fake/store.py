"""The fake Shopify's in-memory data, one ``ShopStore`` per shop, seeded from plain dicts.

Records are kept in the shape the Admin GraphQL API returns (camelCase keys, ``gid://`` ids, MoneyBag
objects), so the GraphQL layer can serve them as they are. Seeding accepts plain snake_case dicts, so
tests and the demo can fill a store from any dataset:

    store.add_product({"title": "Mug", "variants": [{"sku": "MUG-1", "price": "12.00",
                                                     "inventory_quantity": 5}]})
    store.add_product({"title": "Tee", "variants": [{"inventory_levels": [
        {"location_id": 1, "location_name": "Warehouse", "available": 7},
        {"location_id": 2, "location_name": "Shop floor", "available": 2}]}]})  # stock per location
    store.add_customer({"email": "a@example.com", "email_marketing": "SUBSCRIBED"})
    store.add_order({"customer_id": 1, "lines": [{"variant_id": 2, "quantity": 1}],
                     "refunds": [{"lines": [{"line": 0, "quantity": 1}]}]})

Numeric ids may be given (``id``); otherwise they are allocated. References (``customer_id``,
``variant_id``, ``product_id``) accept numeric ids or gids.

Longer than about 400 lines (just): one store per resource kind would scatter the id counters and the
seeding shortcuts that tie products, customers and orders together.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def gid(kind: str, num: int | str) -> str:
    return f"gid://shopify/{kind}/{num}"


def gid_num(value: int | str) -> int:
    """The numeric part of a gid (or the number itself)."""
    if isinstance(value, int):
        return value
    return int(str(value).rsplit("/", 1)[-1].split("?", 1)[0])


def iso(value: datetime | str | None) -> str | None:
    """An ISO-8601 UTC timestamp as Shopify writes it (``2024-01-02T03:04:05Z``)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decimal_str(amount: Any) -> str:
    """Money amounts as Shopify writes them (two decimals)."""
    return str(Decimal(str(amount or 0)).quantize(Decimal("0.01")))


def money(amount: Any, currency: str) -> dict[str, str]:
    return {"amount": decimal_str(amount), "currencyCode": currency}


def money_bag(amount: Any, currency: str) -> dict[str, dict[str, str]]:
    m = money(amount, currency)
    return {"shopMoney": m, "presentmentMoney": dict(m)}


_EMAIL_STATES = {"INVALID", "NOT_SUBSCRIBED", "PENDING", "SUBSCRIBED", "UNSUBSCRIBED"}
_SMS_STATES = {"NOT_SUBSCRIBED", "PENDING", "REDACTED", "SUBSCRIBED", "UNSUBSCRIBED"}


@dataclass
class ShopStore:
    """Everything one fake shop holds. Safe to seed and read from several threads."""

    domain: str
    name: str = ""
    currency: str = "USD"
    timezone: str = "UTC"
    email: str = ""
    locales: list[str] = field(default_factory=lambda: ["en"])  # shopLocales: the first is the primary
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    web_pixels: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # by ShopPolicyType
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    flow_triggers: list[dict[str, Any]] = field(default_factory=list)  # flowTriggerReceive calls accepted
    # (owner type, resolved namespace, key) -> the definition metafieldDefinitionCreate made
    metafield_definitions: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    webhooks_emitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (topic, payload)
    discounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # upper-cased code -> its discount
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)  # gid -> {"id", "name"}
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1_000_001), repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or self.domain.split(".", 1)[0].replace("-", " ").title()
        self.email = self.email or f"owner@{self.domain}"

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def _id(self, given: Any) -> int:
        return gid_num(given) if given is not None else self.next_id()

    # --- seeding ------------------------------------------------------------------------------

    def seed(
        self,
        *,
        products: list[dict[str, Any]] = (),  # type: ignore[assignment]
        customers: list[dict[str, Any]] = (),  # type: ignore[assignment]
        orders: list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> None:
        for p in products:
            self.add_product(p)
        for c in customers:
            self.add_customer(c)
        for o in orders:
            self.add_order(o)

    def add_product(self, data: dict[str, Any]) -> dict[str, Any]:
        now = iso(datetime.now(UTC))
        pid = gid("Product", self._id(data.get("id")))
        title = data.get("title") or "Untitled product"
        product = {
            "id": pid,
            "title": title,
            "handle": data.get("handle") or "-".join(title.lower().split()),
            "description": data.get("description") or "",
            "descriptionHtml": data.get("description_html") or data.get("description") or "",
            "productType": data.get("product_type") or "",
            "vendor": data.get("vendor") or self.name,
            "status": (data.get("status") or "ACTIVE").upper(),
            "tags": list(data.get("tags") or []),
            "createdAt": iso(data.get("created_at")) or now,
            "updatedAt": iso(data.get("updated_at") or data.get("created_at")) or now,
            "publishedAt": iso(data.get("published_at") or data.get("created_at")) or now,
            "onlineStoreUrl": data.get("online_store_url"),
            "featuredMedia": (
                {"preview": {"image": {"url": data["image_url"], "altText": title}}}
                if data.get("image_url")
                else None
            ),
            "_variant_ids": [],
        }
        with self.lock:
            self.products[pid] = product
        for position, v in enumerate(data.get("variants") or [{"title": "Default Title"}], start=1):
            self.add_variant(pid, {"position": position, **v})
        return product

    def add_variant(self, product_id: int | str, data: dict[str, Any]) -> dict[str, Any]:
        pid = gid("Product", gid_num(product_id))
        with self.lock:
            product = self.products[pid]
            vid = gid("ProductVariant", self._id(data.get("id")))
            qty = data.get("inventory_quantity")
            item_id = gid("InventoryItem", self._id(data.get("inventory_item_id")))
            levels = self._levels(item_id, data.get("inventory_levels") or [], iso(data.get("updated_at")))
            if qty is None and levels:
                qty = sum(lv["_quantities"]["available"] for lv in levels)
            variant = {
                "id": vid,
                "title": data.get("title") or "Default Title",
                "sku": data.get("sku"),
                "barcode": data.get("barcode"),
                "price": decimal_str(data.get("price", "0")),
                "compareAtPrice": (
                    decimal_str(data["compare_at_price"]) if data.get("compare_at_price") else None
                ),
                "inventoryQuantity": int(qty) if qty is not None else 0,
                "availableForSale": bool(data.get("available_for_sale", (qty is None) or int(qty) > 0)),
                "position": int(data.get("position") or len(product["_variant_ids"]) + 1),
                "createdAt": iso(data.get("created_at")) or product["createdAt"],
                "updatedAt": iso(data.get("updated_at")) or product["updatedAt"],
                "selectedOptions": [
                    {"name": k, "value": str(v)} for k, v in (data.get("options") or {}).items()
                ],
                "inventoryItem": {
                    "id": item_id,
                    "tracked": qty is not None,
                    "_levels": levels,
                    "sku": data.get("sku"),
                    "unitCost": (
                        {"amount": decimal_str(data["cost"]), "currencyCode": data.get("currency", "USD")}
                        if data.get("cost") is not None
                        else None
                    ),
                },
                "_product_id": pid,
            }
            self.variants[vid] = variant
            product["_variant_ids"].append(vid)
        return variant

    def _levels(
        self, item_id: str, raw: list[dict[str, Any]], default_at: str | None
    ) -> list[dict[str, Any]]:
        """The item's InventoryLevel records (one per location, Shopify's gid with its item in the query string),
        from ``{"location_id", "location_name", "available", "updated_at"}`` dicts; a variant seeded without
        ``inventory_levels`` has none. ``updated_at`` defaults to the variant's, else now."""
        out = []
        for lv in raw:
            loc = gid("Location", gid_num(lv["location_id"]))
            location = self.locations.setdefault(loc, {"id": loc, "name": lv.get("location_name") or loc})
            at = iso(lv.get("updated_at")) or default_at or iso(datetime.now(UTC))
            available = int(lv.get("available") or 0)
            out.append(
                {
                    "id": gid("InventoryLevel", f"{gid_num(loc)}?inventory_item_id={gid_num(item_id)}"),
                    "createdAt": at,
                    "updatedAt": at,
                    "location": location,
                    "_quantities": {"available": available, "on_hand": available},
                }
            )
        return out

    def set_inventory_level(
        self, variant_id: int | str, location_id: int | str, available: int
    ) -> dict[str, Any]:
        """A stock change at one location (as an admin adjustment would make it): the level's quantities and
        ``updatedAt``, and the variant's ``inventoryQuantity``."""
        with self.lock:
            variant = self.variants[gid("ProductVariant", gid_num(variant_id))]
            levels = variant["inventoryItem"]["_levels"]
            loc = gid("Location", gid_num(location_id))
            level = next((lv for lv in levels if lv["location"]["id"] == loc), None)
            if level is None:
                level = self._levels(variant["inventoryItem"]["id"], [{"location_id": location_id}], None)[0]
                levels.append(level)
            level["_quantities"] = {"available": int(available), "on_hand": int(available)}
            level["updatedAt"] = iso(datetime.now(UTC))
            variant["inventoryQuantity"] = sum(lv["_quantities"]["available"] for lv in levels)
            return level

    def add_customer(self, data: dict[str, Any]) -> dict[str, Any]:
        now = iso(datetime.now(UTC))
        cid = gid("Customer", self._id(data.get("id")))
        email_state = (data.get("email_marketing") or "NOT_SUBSCRIBED").upper()
        sms_state = (data.get("sms_marketing") or "NOT_SUBSCRIBED").upper()
        if email_state not in _EMAIL_STATES or sms_state not in _SMS_STATES:
            raise ValueError(f"unknown marketing state in {data!r}")
        updated = iso(data.get("updated_at") or data.get("created_at")) or now
        consent_at = iso(data.get("marketing_updated_at")) or updated
        customer = {
            "id": cid,
            "firstName": data.get("first_name"),
            "lastName": data.get("last_name"),
            "displayName": " ".join(x for x in (data.get("first_name"), data.get("last_name")) if x)
            or (data.get("email") or ""),
            "locale": data.get("locale") or "en",
            "state": (data.get("state") or "ENABLED").upper(),
            "tags": list(data.get("tags") or []),
            "verifiedEmail": bool(data.get("email")),
            "createdAt": iso(data.get("created_at")) or now,
            "updatedAt": updated,
            "defaultEmailAddress": (
                {
                    "emailAddress": data["email"],
                    "marketingState": email_state,
                    "marketingOptInLevel": data.get("email_opt_in_level")
                    or ("SINGLE_OPT_IN" if email_state == "SUBSCRIBED" else None),
                    "marketingUpdatedAt": consent_at if email_state != "NOT_SUBSCRIBED" else None,
                }
                if data.get("email")
                else None
            ),
            "defaultPhoneNumber": (
                {
                    "phoneNumber": data["phone"],
                    "marketingState": sms_state,
                    "marketingOptInLevel": data.get("sms_opt_in_level")
                    or ("SINGLE_OPT_IN" if sms_state == "SUBSCRIBED" else None),
                    "marketingUpdatedAt": consent_at if sms_state != "NOT_SUBSCRIBED" else None,
                    "marketingCollectedFrom": "OTHER" if sms_state != "NOT_SUBSCRIBED" else None,
                }
                if data.get("phone")
                else None
            ),
        }
        with self.lock:
            self.customers[cid] = customer
        return customer

    def add_order(self, data: dict[str, Any]) -> dict[str, Any]:
        now = iso(datetime.now(UTC))
        currency = data.get("currency") or self.currency
        num = self._id(data.get("id"))
        oid = gid("Order", num)
        created = iso(data.get("created_at")) or now
        lines = []
        with self.lock:
            for raw in data.get("lines") or []:
                variant = None
                if raw.get("variant_id") is not None:
                    variant = self.variants.get(gid("ProductVariant", gid_num(raw["variant_id"])))
                product_id = raw.get("product_id")
                pid = (
                    gid("Product", gid_num(product_id))
                    if product_id is not None
                    else (variant["_product_id"] if variant else None)
                )
                product = self.products.get(pid) if pid else None
                price = raw.get("price", variant["price"] if variant else "0")
                qty = int(raw.get("quantity", 1))
                title = raw.get("title") or (product["title"] if product else "Custom item")
                lines.append(
                    {
                        "id": gid("LineItem", self._id(raw.get("id"))),
                        "title": title,
                        "name": title
                        if not variant or variant["title"] == "Default Title"
                        else f"{title} - {variant['title']}",
                        "quantity": qty,
                        "currentQuantity": qty,
                        "sku": raw.get("sku") or (variant["sku"] if variant else None),
                        "vendor": product["vendor"] if product else None,
                        "originalUnitPriceSet": money_bag(price, currency),
                        "discountedTotalSet": money_bag(
                            Decimal(str(price)) * qty - Decimal(str(raw.get("discount", 0))), currency
                        ),
                        "_variant_id": variant["id"] if variant else None,
                        "_product_id": pid,
                    }
                )
            refunds = [self._build_refund(lines, raw, currency, created) for raw in data.get("refunds") or []]
            subtotal = sum(
                (Decimal(x["discountedTotalSet"]["shopMoney"]["amount"]) for x in lines), Decimal(0)
            )
            total = Decimal(str(data.get("total", subtotal)))
            refunded = sum(
                (Decimal(r["totalRefundedSet"]["shopMoney"]["amount"]) for r in refunds), Decimal(0)
            )
            customer_id = data.get("customer_id")
            order = {
                "id": oid,
                "name": data.get("name") or f"#{1000 + len(self.orders) + 1}",
                "email": data.get("email"),
                "test": bool(data.get("test", False)),
                "sourceName": data.get("source_name") or "web",
                "createdAt": created,
                "updatedAt": iso(data.get("updated_at")) or created,
                "processedAt": iso(data.get("processed_at")) or created,
                "cancelledAt": iso(data.get("cancelled_at")),
                "closedAt": iso(data.get("closed_at")),
                "displayFinancialStatus": (
                    data.get("financial_status") or _financial(total, refunded)
                ).upper(),
                "currencyCode": currency,
                "subtotalPriceSet": money_bag(subtotal, currency),
                "totalPriceSet": money_bag(total, currency),
                "totalRefundedSet": money_bag(refunded, currency),
                "currentTotalPriceSet": money_bag(max(Decimal(0), total - refunded), currency),
                "refunds": refunds,
                "statusPageUrl": f"https://{self.domain}/{num}/orders/{uuid.uuid4().hex[:16]}/authenticate",
                "fulfillments": [
                    {
                        "id": gid("Fulfillment", self.next_id()),
                        "status": (f.get("status") or "success").upper(),
                        "displayStatus": (f.get("shipment_status") or "").upper() or None,
                        "createdAt": iso(f.get("created_at")) or created,
                        "trackingInfo": [
                            {
                                "company": f.get("tracking_company"),
                                "number": f.get("tracking_number"),
                                "url": f.get("tracking_url"),
                            }
                        ]
                        if f.get("tracking_number")
                        else [],
                    }
                    for f in data.get("fulfillments") or []
                ],  # fmt: skip
                "_lines": lines,
                "_customer_id": gid("Customer", gid_num(customer_id)) if customer_id is not None else None,
            }
            self.orders[oid] = order
        return order

    def _build_refund(
        self, lines: list[dict[str, Any]], raw: dict[str, Any], currency: str, default_at: str
    ) -> dict[str, Any]:
        """A refund of some of ``lines`` (their ``currentQuantity`` goes down). Call with the lock held."""
        refund_lines, total = [], Decimal(0)
        for rl in raw.get("lines") or []:
            line = self._refund_target(lines, rl)
            qty = min(int(rl.get("quantity", line["quantity"])), line["currentQuantity"])
            line["currentQuantity"] -= qty
            unit = Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"])
            refund_lines.append(
                {
                    "id": gid("RefundLineItem", self.next_id()),
                    "quantity": qty,
                    "subtotalSet": money_bag(unit * qty, currency),
                    "_line_id": line["id"],
                }
            )
            total += unit * qty
        return {
            "id": gid("Refund", self._id(raw.get("id"))),
            "createdAt": iso(raw.get("created_at")) or default_at,
            "note": raw.get("note"),
            "totalRefundedSet": money_bag(raw.get("amount", total), currency),
            "_lines": refund_lines,
        }

    def add_refund(self, order_id: int | str, data: dict[str, Any]) -> dict[str, Any]:
        """A return on an existing order (``lines``: ``line`` index, ``variant_id`` or ``line_item_id``)."""
        with self.lock:
            order = self.orders[gid("Order", gid_num(order_id))]
            refund = self._build_refund(order["_lines"], data, order["currencyCode"], iso(datetime.now(UTC)))
            order["refunds"].append(refund)
            order["updatedAt"] = refund["createdAt"]
            refunded = sum(
                (Decimal(r["totalRefundedSet"]["shopMoney"]["amount"]) for r in order["refunds"]), Decimal(0)
            )
            total = Decimal(order["totalPriceSet"]["shopMoney"]["amount"])
            order["totalRefundedSet"] = money_bag(refunded, order["currencyCode"])
            order["currentTotalPriceSet"] = money_bag(
                max(Decimal(0), total - refunded), order["currencyCode"]
            )
            order["displayFinancialStatus"] = _financial(total, refunded)
        return refund

    @staticmethod
    def _refund_target(lines: list[dict[str, Any]], rl: dict[str, Any]) -> dict[str, Any]:
        if "line" in rl:
            return lines[int(rl["line"])]
        for line in lines:
            if rl.get("variant_id") is not None and line["_variant_id"] == gid(
                "ProductVariant", gid_num(rl["variant_id"])
            ):
                return line
            if rl.get("line_item_id") is not None and line["id"] == gid(
                "LineItem", gid_num(rl["line_item_id"])
            ):
                return line
        raise ValueError(f"refund line {rl!r} matches no order line")

    # --- lookups used by the GraphQL layer ----------------------------------------------------

    def node(self, node_id: str) -> dict[str, Any] | None:
        with self.lock:
            for table in (
                self.products,
                self.variants,
                self.customers,
                self.orders,
                self.web_pixels,
                self.bulk_operations,
                self.locations,
            ):
                if node_id in table:
                    return table[node_id]
        return None

    def shop_record(self) -> dict[str, Any]:
        return {
            "id": gid("Shop", abs(hash(self.domain)) % 10**10),
            "name": self.name,
            "email": self.email,
            "contactEmail": self.email,
            "myshopifyDomain": self.domain,
            "currencyCode": self.currency,
            "ianaTimezone": self.timezone,
            "primaryDomain": {"host": self.domain, "url": f"https://{self.domain}"},
            "plan": {"partnerDevelopment": True, "shopifyPlus": False, "publicDisplayName": "Development"},
        }

    def dump(self) -> str:
        """A JSON snapshot (for debugging and demo logs)."""
        with self.lock:
            return json.dumps(
                {"products": len(self.products), "customers": len(self.customers), "orders": len(self.orders)}
            )


def _financial(total: Decimal, refunded: Decimal) -> str:
    if refunded <= 0:
        return "PAID"
    return "REFUNDED" if refunded >= total else "PARTIALLY_REFUNDED"
