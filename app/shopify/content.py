"""The shop's online-store content for the support agent's knowledge, read through the Admin GraphQL API:
legal policies (``shop { shopPolicies }``, scope ``read_legal_policies``), published pages (``pages``, scope
``read_online_store_pages``) and each active product's specifications, its metafields (``products { metafields }``,
scope ``read_products``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.shopify.admin import AdminClient

POLICIES_QUERY = "{ shop { primaryDomain { url } shopPolicies { id type title body url updatedAt } } }"
PAGES_QUERY = """query Pages($after: String) {
  pages(first: 50, after: $after) {
    nodes { id title handle body isPublished updatedAt }
    pageInfo { hasNextPage endCursor }
  }
}"""
MAX_PAGES = 500
SPECS_PAGE = (
    20  # products per request: 20 × 20 metafields with their definitions stays under the cost of 1,000
)
SPECS_QUERY = """query Specs($after: String) {
  products(first: 20, after: $after) {
    nodes { id title handle status
      metafields(first: 20) { nodes { namespace key type value definition { name } } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
MAX_SPEC_PRODUCTS = 10_000
# metafield types that read as text; references, files, colours, ratings and JSON are left out
_TEXT_TYPES = {"single_line_text_field", "multi_line_text_field", "number_integer", "number_decimal", "boolean",
               "date", "dimension", "weight", "volume", "rich_text_field"}  # fmt: skip
_UNITS = {"KILOGRAMS": "kg", "GRAMS": "g", "POUNDS": "lb", "OUNCES": "oz", "MILLIMETERS": "mm",
          "CENTIMETERS": "cm", "METERS": "m", "INCHES": "in", "FEET": "ft", "YARDS": "yd", "MILLILITERS": "ml",
          "CENTILITERS": "cl", "LITERS": "l", "CUBIC_METERS": "m³", "FLUID_OUNCES": "fl oz"}  # fmt: skip


@dataclass(frozen=True)
class ContentDoc:
    """A policy or a page: ``key`` is stable (``policy:REFUND_POLICY``, ``page:<id>``)."""

    key: str
    kind: str  # policy | page | metafield
    title: str
    body_html: str
    url: str | None
    product_id: int | None = None  # a product's specifications: the product they describe


def fetch_policies(client: AdminClient) -> list[ContentDoc]:
    shop = client.graphql(POLICIES_QUERY).get("shop") or {}
    return [
        ContentDoc(f"policy:{p['type']}", "policy", p["title"], p.get("body") or "", p.get("url"))
        for p in shop.get("shopPolicies") or []
        if (p.get("body") or "").strip()
    ]


def fetch_pages(client: AdminClient, storefront_url: str | None = None) -> list[ContentDoc]:
    """The shop's published pages (at most MAX_PAGES), each linked at ``<storefront>/pages/<handle>``."""
    out: list[ContentDoc] = []
    after: str | None = None
    base = (storefront_url or f"https://{client.shop}").rstrip("/")
    while len(out) < MAX_PAGES:
        data: dict[str, Any] = client.graphql(PAGES_QUERY, {"after": after}).get("pages") or {}
        for page in data.get("nodes") or []:
            if page.get("isPublished") and (page.get("body") or "").strip():
                out.append(
                    ContentDoc(
                        f"page:{page['id'].rsplit('/', 1)[-1]}",
                        "page",
                        page["title"],
                        page["body"],
                        f"{base}/pages/{page['handle']}",
                    )
                )
        info = data.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            break
        after = info.get("endCursor")
    return out[:MAX_PAGES]


def _rich_text(node: Any) -> str:
    if isinstance(node, dict):
        own = node.get("value") if node.get("type") == "text" else ""
        return (own or "") + " ".join(_rich_text(c) for c in node.get("children") or [])
    return ""


def spec_text(metafield: dict[str, Any], product_title: str) -> str | None:
    """One metafield as a sentence that names its product ("Alpine jacket, material: recycled nylon."), the
    field named by its definition or its key; None for an app's own metafield or a type that is not text."""
    kind, value, namespace = (
        metafield.get("type") or "",
        metafield.get("value"),
        metafield.get("namespace") or "",
    )
    listed = kind.startswith("list.")
    kind = kind.removeprefix("list.")
    if kind not in _TEXT_TYPES or value in (None, "") or namespace.startswith(("$app", "app--")):
        return None
    try:
        items = json.loads(value) if listed else [value]
        parts = []
        for item in items:
            if kind in ("dimension", "weight", "volume"):
                item = json.loads(item) if isinstance(item, str) else item
                item = f"{float(item['value']):g} {_UNITS.get(item['unit'], str(item['unit']).lower())}"
            elif kind == "rich_text_field":
                item = _rich_text(json.loads(item))
            elif kind == "boolean":
                item = "yes" if str(item).lower() == "true" else "no"
            parts.append(" ".join(str(item).split()))
    except (ValueError, KeyError, TypeError):  # a malformed value: left out, never a failed sync
        return None
    text = ", ".join(p for p in parts if p)
    if not text:
        return None
    name = ((metafield.get("definition") or {}).get("name") or metafield.get("key") or "").replace("_", " ")
    return f"{product_title}, {name.lower()}: {text}" + ("" if text.endswith((".", "!", "?")) else ".")


def fetch_product_specs(client: AdminClient) -> list[ContentDoc]:
    """Each active product's text metafields as one document (``spec:<product id>``), linked at its page
    (``/products/<handle>``, as the product's own passages are)."""
    out: list[ContentDoc] = []
    after: str | None = None
    for _ in range(MAX_SPEC_PRODUCTS // SPECS_PAGE):
        data: dict[str, Any] = client.graphql(SPECS_QUERY, {"after": after}).get("products") or {}
        for product in data.get("nodes") or []:
            if (product.get("status") or "ACTIVE") != "ACTIVE":
                continue
            pid = int(product["id"].rsplit("/", 1)[-1])
            title = " ".join((product.get("title") or f"Product {pid}").split())
            fields = (product.get("metafields") or {}).get("nodes") or []
            lines = [t for m in fields if (t := spec_text(m, title))]
            if lines:
                url = f"/products/{product['handle']}" if product.get("handle") else f"/products/{pid}"
                out.append(ContentDoc(f"spec:{pid}", "metafield", title, " ".join(lines), url, pid))
        info = data.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            break
        after = info.get("endCursor")
    return out
