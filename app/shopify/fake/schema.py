"""The fake's Admin GraphQL API: a subset of Shopify's schema, executed for real by graphql-core.

Any selection the client sends over these types is answered from the shop's ``ShopStore``; unknown
fields fail validation exactly as they would against Shopify. Query cost lives in ``cost``; execution,
throttling and bulk operations in ``graphql_api``. It is longer than about 400 lines because it is one SDL
document: the subset of Shopify's schema the app queries, kept in one place so it reads like Shopify's.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any

from graphql import (
    GraphQLSchema,
    build_schema,
)

from app.shopify.fake.content import CONTENT_SDL
from app.shopify.fake.content import register as register_content
from app.shopify.fake.discounts import DISCOUNTS_SDL
from app.shopify.fake.errors import QueryError
from app.shopify.fake.prices import PRICES_SDL
from app.shopify.fake.store import ShopStore
from app.shopify.fake.writes import WRITES_SDL

SDL = """
scalar DateTime
scalar Decimal
scalar Money
scalar URL
scalar JSON
scalar HTML
scalar UnsignedInt64

interface Node { id: ID! }

type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type MoneyV2 { amount: Decimal! currencyCode: String! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }
type Domain { host: String! url: URL! }
type ShopPlan { partnerDevelopment: Boolean! shopifyPlus: Boolean! publicDisplayName: String! }
type UserError { field: [String!] message: String! }

type Shop implements Node {
  id: ID! name: String! email: String! contactEmail: String! myshopifyDomain: String!
  currencyCode: String! ianaTimezone: String! primaryDomain: Domain! plan: ShopPlan!
}

type Image { url: URL! altText: String }
type MediaPreviewImage { image: Image }
type Media { preview: MediaPreviewImage }
type SelectedOption { name: String! value: String! }
type InventoryItem implements Node {
  id: ID! tracked: Boolean! sku: String unitCost: MoneyV2
  inventoryLevels(first: Int, after: String, last: Int, before: String, reverse: Boolean): InventoryLevelConnection!
}
type Location implements Node { id: ID! name: String! }
type InventoryQuantity { id: ID! name: String! quantity: Int! updatedAt: DateTime }
type InventoryLevel implements Node {
  id: ID! createdAt: DateTime! updatedAt: DateTime! location: Location!
  quantities(names: [String!]!): [InventoryQuantity!]!
}

enum ProductStatus { ACTIVE ARCHIVED DRAFT }

type Product implements Node {
  id: ID! title: String! handle: String! description: String! descriptionHtml: HTML!
  productType: String! vendor: String! status: ProductStatus! tags: [String!]!
  createdAt: DateTime! updatedAt: DateTime! publishedAt: DateTime onlineStoreUrl: URL
  featuredMedia: Media totalInventory: Int!
  variants(first: Int, after: String, last: Int, before: String, reverse: Boolean): ProductVariantConnection!
}
type ProductVariant implements Node {
  id: ID! title: String! sku: String barcode: String price: Money! compareAtPrice: Money
  inventoryQuantity: Int availableForSale: Boolean! position: Int! createdAt: DateTime! updatedAt: DateTime!
  selectedOptions: [SelectedOption!]! inventoryItem: InventoryItem! product: Product!
}

enum CustomerState { DECLINED DISABLED ENABLED INVITED }
enum CustomerEmailAddressMarketingState { INVALID NOT_SUBSCRIBED PENDING SUBSCRIBED UNSUBSCRIBED }
enum CustomerSmsMarketingState { NOT_SUBSCRIBED PENDING REDACTED SUBSCRIBED UNSUBSCRIBED }
enum CustomerMarketingOptInLevel { CONFIRMED_OPT_IN SINGLE_OPT_IN UNKNOWN }
type CustomerEmailAddress {
  emailAddress: String marketingState: CustomerEmailAddressMarketingState!
  marketingOptInLevel: CustomerMarketingOptInLevel marketingUpdatedAt: DateTime
}
type CustomerPhoneNumber {
  phoneNumber: String! marketingState: CustomerSmsMarketingState!
  marketingOptInLevel: CustomerMarketingOptInLevel marketingUpdatedAt: DateTime marketingCollectedFrom: String
}
type Customer implements Node {
  id: ID! firstName: String lastName: String displayName: String! locale: String! state: CustomerState!
  tags: [String!]! verifiedEmail: Boolean! createdAt: DateTime! updatedAt: DateTime!
  numberOfOrders: UnsignedInt64! amountSpent: MoneyV2!
  defaultEmailAddress: CustomerEmailAddress defaultPhoneNumber: CustomerPhoneNumber
}

type LineItem implements Node {
  id: ID! title: String! name: String! quantity: Int! currentQuantity: Int! sku: String vendor: String
  originalUnitPriceSet: MoneyBag! discountedTotalSet: MoneyBag! variant: ProductVariant product: Product
}
type RefundLineItem { id: ID! quantity: Int! subtotalSet: MoneyBag! lineItem: LineItem! }
type Refund implements Node {
  id: ID! createdAt: DateTime note: String totalRefundedSet: MoneyBag!
  refundLineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean): RefundLineItemConnection!
}
type Order implements Node {
  id: ID! name: String! email: String test: Boolean! sourceName: String
  createdAt: DateTime! updatedAt: DateTime! processedAt: DateTime! cancelledAt: DateTime closedAt: DateTime
  displayFinancialStatus: String currencyCode: String! customer: Customer
  subtotalPriceSet: MoneyBag totalPriceSet: MoneyBag! totalRefundedSet: MoneyBag! currentTotalPriceSet: MoneyBag!
  refunds(first: Int): [Refund!]!
  lineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean): LineItemConnection!
  statusPageUrl: URL!
  fulfillments(first: Int): [Fulfillment!]!
}

enum FulfillmentStatus { CANCELLED ERROR FAILURE OPEN PENDING SUCCESS }
type FulfillmentTrackingInfo { company: String number: String url: URL }
type Fulfillment {
  id: ID! status: FulfillmentStatus! displayStatus: String createdAt: DateTime!
  trackingInfo(first: Int): [FulfillmentTrackingInfo!]!
}

type WebPixel implements Node { id: ID! settings: JSON! }

enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { MUTATION QUERY }
type BulkOperation implements Node {
  id: ID! status: BulkOperationStatus! errorCode: BulkOperationErrorCode type: BulkOperationType!
  createdAt: DateTime! completedAt: DateTime objectCount: UnsignedInt64! rootObjectCount: UnsignedInt64!
  fileSize: UnsignedInt64 url: URL partialDataUrl: URL query: String!
}
type BulkOperationUserError { field: [String!] message: String! code: String }
type BulkOperationRunQueryPayload { bulkOperation: BulkOperation userErrors: [BulkOperationUserError!]! }
type BulkOperationCancelPayload { bulkOperation: BulkOperation userErrors: [UserError!]! }
type ErrorsWebPixelUserError { field: [String!] message: String! code: String }
type WebPixelCreatePayload { webPixel: WebPixel userErrors: [ErrorsWebPixelUserError!]! }
type WebPixelUpdatePayload { webPixel: WebPixel userErrors: [ErrorsWebPixelUserError!]! }
type WebPixelDeletePayload { deletedWebPixelId: ID userErrors: [ErrorsWebPixelUserError!]! }
input WebPixelInput { settings: JSON! }
enum CustomerSmsMarketingConsentErrorCode { INCLUSION INTERNAL_ERROR INVALID MISSING_ARGUMENT }
type CustomerSmsMarketingConsentError {
  field: [String!] message: String! code: CustomerSmsMarketingConsentErrorCode
}
type CustomerSmsMarketingConsentUpdatePayload { customer: Customer userErrors: [CustomerSmsMarketingConsentError!]! }
input CustomerSmsMarketingConsentInput {
  marketingState: CustomerSmsMarketingState! marketingOptInLevel: CustomerMarketingOptInLevel
  consentUpdatedAt: DateTime sourceLocationId: ID
}
input CustomerSmsMarketingConsentUpdateInput { customerId: ID! smsMarketingConsent: CustomerSmsMarketingConsentInput! }

CONNECTIONS

type Query {
  shop: Shop!
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  product(id: ID!): Product
  productVariant(id: ID!): ProductVariant
  customer(id: ID!): Customer
  order(id: ID!): Order
  products(first: Int, after: String, last: Int, before: String, reverse: Boolean, query: String): ProductConnection!
  customers(first: Int, after: String, last: Int, before: String, reverse: Boolean, query: String): CustomerConnection!
  orders(first: Int, after: String, last: Int, before: String, reverse: Boolean, query: String): OrderConnection!
  webPixel(id: ID): WebPixel
  bulkOperation(id: ID!): BulkOperation
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
}

type Mutation {
  bulkOperationRunQuery(query: String!, groupObjects: Boolean): BulkOperationRunQueryPayload
  bulkOperationCancel(id: ID!): BulkOperationCancelPayload
  webPixelCreate(webPixel: WebPixelInput!): WebPixelCreatePayload
  webPixelUpdate(id: ID!, webPixel: WebPixelInput!): WebPixelUpdatePayload
  webPixelDelete(id: ID!): WebPixelDeletePayload
  customerSmsMarketingConsentUpdate(input: CustomerSmsMarketingConsentUpdateInput!): CustomerSmsMarketingConsentUpdatePayload
}
"""

_CONNECTION_TYPES = (
    "Product",
    "ProductVariant",
    "Customer",
    "Order",
    "LineItem",
    "RefundLineItem",
    "InventoryLevel",
)
SDL = (
    SDL.replace(
        "CONNECTIONS",
        "\n".join(
            f"type {t}Edge {{ cursor: String! node: {t}! }}\n"
            f"type {t}Connection {{ edges: [{t}Edge!]! nodes: [{t}!]! pageInfo: PageInfo! }}"
            for t in _CONNECTION_TYPES
        ),
    )
    + WRITES_SDL
    + CONTENT_SDL
    + DISCOUNTS_SDL
    + PRICES_SDL
)
__all__ = ["SCHEMA", "QueryError", "connection", "filter_records"]


# --- connections ------------------------------------------------------------------------------


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"i:{index}".encode()).decode()


def _index(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise QueryError(f"Invalid cursor for current pagination sort: {cursor}") from exc


def connection(items: list[Any], info: Any, args: dict[str, Any]) -> dict[str, Any]:
    first, last = args.get("first"), args.get("last")
    bulk = info.context.get("bulk", False)
    if first is None and last is None and not bulk:
        raise QueryError("you must provide one of first or last")
    for n in (first, last):
        if n is not None and not 0 <= n <= 250:
            raise QueryError("The number of requested items must be between 0 and 250")
    indexed = list(enumerate(items))
    if args.get("reverse"):
        indexed.reverse()
    positions = list(range(len(indexed)))
    if args.get("after"):
        after = _index(args["after"])
        positions = [p for p in positions if p > after]
    if args.get("before"):
        before = _index(args["before"])
        positions = [p for p in positions if p < before]
    window = positions
    if first is not None:
        window = positions[:first]
    elif last is not None:
        window = positions[-last:] if last else []
    edges = [{"cursor": _cursor(p), "node": indexed[p][1]} for p in window]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": bool(window) and window[-1] < (positions[-1] if positions else -1),
            "hasPreviousPage": bool(window) and window[0] > (positions[0] if positions else 0),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


_FILTER = re.compile(r"^(updated_at|created_at):(>=|<=|>|<)'?([^']+)'?$")


def filter_records(records: list[dict[str, Any]], query: str | None) -> list[dict[str, Any]]:
    """Shopify search syntax, the part we use: ``updated_at:>'2024-01-01T00:00:00Z'`` (AND-joined)."""
    if not query:
        return records
    out = records
    for term in query.split(" AND "):
        m = _FILTER.match(term.strip())
        if not m:
            raise QueryError(f"unsupported search term in the fake: {term!r}")
        key = "updatedAt" if m.group(1) == "updated_at" else "createdAt"
        op, value = m.group(2), m.group(3).replace("+00:00", "Z")
        cmp = {
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
        }[op]
        out = [r for r in out if cmp(r[key], value)]
    return out


# --- resolvers --------------------------------------------------------------------------------


def _store(info: Any) -> ShopStore:
    return info.context["store"]


def _type_of(record: dict[str, Any]) -> str:
    return record["id"].split("/")[3]


def build() -> GraphQLSchema:
    schema = build_schema(SDL)

    def resolve(type_name: str, field_name: str):
        def deco(fn):
            schema.type_map[type_name].fields[field_name].resolve = fn  # type: ignore[union-attr]
            return fn

        return deco

    node_iface = schema.type_map["Node"]
    node_iface.resolve_type = lambda value, _info, _type: _type_of(value)  # type: ignore[attr-defined]

    @resolve("Query", "shop")
    def _shop(_root, info):
        return _store(info).shop_record()

    @resolve("Query", "node")
    def _node(_root, info, id):
        return _store(info).node(id)

    @resolve("Query", "nodes")
    def _nodes(_root, info, ids):
        return [_store(info).node(i) for i in ids]

    for field_name, table in (
        ("product", "products"),
        ("productVariant", "variants"),
        ("customer", "customers"),
        ("order", "orders"),
    ):

        def _one(_root, info, id, _table=table):
            return getattr(_store(info), _table).get(id)

        schema.type_map["Query"].fields[field_name].resolve = _one  # type: ignore[union-attr]

    for field_name, table in (("products", "products"), ("customers", "customers"), ("orders", "orders")):

        def _many(_root, info, _table=table, **args):
            store = _store(info)
            with store.lock:
                records = list(getattr(store, _table).values())
            return connection(filter_records(records, args.get("query")), info, args)

        schema.type_map["Query"].fields[field_name].resolve = _many  # type: ignore[union-attr]

    @resolve("Query", "webPixel")
    def _web_pixel(_root, info, id=None):
        pixels = _store(info).web_pixels
        if id is not None:
            return pixels.get(id)
        if not pixels:
            raise QueryError("No web pixel was found for this app.", "NOT_FOUND")
        return next(iter(pixels.values()))

    @resolve("Query", "bulkOperation")
    def _bulk_op(_root, info, id):
        return _store(info).bulk_operations.get(id)

    @resolve("Query", "currentBulkOperation")
    def _current_bulk(_root, info, type="QUERY"):
        ops = [o for o in _store(info).bulk_operations.values() if o["type"] == type]
        return ops[-1] if ops else None

    @resolve("Product", "variants")
    def _variants(product, info, **args):
        store = _store(info)
        return connection([store.variants[v] for v in product["_variant_ids"]], info, args)

    @resolve("Product", "totalInventory")
    def _total_inventory(product, info):
        store = _store(info)
        return sum(store.variants[v]["inventoryQuantity"] or 0 for v in product["_variant_ids"])

    @resolve("InventoryItem", "inventoryLevels")
    def _inventory_levels(item, info, **args):
        return connection(list(item.get("_levels") or []), info, args)

    @resolve("InventoryLevel", "quantities")
    def _quantities(level, _info, names):
        """Shopify's quantity names: ``available``, ``on_hand``, ``committed``, ``incoming``, … (the fake keeps
        ``available`` and ``on_hand``, the same number; any other name reads 0)."""
        stored = level["_quantities"]
        return [
            {
                "id": f"{level['id']}&name={n}",
                "name": n,
                "quantity": stored.get(n, 0),
                "updatedAt": level["updatedAt"],
            }
            for n in names
        ]

    @resolve("ProductVariant", "product")
    def _variant_product(variant, info):
        return _store(info).products[variant["_product_id"]]

    def _customer_orders(info: Any, customer_id: str) -> list[dict[str, Any]]:
        """The customer's orders, from an index built once per request (a scan of every order per customer
        made a bulk export of 6,000 customers and 40,000 orders take minutes)."""
        index = info.context.get("_orders_by_customer")
        if index is None:
            index = info.context["_orders_by_customer"] = {}
            with _store(info).lock:
                for o in _store(info).orders.values():
                    index.setdefault(o["_customer_id"], []).append(o)
        return index.get(customer_id, [])

    @resolve("Customer", "numberOfOrders")
    def _n_orders(customer, info):
        return str(len(_customer_orders(info, customer["id"])))

    @resolve("Customer", "amountSpent")
    def _spent(customer, info):
        store = _store(info)
        total = sum(
            (
                Decimal(o["currentTotalPriceSet"]["shopMoney"]["amount"])
                for o in _customer_orders(info, customer["id"])
            ),
            Decimal(0),
        )
        return {"amount": str(total), "currencyCode": store.currency}

    @resolve("Order", "customer")
    def _order_customer(order, info):
        return _store(info).customers.get(order["_customer_id"]) if order["_customer_id"] else None

    @resolve("Order", "lineItems")
    def _line_items(order, info, **args):
        return connection(order["_lines"], info, args)

    @resolve("Order", "refunds")
    def _refunds(order, _info, first=None):
        return order["refunds"][:first] if first is not None else order["refunds"]

    @resolve("LineItem", "variant")
    def _line_variant(line, info):
        return _store(info).variants.get(line["_variant_id"]) if line["_variant_id"] else None

    @resolve("LineItem", "product")
    def _line_product(line, info):
        return _store(info).products.get(line["_product_id"]) if line["_product_id"] else None

    @resolve("Refund", "refundLineItems")
    def _refund_lines(refund, info, **args):
        return connection(refund["_lines"], info, args)

    register_content(schema, connection, _store)

    @resolve("RefundLineItem", "lineItem")
    def _refund_line_item(rli, info):
        for order in _store(info).orders.values():
            for line in order["_lines"]:
                if line["id"] == rli["_line_id"]:
                    return line
        return None

    return schema


SCHEMA = build()
