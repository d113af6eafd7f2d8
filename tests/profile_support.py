"""Helpers for the customer-model tests: realistic pixel event rows stored the way ingress stores them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.web.pixel import insert_new_events

_counter = itertools.count(1)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


def event_data(name: str, n: int, *, cart: str | None = None, customer: int | None = None) -> dict[str, Any]:
    variant = {
        "id": f"{100 + n % 3}",
        "price": {"amount": 40.0 + n % 3, "currencyCode": "EUR"},
        "product": {
            "id": "gid://shopify/Product/12",
            "title": "Trail shoe",
            "vendor": "Acme",
            "type": "Shoes",
        },
    }
    if name == "product_viewed":
        return {"variant": variant}
    if name in ("product_added_to_cart", "product_removed_from_cart"):
        return {"line": {"quantity": 1, "variant": variant}}
    if name == "search_submitted":
        return {"query": "trail shoes", "results": 4}
    if name == "cart_viewed":
        return {"cart": {"id": cart or "gid://shopify/Cart/C1?key=k", "totalQuantity": 1, "lines": []}}
    if name.startswith("checkout_") or name == "payment_info_submitted":
        return {"checkout": {"token": "CHK1", "city": "Lyon", "countryCode": "FR", "customerId": customer}}
    return {}


def pixel_rows(
    session: Session,
    shop_id: int,
    client_id: str,
    names: list[str],
    *,
    customer: int | None = None,
    cart: str | None = None,
    start: int | None = None,
    t0: datetime = T0,
) -> list[int]:
    """Store one event per name (20 s apart) for ``client_id``; returns the new rows' ids."""
    base = next(_counter) * 1000 if start is None else start
    rows = []
    for i, name in enumerate(names):
        n = base + i
        url = "https://alpha.example/collections/shoes?filter.v.option.color=Blue&utm_source=news&utm_medium=email"
        rows.append(
            {
                "shop_id": shop_id,
                "event_id": f"{client_id}-{n}",
                "client_id": client_id,
                "customer_shopify_id": customer,
                "name": name,
                "occurred_at": t0 + timedelta(seconds=20 * n),
                "received_at": datetime.now(UTC),
                "context": {
                    "url": url,
                    "referrer": "https://www.google.com/",
                    "userAgent": UA,
                    "timeZone": "Europe/Paris",
                },
                "data": event_data(name, n, cart=cart, customer=customer),
            }
        )
    ids = insert_new_events(session, rows)
    session.commit()
    return ids
