"""A shop with a sold-out variant, e-mail set up on a loopback SMTP server, and everyone treated (the agent's and
the global holdout at 0), for the back-in-stock tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from app.crypto import TokenCipher
from app.models.commerce import InventoryLevel, Product, ProductVariant
from app.models.serving import HoldoutPolicy
from app.models.shop import Shop
from app.stores.channels import save_email_settings

DOMAIN = "bis.myshopify.com"
PRODUCT, SOLD, STOCKED = 70, 701, 702  # SOLD is sold out, STOCKED in stock
ITEM = {SOLD: 7010, STOCKED: 7020}
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)  # noon UTC: inside the default allowed hours


def seed(session: Session, encryption_keys, smtp_url: str, *, holdout: float = 0.0) -> int:
    shop = Shop(domain=DOMAIN, access_token_enc="sealed", scopes="read_products", installed_at=NOW)
    session.add(shop)
    session.flush()
    session.add(
        Product(shop_id=shop.id, shopify_id=PRODUCT, title="Wool Socks", handle="wool-socks", status="active")
    )
    for vid, title, price in ((SOLD, "Large", "12.00"), (STOCKED, "Small", "11.00")):
        session.add(ProductVariant(shop_id=shop.id, shopify_id=vid, product_shopify_id=PRODUCT, title=title,
                                   price=price, position=1 if vid == SOLD else 2, inventory_item_id=ITEM[vid]))  # fmt: skip
    session.add(InventoryLevel(shop_id=shop.id, inventory_item_id=ITEM[SOLD], location_id=1, available=0))
    session.add(InventoryLevel(shop_id=shop.id, inventory_item_id=ITEM[STOCKED], location_id=1, available=9))
    session.add(HoldoutPolicy(shop_id=shop.id, agent="back_in_stock", share=holdout))
    session.add(HoldoutPolicy(shop_id=shop.id, agent="global", share=0.0))
    save_email_settings(
        session,
        TokenCipher(encryption_keys),
        shop.id,
        {
            "shop_name": "Sock Shop",
            "from_name": "Sock Shop",
            "from_address": "hello@socks.test",
            "postal_address": "1 Harbour St, Portland ME 04101",
        },  # fmt: skip
        smtp_url,
    )
    session.commit()
    return shop.id
