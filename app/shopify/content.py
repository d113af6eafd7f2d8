"""The shop's online-store content for the support agent's knowledge, read through the Admin GraphQL API:
legal policies (``shop { shopPolicies }``, scope ``read_legal_policies``) and published pages (``pages``,
scope ``read_online_store_pages``)."""

from __future__ import annotations

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


@dataclass(frozen=True)
class ContentDoc:
    """A policy or a page: ``key`` is stable (``policy:REFUND_POLICY``, ``page:<id>``)."""

    key: str
    kind: str  # policy | page
    title: str
    body_html: str
    url: str | None


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
