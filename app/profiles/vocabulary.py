"""The events a profile understands and the funnel they describe (shared by ingress and the model)."""

from __future__ import annotations

import re

STANDARD_EVENTS: tuple[str, ...] = (
    "page_viewed",
    "product_viewed",
    "collection_viewed",
    "search_submitted",
    "product_added_to_cart",
    "product_removed_from_cart",
    "cart_viewed",
    "checkout_started",
    "checkout_contact_info_submitted",
    "checkout_address_info_submitted",
    "checkout_shipping_info_submitted",
    "payment_info_submitted",
    "checkout_completed",
)
# Published by our theme extension (Shopify.analytics.publish); any other ``attune:`` name is refused.
CUSTOM_EVENTS: tuple[str, ...] = (
    "attune:assistant_opened",
    "attune:recommendation_clicked",
    "attune:shipping_notice_lingered",
)
KNOWN_EVENTS = frozenset(STANDARD_EVENTS + CUSTOM_EVENTS)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_:]{0,63}$")

# Funnel steps in order; the furthest step of an unfinished journey is its abandonment point.
FUNNEL: tuple[str, ...] = (
    "product_viewed",
    "product_added_to_cart",
    "cart_viewed",
    "checkout_started",
    "checkout_contact_info_submitted",
    "checkout_address_info_submitted",
    "checkout_shipping_info_submitted",
    "payment_info_submitted",
    "checkout_completed",
)
FUNNEL_RANK = {name: i + 1 for i, name in enumerate(FUNNEL)}
CHECKOUT_EVENTS = frozenset(
    n for n in STANDARD_EVENTS if n.startswith("checkout_") or n == "payment_info_submitted"
)


def is_known_event(name: str) -> bool:
    return bool(_NAME_RE.match(name)) and name in KNOWN_EVENTS
