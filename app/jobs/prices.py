"""Approved price changes: re-checked against every guardrail at the moment they are applied (a change
approved last week may now break the cool-down or the Omnibus rule), then written with
``productVariantsBulkUpdate``; the log records the outcome either way."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.agents.price_suggestions import check
from app.config import get_settings
from app.db import get_engine
from app.models.base import utcnow
from app.models.pricing import PriceChange
from app.shopify.admin import AdminAPIError, AdminClient
from app.shopify.discounts import update_prices
from app.stores.prices import applied, load_rules, variant_facts

log = logging.getLogger(__name__)


def apply_price_change(
    shop_id: int, change_id: int, now: datetime | None = None, client: AdminClient | None = None
) -> dict[str, Any]:
    settings = get_settings()
    now = now or utcnow()
    with Session(get_engine(settings.database_url)) as session:
        change = session.get(PriceChange, change_id)
        if change is None or change.shop_id != shop_id or change.status != "approved":
            return {"change": change_id, "status": getattr(change, "status", "missing")}
        facts = variant_facts(session, shop_id, now, [change.variant_id])
        if not facts:
            change.status, change.refusals = "refused", ["the variant is no longer in the catalogue"]
        else:
            compare = float(change.compare_at_price) if change.compare_at_price is not None else None
            result = check(facts[0], float(change.new_price or 0), compare, load_rules(session, shop_id), now)
            change.flags = list(result.flags)
            if not result.ok:
                change.status, change.refusals = "refused", list(result.refusals)
            else:
                try:
                    update_prices(
                        client or AdminClient.for_shop(settings, shop_id),
                        change.product_id,
                        [(change.variant_id, f"{change.new_price:.2f}",
                          f"{change.compare_at_price:.2f}" if change.compare_at_price is not None else None)],
                    )  # fmt: skip
                    applied(session, shop_id, change, now)
                except (AdminAPIError, OSError) as exc:
                    log.warning("price change %s: %s", change_id, exc)
                    change.status, change.error = "failed", f"Admin API: {str(exc)[:250]}"
        session.add(change)
        session.commit()
        return {"change": change_id, "status": change.status, "refusals": change.refusals}
