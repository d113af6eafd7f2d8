"""The fake's online-store content: the shop's legal policies (``shop { shopPolicies { … } }``, which needs
``read_legal_policies``), its pages (``pages(first: …)``, which needs ``read_online_store_pages``) and products'
metafields (``Product.metafields``, with their ``definition``), as Shopify's Admin GraphQL API answers them.
Seeded with :func:`set_policy`, :func:`add_page` and :func:`set_product_metafield`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.shopify.fake.store import ShopStore, gid, iso
from app.shopify.fake.writes import require_scope

CONTENT_SDL = """
enum ShopPolicyType {
  CONTACT_INFORMATION LEGAL_NOTICE PRIVACY_POLICY REFUND_POLICY SHIPPING_POLICY SUBSCRIPTION_POLICY
  TERMS_OF_SALE TERMS_OF_SERVICE
}
type ShopPolicy implements Node {
  id: ID! type: ShopPolicyType! title: String! body: HTML! url: URL! createdAt: DateTime! updatedAt: DateTime!
}
extend type Shop { shopPolicies: [ShopPolicy!]! }
type Page implements Node {
  id: ID! title: String! handle: String! body: HTML! bodySummary: String! isPublished: Boolean!
  createdAt: DateTime! updatedAt: DateTime! publishedAt: DateTime
}
type PageEdge { cursor: String! node: Page! }
type PageConnection { edges: [PageEdge!]! nodes: [Page!]! pageInfo: PageInfo! }
type MetafieldEdge { cursor: String! node: Metafield! }
type MetafieldConnection { edges: [MetafieldEdge!]! nodes: [Metafield!]! pageInfo: PageInfo! }
extend type Metafield { definition: MetafieldDefinition }
extend type Product { metafields(first: Int, after: String, namespace: String): MetafieldConnection! }
extend type Query {
  pages(first: Int, after: String, last: Int, before: String, reverse: Boolean, query: String): PageConnection!
}
"""


def set_policy(store: ShopStore, policy_type: str, body: str, title: str | None = None) -> dict[str, Any]:
    """Set one legal policy (``REFUND_POLICY``, ``SHIPPING_POLICY`` …); an empty body removes it."""
    now = iso(datetime.now(UTC))
    kind = policy_type.upper()
    handle = kind.lower().replace("_", "-")
    with store.lock:
        old = store.policies.get(kind)
        store.policies[kind] = {
            "id": old["id"] if old else gid("ShopPolicy", store.next_id()),
            "type": kind,
            "title": title or kind.replace("_", " ").title(),
            "body": body,
            "url": f"https://{store.domain}/policies/{handle}",
            "createdAt": old["createdAt"] if old else now,
            "updatedAt": now,
        }
        return store.policies[kind]


def add_page(store: ShopStore, data: dict[str, Any]) -> dict[str, Any]:
    """Create or replace (same ``id``) an online-store page."""
    now = iso(datetime.now(UTC))
    title = data.get("title") or "Untitled page"
    body = data.get("body") or ""
    page = {
        "id": gid("Page", store._id(data.get("id"))),
        "title": title,
        "handle": data.get("handle") or "-".join(title.lower().split()),
        "body": body,
        "bodySummary": " ".join(body.split())[:150],
        "isPublished": bool(data.get("published", True)),
        "createdAt": iso(data.get("created_at")) or now,
        "updatedAt": now,
        "publishedAt": now if data.get("published", True) else None,
    }
    with store.lock:
        store.pages[page["id"]] = page
    return page


def set_product_metafield(
    store: ShopStore,
    product_id: int,
    namespace: str,
    key: str,
    value: str,
    kind: str,
    name: str | None = None,
) -> dict[str, Any]:
    """Set one metafield of a product already in the store (``kind``: Shopify's type name); ``name``: the
    merchant's definition of it, by that name."""
    with store.lock:
        if name:
            store.metafield_definitions[("PRODUCT", namespace, key)] = {
                "id": gid("MetafieldDefinition", store.next_id()), "namespace": namespace, "key": key,
                "name": name, "description": None, "ownerType": "PRODUCT", "type": {"name": kind},
                "pinnedPosition": None, "access": {"admin": "MERCHANT_READ_WRITE"},
            }  # fmt: skip
        stored = store.products[gid("Product", product_id)].setdefault("_metafields", {})
        record = stored.get((namespace, key)) or {"id": gid("Metafield", store.next_id())}
        record.update(namespace=namespace, key=key, value=value, type=kind, updatedAt=iso(datetime.now(UTC)))
        stored[(namespace, key)] = record
        return record


def register(schema: Any, connection, store_of) -> None:
    """Attach the resolvers of CONTENT_SDL's fields to ``schema``."""

    def shop_policies(_shop: dict[str, Any], info: Any) -> list[dict[str, Any]]:
        require_scope(info, "shopPolicies", "read_legal_policies")
        store = store_of(info)
        with store.lock:
            return [p for p in store.policies.values() if p["body"]]

    def pages(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
        require_scope(info, "pages", "read_online_store_pages")
        store = store_of(info)
        with store.lock:
            records = list(store.pages.values())
        return connection(records, info, args)

    def product_metafields(product: dict[str, Any], info: Any, **args: Any) -> dict[str, Any]:
        with store_of(info).lock:
            records = list((product.get("_metafields") or {}).values())
        if args.get("namespace"):
            records = [m for m in records if m["namespace"] == args["namespace"]]
        return connection(records, info, args)

    def definition(metafield: dict[str, Any], info: Any) -> dict[str, Any] | None:
        return store_of(info).metafield_definitions.get(("PRODUCT", metafield["namespace"], metafield["key"]))

    schema.type_map["Product"].fields["metafields"].resolve = product_metafields
    schema.type_map["Metafield"].fields["definition"].resolve = definition
    schema.type_map["Shop"].fields["shopPolicies"].resolve = shop_policies
    schema.type_map["Query"].fields["pages"].resolve = pages
