"""A small outdoor-gear shop with real purchase patterns, for the local storefront, tests and benchmarks.

Deterministic: the same rows every time. Patterns the recommenders should find: stove → fuel, boots →
socks, down jacket → beanie; socks, energy bars and fuel are bought again; one tent is out of stock; the
demo customer returned the trail shoes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from app.models.commerce import (
    Customer,
    InventoryLevel,
    Order,
    OrderLine,
    Product,
    ProductVariant,
    Refund,
    RefundLine,
)
from app.models.shop import Shop

# id, title, type, tags, price, stock, description
CATALOG: list[tuple[int, str, str, str, str, int, str]] = [
    (
        1001,
        "Alpine Down Jacket",
        "Outerwear",
        "warm, insulated, winter, hiking",
        "249.00",
        12,
        "A warm insulated down jacket for cold mountain hikes and winter camping.",
    ),
    (
        1002,
        "Merino Wool Hiking Socks",
        "Socks",
        "wool, warm, hiking, consumable",
        "19.00",
        80,
        "Soft merino wool socks that keep feet warm and dry on long hikes.",
    ),
    (
        1003,
        "Trail Running Shoes",
        "Footwear",
        "running, trail, lightweight",
        "139.00",
        20,
        "Lightweight trail running shoes with a grippy outsole.",
    ),
    (
        1004,
        "Waterproof Hiking Boots",
        "Footwear",
        "hiking, waterproof, boots",
        "189.00",
        15,
        "Sturdy waterproof leather boots for rough hiking trails.",
    ),
    (
        1005,
        "Polar Fleece Pullover",
        "Midlayer",
        "fleece, warm, hiking, layering",
        "79.00",
        25,
        "A cosy fleece midlayer that keeps you warm on chilly hikes.",
    ),
    (
        1006,
        "Insulated Water Bottle",
        "Accessories",
        "bottle, hydration",
        "29.00",
        40,
        "Keeps drinks cold for 24 hours or hot for 12.",
    ),
    (
        1007,
        "Carbon Trekking Poles",
        "Accessories",
        "hiking, poles, trekking",
        "99.00",
        18,
        "Adjustable carbon trekking poles for steep hiking terrain.",
    ),
    (
        1008,
        "Rechargeable Headlamp",
        "Accessories",
        "light, camping, night",
        "45.00",
        30,
        "A bright rechargeable headlamp for early starts and camp nights.",
    ),
    (
        1009,
        "Trail Energy Bars (12 pack)",
        "Food",
        "snack, energy, consumable",
        "24.00",
        100,
        "Oat and nut energy bars for the trail.",
    ),
    (
        1010,
        "Compact Camping Stove",
        "Cooking",
        "camping, stove, cooking",
        "69.00",
        14,
        "A compact gas stove that boils water in three minutes.",
    ),
    (
        1011,
        "Stove Fuel Canister",
        "Cooking",
        "fuel, gas, consumable",
        "9.00",
        200,
        "Isobutane fuel canister for camping stoves.",
    ),
    (
        1012,
        "Wide Brim Sun Hat",
        "Headwear",
        "sun, summer, hat",
        "35.00",
        22,
        "A breathable sun hat with a wide brim for hot summer days.",
    ),
    (
        1013,
        "Mineral Sunscreen SPF 50",
        "Care",
        "sun, summer, consumable",
        "16.00",
        60,
        "Reef-safe mineral sunscreen for long days outside.",
    ),
    (
        1014,
        "Packable Rain Shell",
        "Outerwear",
        "rain, waterproof, lightweight",
        "159.00",
        16,
        "A packable waterproof shell for sudden mountain showers.",
    ),
    (
        1015,
        "Thermal Knit Beanie",
        "Headwear",
        "warm, wool, winter",
        "29.00",
        35,
        "A thermal knit beanie that keeps your head warm in the cold.",
    ),
    (
        1016,
        "Ultralight Two-Person Tent",
        "Shelter",
        "camping, tent, ultralight",
        "399.00",
        0,
        "An ultralight two-person tent for backpacking trips.",
    ),
]
VARIANT = {pid: pid * 10 + 1 for pid, *_ in CATALOG}
PRICE = {pid: Decimal(price) for pid, _, _, _, price, _, _ in CATALOG}
TITLE = {pid: title for pid, title, *_ in CATALOG}

DEMO_CUSTOMER = 501  # boots + socks, then socks and bars again; returned the trail shoes
STOVE_CUSTOMER = 502  # stove + fuel, then fuel again
OUT_OF_STOCK = 1016
RETURNED = 1003

# Baskets other shoppers bought (each one repeated by several customers, with some noise).
PATTERNS = [
    [1010, 1011],
    [1010, 1011, 1008],
    [1004, 1002],
    [1004, 1002, 1007],
    [1001, 1015],
    [1001, 1015, 1005],
    [1012, 1013],
    [1012, 1013, 1006],
    [1009, 1006],
    [1016, 1008],
    [1014, 1005],
    [1003, 1009],
]


@dataclass(frozen=True)
class DemoShop:
    shop_id: int
    domain: str
    customer_id: int = DEMO_CUSTOMER
    stove_customer_id: int = STOVE_CUSTOMER


def _order(
    session: Session,
    shop_id: int,
    order_id: int,
    customer: int | None,
    at: datetime,
    lines: list[tuple[int, int]],
) -> None:
    total = sum(PRICE[p] * q for p, q in lines)
    session.add(
        Order(
            shop_id=shop_id,
            shopify_id=order_id,
            customer_shopify_id=customer,
            name=f"#{order_id}",
            currency="USD",
            total_price=total,
            subtotal_price=total,
            financial_status="paid",
            processed_at=at,
            shopify_created_at=at,
            shopify_updated_at=at,
        )
    )
    for n, (pid, qty) in enumerate(lines):
        session.add(
            OrderLine(
                shop_id=shop_id,
                shopify_id=order_id * 100 + n,
                order_shopify_id=order_id,
                product_shopify_id=pid,
                variant_shopify_id=VARIANT[pid],
                title=TITLE[pid],
                quantity=qty,
                price=PRICE[pid],
            )
        )


def seed_demo_shop(
    session: Session,
    domain: str = "attune-demo.myshopify.com",
    *,
    orders: bool = True,
    now: datetime | None = None,
) -> DemoShop:
    """Insert the demo shop (installed), its catalogue, customers and, unless ``orders=False``, its history."""
    now = now or datetime.now(UTC)
    shop = Shop(
        domain=domain, access_token_enc="demo-token", scopes="read_products,read_orders", installed_at=now
    )
    session.add(shop)
    session.flush()
    sid = shop.id
    assert sid is not None
    for pid, title, ptype, tags, price, stock, desc in CATALOG:
        session.add(
            Product(
                shop_id=sid,
                shopify_id=pid,
                title=title,
                handle=title.lower().replace(" ", "-").replace("(", "").replace(")", ""),
                product_type=ptype,
                vendor="Attune Outdoor",
                status="active",
                tags=tags,
                body_html=f"<p>{desc}</p>",
                published_at=now,
                shopify_created_at=now - timedelta(days=400 - pid % 100),
                shopify_updated_at=now,
            )
        )
        session.add(
            ProductVariant(
                shop_id=sid,
                shopify_id=VARIANT[pid],
                product_shopify_id=pid,
                title="Default",
                price=Decimal(price),
                position=1,
                inventory_item_id=pid * 100,
                inventory_quantity=stock,
                shopify_updated_at=now,
            )
        )
        session.add(
            InventoryLevel(
                shop_id=sid,
                inventory_item_id=pid * 100,
                location_id=1,
                available=stock,
                shopify_updated_at=now,
            )
        )
    for cid in (DEMO_CUSTOMER, STOVE_CUSTOMER):
        session.add(Customer(shop_id=sid, shopify_id=cid, email=f"c{cid}@example.com", currency="USD"))
    if orders:
        rng = random.Random(7)
        oid = 9000
        for c in range(60):
            customer = 600 + c
            pattern = PATTERNS[c % len(PATTERNS)]
            for k in range(1 + c % 3):
                basket = list(pattern if k == 0 else pattern[-1:])
                if rng.random() < 0.3:
                    basket.append(rng.choice([p for p, *_ in CATALOG if p not in basket]))
                oid += 1
                _order(
                    session,
                    sid,
                    oid,
                    customer,
                    now - timedelta(days=200 - 40 * k - c % 20),
                    [(p, 1) for p in dict.fromkeys(basket)],
                )
        _order(session, sid, 7001, DEMO_CUSTOMER, now - timedelta(days=90), [(1004, 1), (1002, 2)])
        _order(session, sid, 7002, DEMO_CUSTOMER, now - timedelta(days=60), [(1002, 2), (1009, 1), (1003, 1)])
        _order(session, sid, 7003, DEMO_CUSTOMER, now - timedelta(days=30), [(1009, 2), (1002, 1)])
        session.add(
            Refund(shop_id=sid, shopify_id=8001, order_shopify_id=7002, processed_at=now - timedelta(days=50))
        )
        session.add(
            RefundLine(
                shop_id=sid,
                shopify_id=8101,
                refund_shopify_id=8001,
                order_shopify_id=7002,
                order_line_shopify_id=700202,
                product_shopify_id=RETURNED,
                variant_shopify_id=VARIANT[RETURNED],
                quantity=1,
            )
        )
        _order(session, sid, 7101, STOVE_CUSTOMER, now - timedelta(days=70), [(1010, 1), (1011, 2)])
        _order(session, sid, 7102, STOVE_CUSTOMER, now - timedelta(days=20), [(1011, 3)])
    session.commit()
    return DemoShop(sid, domain)
