"""A shop for the newsletter tests: e-mail set up on a loopback SMTP server, a camping catalogue, and subscribed
customers of three kinds (with their own recommendations, with a camping interest from their orders, with
nothing to personalise from), one unsubscribed and one without an address; every customer's browser is in a
zone where it is now noon, so quiet hours never defer the test's sends."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.crypto import TokenCipher
from app.measurement.holdout import GLOBAL
from app.models.commerce import Customer, Order, OrderLine, Product, ProductVariant
from app.models.journey import JourneyStage
from app.models.merchandising import ShopInterest
from app.models.messaging import ContactConsent
from app.models.profiles import CustomerProfile
from app.models.serving import HoldoutPolicy, RecommendationList
from app.stores.channels import save_email_settings

PRODUCTS = {11: "Lantern", 12: "Camp chair", 13: "Kettle", 14: "Sold-out tarp", 21: "Tent", 22: "Stove",
            23: "Sleeping bag"}  # fmt: skip
OUT_OF_STOCK = 14
RECOMMENDED = list(range(301, 311))  # each has their own list: 11, 12, 14 (out of stock), 13
CAMPERS = list(range(311, 317))  # bought the tent: the camping checklist is the stove and the sleeping bag
PLAIN = list(range(317, 321))  # nothing to personalise from
UNSUBSCRIBED, NO_ADDRESS = 330, 331
SUBSCRIBED = RECOMMENDED + CAMPERS + PLAIN
GLOBAL_SHARE = 0.15


def zone_at_noon(now: datetime) -> str:
    offset = 12 - now.hour
    return f"Etc/GMT{-offset:+d}"


def name_of(cid: int) -> str:
    return f"Name{cid}"


def seed(s: Any, shop_id: int, now: datetime, smtp_url: str, keys: list[str]) -> None:
    s.add(HoldoutPolicy(shop_id=shop_id, agent=GLOBAL, share=GLOBAL_SHARE))
    for pid, title in PRODUCTS.items():
        s.add(Product(shop_id=shop_id, shopify_id=pid, title=title, handle=title.lower().replace(" ", "-"),
                      status="active"))  # fmt: skip
        s.add(ProductVariant(shop_id=shop_id, shopify_id=pid + 1000, product_shopify_id=pid,
                             price=Decimal("25.00"), inventory_quantity=0 if pid == OUT_OF_STOCK else 5))  # fmt: skip
    s.add(ShopInterest(shop_id=shop_id, key="camping", name="camping", product_ids=["21", "22", "23"]))
    zone = zone_at_noon(now)
    for cid in [*SUBSCRIBED, UNSUBSCRIBED, NO_ADDRESS]:
        email = None if cid == NO_ADDRESS else f"c{cid}@example.com"
        s.add(Customer(shop_id=shop_id, shopify_id=cid, email=email, first_name=name_of(cid)))
        state = "UNSUBSCRIBED" if cid == UNSUBSCRIBED else "SUBSCRIBED"
        s.add(ContactConsent(shop_id=shop_id, customer_shopify_id=cid, channel="email", state=state,
                             consent_updated_at=now - timedelta(days=30)))  # fmt: skip
        s.add(CustomerProfile(shop_id=shop_id, customer_key=f"customer:{cid}", customer_shopify_id=cid,
                              contextual={"time_zone": {"value": zone}}))  # fmt: skip
        s.add(JourneyStage(shop_id=shop_id, shopper_key=f"customer:{cid}",
                           stage="repeat_buyer" if cid in CAMPERS else "browsing", explanation="seeded"))  # fmt: skip
    for cid in RECOMMENDED:
        s.add(RecommendationList(shop_id=shop_id, scope="customer", subject=str(cid), placement="home",
                                 strategy="test", items=[{"product_id": p} for p in (11, 12, 14, 13)]))  # fmt: skip
    for i, cid in enumerate(CAMPERS):
        oid = 50_000 + i
        s.add(Order(shop_id=shop_id, shopify_id=oid, customer_shopify_id=cid, test=False,
                    processed_at=now - timedelta(days=90), total_price=Decimal("25.00")))  # fmt: skip
        s.add(OrderLine(shop_id=shop_id, shopify_id=oid * 10, order_shopify_id=oid, product_shopify_id=21,
                        quantity=1))  # fmt: skip
    save_email_settings(s, TokenCipher(keys), shop_id, {
        "shop_name": "Camp & Co", "from_name": "Camp & Co", "from_address": "hello@camp.test",
        "postal_address": "1 Lake Rd, Bend OR 97701"}, smtp_url)  # fmt: skip


CAMPAIGN = {
    "name": "Spring edit",
    "subject": "Spring is here, {first_name}",
    "body": "Our spring edit is in, {first_name}. Here is what we picked at {shop}.",
    "products": 3,
    "holdout_share": 0.3,
    "variants": [
        {"subject": "{first_name}, your spring picks"},
        {"subject": "New at {shop} this spring", "body": "Fresh for spring at {shop}."},
    ],
}
