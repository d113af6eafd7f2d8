"""Jobs that finish an install: connect the web pixel (the initial backfill is ``app.jobs.sync``)."""

from __future__ import annotations

import logging

from sqlmodel import Session

from app.config import get_settings
from app.db import get_engine
from app.models.shop import Shop
from app.shopify.admin import AdminClient

log = logging.getLogger(__name__)


def connect_web_pixel(shop_id: int) -> str | None:
    """Create (or update) the shop's web pixel with its public key and our endpoint; store its id.

    Idempotent: a known pixel id is updated in place, and Shopify's "taken" answer finds and updates the
    existing one. Returns the pixel's gid, or None for a shop that is no longer installed.
    """
    settings = get_settings()
    engine = get_engine(settings.database_url)
    with Session(engine) as session:
        shop = session.get(Shop, shop_id)
        if shop is None or not shop.is_installed:
            return None
        pixel_key, pixel_id = shop.pixel_key, shop.web_pixel_id
    pixel = AdminClient.for_shop(settings, shop_id).ensure_web_pixel(pixel_key, settings.app_url, pixel_id)
    with Session(engine) as session:
        shop = session.get(Shop, shop_id)
        if shop is not None and shop.web_pixel_id != pixel.id:
            shop.web_pixel_id = pixel.id
            shop.touch()
            session.add(shop)
            session.commit()
    log.info("shop %s: web pixel %s connected", shop_id, pixel.id)
    return pixel.id
