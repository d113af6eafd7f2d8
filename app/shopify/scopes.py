"""Which access scopes a shop has granted, and which of Attune's features wait for an optional one.

Required scopes are granted at install; optional ones (``Settings.optional_scopes``, ``optional_scopes`` in
``shopify.app.toml``) are asked for later, in the embedded admin, with App Bridge's ``shopify.scopes.request``.
A feature whose scope is missing degrades: it is skipped and recorded, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.models.shop import Shop

WRITE_CUSTOMERS = "write_customers"
READ_LOCALES = "read_locales"
READ_LEGAL_POLICIES = "read_legal_policies"
READ_ONLINE_STORE_PAGES = "read_online_store_pages"
READ_PRODUCTS = "read_products"
WRITE_DISCOUNTS = "write_discounts"
WRITE_PRODUCTS = "write_products"


@dataclass(frozen=True)
class Feature:
    key: str
    scope: str
    title: str
    detail: str


FEATURES: tuple[Feature, ...] = (
    Feature(
        "consent_writeback",
        WRITE_CUSTOMERS,
        "Unsubscribes written back to Shopify",
        "A shopper who unsubscribes from Attune's e-mail is also unsubscribed in Shopify "
        "(customerEmailMarketingConsentUpdate), so Shopify Email and other apps respect it.",
    ),
    Feature(
        "customer_metafields",
        WRITE_CUSTOMERS,
        "Attune's scores on customers",
        "Intent, churn risk, predicted next order and segment as customer metafields, for Shopify "
        "segments, Shopify Email and Messaging.",
    ),
    Feature(
        "shop_language",
        READ_LOCALES,
        "Messages in your shop's language",
        "Attune's e-mails, texts and notifications are written in your shop's primary language (a shopper "
        "whose own language Shopify knows gets theirs); without it, English.",
    ),
    Feature(
        "support_policies",
        READ_LEGAL_POLICIES,
        "Support answers from your policies",
        "The assistant answers shipping, returns and other policy questions from your shop's policies, with a "
        "link to them; without it, those questions go to you.",
    ),
    Feature(
        "support_pages",
        READ_ONLINE_STORE_PAGES,
        "Support answers from your pages",
        "The assistant also answers from your online store's published pages (FAQ, sizing, delivery).",
    ),
    Feature(
        "personal_offers",
        WRITE_DISCOUNTS,
        "Personal offers where they pay",
        "Single-use, customer-specific discount codes for hesitating shoppers whom an offer is expected to move, "
        "within your weekly budget and margin floor; without it, no offer is made.",
    ),
    Feature(
        "price_changes",
        WRITE_PRODUCTS,
        "Price changes you approve",
        "Markdowns and increases you approve are applied to your variants (productVariantsBulkUpdate) after the "
        "margin, step, cool-down and EU price-indication checks; without it, they are logged but not applied.",
    ),
)


def parse(scopes: str | Iterable[str] | None) -> frozenset[str]:
    """A scope set from Shopify's comma-separated form (or any iterable of scope names)."""
    if scopes is None:
        return frozenset()
    items = scopes.split(",") if isinstance(scopes, str) else scopes
    return frozenset(s.strip() for s in items if s and s.strip())


def granted(scopes: str | Iterable[str] | None) -> frozenset[str]:
    """The scopes a grant covers: ``write_x`` implies ``read_x`` (Shopify lists only the write scope)."""
    out = set(parse(scopes))
    out |= {s.replace("write_", "read_", 1) for s in out if "write_" in s}
    return frozenset(out)


def has_scope(shop: Shop | str | None, scope: str) -> bool:
    """Whether ``shop`` (a Shop row, or its stored ``scopes`` string) has granted ``scope``."""
    if shop is None:
        return False
    value = shop if isinstance(shop, str) else shop.scopes
    return scope in granted(value)


def waiting_features(scopes: str | Iterable[str] | None, optional: Iterable[str]) -> list[Feature]:
    """The features whose (optional) scope the shop has not granted yet."""
    have, asked = granted(scopes), set(optional)
    return [f for f in FEATURES if f.scope in asked and f.scope not in have]
