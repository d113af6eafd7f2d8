"""The three bulk queries the initial sync runs (``AdminClient.run_bulk_query``), and what they yield.

Shopify writes a bulk result as JSONL: **one node per line**, in the shape the query selects. Nested
connections are flattened: each child node gets its own line after its parent, carrying
``"__parentId"`` = the parent's gid. Non-connection lists (``refunds``, ``tags``) stay inline. Money
amounts are decimal strings; timestamps are ISO-8601 UTC strings (``2024-05-01T10:00:00Z``); ids are
gids (``gid://shopify/Product/123``, use ``gid_number``). Nullable fields are present with ``null``.

PRODUCTS yields two kinds of lines (tell them apart by the gid type, or by ``__parentId``):

- Product: ``{"id", "title", "handle", "description", "productType", "vendor", "status"
  ("ACTIVE"|"ARCHIVED"|"DRAFT"), "tags": [str], "createdAt", "updatedAt", "publishedAt",
  "onlineStoreUrl", "totalInventory": int, "featuredMedia": {"preview": {"image": {"url"}}} | null}``
- ProductVariant: ``{"id", "title", "sku", "barcode", "price": "12.00", "compareAtPrice": str|null,
  "availableForSale": bool, "inventoryQuantity": int, "position": int, "createdAt", "updatedAt",
  "selectedOptions": [{"name", "value"}], "inventoryItem": {"id", "tracked", "unitCost": {"amount",
  "currencyCode"} | null}, "__parentId": product gid}``. ``unitCost`` (the merchant's cost per item, the
  pricing agent's margin floor) is null where the merchant has not entered one; it needs ``read_inventory``.
- InventoryLevel (one line per location the variant's item is stocked at; the ``inventoryLevels`` connection
  sits inside the non-connection ``inventoryItem`` object, so its lines carry the variant's gid as
  ``__parentId``, the nearest enclosing connection node): ``{"id", "updatedAt", "location": {"id", "name"},
  "quantities": [{"name": "available", "quantity": int}], "__parentId": variant gid}``. Three connections
  (products, variants, inventoryLevels), two levels deep: within Shopify's bulk limits (five, two).

CUSTOMERS yields one line per customer (no nested connections):

- Customer: ``{"id", "firstName", "lastName", "displayName", "locale", "state", "tags": [str],
  "createdAt", "updatedAt", "numberOfOrders": "3" (a string: UnsignedInt64),
  "amountSpent": {"amount", "currencyCode"},
  "defaultEmailAddress": {"emailAddress", "marketingState" ("SUBSCRIBED"|"NOT_SUBSCRIBED"|"PENDING"|
  "UNSUBSCRIBED"|"INVALID"), "marketingOptInLevel" ("SINGLE_OPT_IN"|"CONFIRMED_OPT_IN"|"UNKNOWN"|null),
  "marketingUpdatedAt"} | null,
  "defaultPhoneNumber": {"phoneNumber", "marketingState" ("SUBSCRIBED"|"NOT_SUBSCRIBED"|"PENDING"|
  "UNSUBSCRIBED"|"REDACTED"), "marketingOptInLevel", "marketingUpdatedAt", "marketingCollectedFrom"} | null}``

  Consent is what these two objects say: email may be sent only when ``defaultEmailAddress.
  marketingState == "SUBSCRIBED"``, SMS only when ``defaultPhoneNumber.marketingState == "SUBSCRIBED"``.

ORDERS yields two kinds of lines:

- Order: ``{"id", "name", "email", "test", "sourceName", "createdAt", "updatedAt", "processedAt",
  "cancelledAt", "closedAt", "displayFinancialStatus", "currencyCode", "customer": {"id"} | null,
  "subtotalPriceSet", "totalPriceSet", "totalRefundedSet", "currentTotalPriceSet" (each
  ``{"shopMoney": {"amount", "currencyCode"}}``),
  "refunds": [{"id", "createdAt", "note", "totalRefundedSet": {"shopMoney": {...}}}], "statusPageUrl",
  "fulfillments": [{"status", "displayStatus", "createdAt", "trackingInfo": [{"company", "number", "url"}]}]}``
  (inline lists)
- LineItem: ``{"id", "title", "name", "quantity", "currentQuantity" (quantity after refunds and
  removals), "sku", "vendor", "variant": {"id"} | null, "product": {"id"} | null,
  "originalUnitPriceSet", "discountedTotalSet" (``{"shopMoney": {...}}``), "__parentId": order gid}``

  Per-line refunds show as ``quantity - currentQuantity``; refund amounts and times are in the order's
  inline ``refunds``. (Shopify's bulk API rejects a connection inside a list, so refund line items
  cannot be selected here.)

Each query takes an optional ``updated_since`` (incremental re-sync: only records updated at or after).
"""

from __future__ import annotations

from datetime import UTC, datetime

_MONEY = "shopMoney { amount currencyCode }"

_PRODUCT_FIELDS = """
        id title handle description productType vendor status tags
        createdAt updatedAt publishedAt onlineStoreUrl totalInventory
        featuredMedia { preview { image { url } } }
        variants {
          edges {
            node {
              id title sku barcode price compareAtPrice availableForSale inventoryQuantity position
              createdAt updatedAt
              selectedOptions { name value }
              inventoryItem {
                id tracked unitCost { amount currencyCode }
                inventoryLevels {
                  edges {
                    node {
                      id updatedAt
                      location { id name }
                      quantities(names: ["available"]) { name quantity }
                    }
                  }
                }
              }
            }
          }
        }"""

_CUSTOMER_FIELDS = """
        id firstName lastName displayName locale state tags createdAt updatedAt
        numberOfOrders
        amountSpent { amount currencyCode }
        defaultEmailAddress { emailAddress marketingState marketingOptInLevel marketingUpdatedAt }
        defaultPhoneNumber {
          phoneNumber marketingState marketingOptInLevel marketingUpdatedAt marketingCollectedFrom
        }"""

_ORDER_FIELDS = f"""
        id name email test sourceName createdAt updatedAt processedAt cancelledAt closedAt
        displayFinancialStatus currencyCode
        customer {{ id }}
        subtotalPriceSet {{ {_MONEY} }}
        totalPriceSet {{ {_MONEY} }}
        totalRefundedSet {{ {_MONEY} }}
        currentTotalPriceSet {{ {_MONEY} }}
        refunds {{ id createdAt note totalRefundedSet {{ {_MONEY} }} }}
        statusPageUrl
        fulfillments(first: 10) {{ status displayStatus createdAt trackingInfo(first: 1) {{ company number url }} }}
        lineItems {{
          edges {{
            node {{
              id title name quantity currentQuantity sku vendor
              variant {{ id }}
              product {{ id }}
              originalUnitPriceSet {{ {_MONEY} }}
              discountedTotalSet {{ {_MONEY} }}
            }}
          }}
        }}"""


def _query(root: str, fields: str, updated_since: datetime | None) -> str:
    args = ""
    if updated_since is not None:
        ts = updated_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        args = f"(query: \"updated_at:>='{ts}'\")"
    return f"{{\n  {root}{args} {{\n    edges {{\n      node {{{fields}\n      }}\n    }}\n  }}\n}}\n"


def products_query(updated_since: datetime | None = None) -> str:
    return _query("products", _PRODUCT_FIELDS, updated_since)


def customers_query(updated_since: datetime | None = None) -> str:
    return _query("customers", _CUSTOMER_FIELDS, updated_since)


def orders_query(updated_since: datetime | None = None) -> str:
    return _query("orders", _ORDER_FIELDS, updated_since)


PRODUCTS = products_query()
CUSTOMERS = customers_query()
ORDERS = orders_query()


def gid_type(gid: str) -> str:
    """``gid://shopify/ProductVariant/1`` → ``ProductVariant``."""
    return gid.split("/")[3]


def gid_number(gid: str) -> int:
    """``gid://shopify/ProductVariant/1`` → ``1``."""
    return int(gid.rsplit("/", 1)[-1].split("?", 1)[0])
