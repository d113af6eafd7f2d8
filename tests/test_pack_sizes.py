"""Variant where it matters (issue 17): a variant's size is read from its title, the replenishment model counts
consumption in the product's smallest variant, and a reorder puts back the variant's own quantity."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app.jobs.replenishment import forecast_shop
from app.models.commerce import Customer, OrderLine, Product, ProductVariant
from app.models.replenishment import ReplenishmentForecast
from app.recommend.pack_sizes import of_variant, pack_factors, pack_size
from app.storefront.demo_data import seed_demo_shop
from tests.test_replenishment_job import NOW, order


@pytest.mark.parametrize(
    ("title", "size"),
    [
        ("24 pack", ("count", 24.0)),
        ("Big pack (24 pack)", ("count", 24.0)),
        ("Coffee 1 kg", ("mass", 1000.0)),
        ("2 x 500 g", ("mass", 1000.0)),
        ("1,5 l", ("volume", 1500.0)),
        ("16 oz", ("mass", pytest.approx(453.592))),
        ("x 6", ("count", 6.0)),
        ("Red", None),
        ("Default Title", None),
        (None, None),
        ("0 g", None),
    ],
)
def test_pack_size_from_a_title(title, size):
    assert pack_size(title) == size


def test_factors_only_where_every_variant_states_a_size_of_one_kind():
    factors = pack_factors(
        [(1, 10, "12 pack"), (2, 10, "24 pack"),  # counts: 1 and 2
         (3, 11, "Red"), (4, 11, "Blue"),  # colours: a unit is a unit
         (5, 12, "250 g"), (6, 12, "1 kg"),  # weights: 1 and 4
         (7, 13, "250 g"), (8, 13, "Gift box"),  # one has no size: not scaled
         (9, 14, "500 ml"), (10, 14, "12 pack")]  # two kinds: not scaled
    )  # fmt: skip
    assert factors == {1: 1.0, 2: 2.0, 3: 1.0, 4: 1.0, 5: 1.0, 6: 4.0, 7: 1.0, 8: 1.0, 9: 1.0, 10: 1.0}
    assert (
        of_variant(4, factors, 6) == 1 and of_variant(8, factors, 6) == 2 and of_variant(3, factors, 1) == 3
    )
    assert of_variant(0.4, factors, None) == 1  # never an empty cart line


def test_a_bigger_pack_lasts_longer(session, settings):
    sid = seed_demo_shop(session, orders=False, now=NOW).shop_id
    session.add(
        Product(
            shop_id=sid, shopify_id=5_000, title="Pods", handle="pods", product_type="Coffee", status="active"
        )
    )
    session.add(ProductVariant(shop_id=sid, shopify_id=50_012, product_shopify_id=5_000, title="12 pack", position=1,
                               price="6.00", inventory_quantity=50))  # fmt: skip
    session.add(ProductVariant(shop_id=sid, shopify_id=50_048, product_shopify_id=5_000, title="48 pack", position=2,
                               price="22.00", inventory_quantity=50))  # fmt: skip
    for cid in (1, 2):  # two shoppers with a 12-pack a week; the second's last is a 48-pack
        session.add(Customer(shop_id=sid, shopify_id=cid, email=f"p{cid}@example.com"))
        for days_ago in (35, 28, 21, 14):
            order(session, sid, cid, days_ago, [(5_000, 1)])
        order(session, sid, cid, 7, [(5_000, 1)])
    session.flush()
    for line in session.exec(
        select(OrderLine).where(OrderLine.shop_id == sid, OrderLine.product_shopify_id == 5_000)
    ):
        line.variant_shopify_id = 50_012
    last_big = session.exec(
        select(OrderLine)
        .where(OrderLine.shop_id == sid, OrderLine.product_shopify_id == 5_000)
        .order_by(OrderLine.id.desc())
    ).first()
    last_big.variant_shopify_id = 50_048
    session.commit()
    forecast_shop(sid, settings, now=NOW)
    rows = {
        r.customer_shopify_id: r
        for r in session.exec(select(ReplenishmentForecast).where(ReplenishmentForecast.shop_id == sid))
    }
    small, big = rows[1], rows[2]
    assert (small.due_at - small.last_purchase_at) < timedelta(days=10)  # a 12-pack lasts them a week
    # four times as many pods last longer (the model shrinks the quantity's effect: not four times as long)
    assert (big.due_at - big.last_purchase_at) >= 1.5 * (small.due_at - small.last_purchase_at)
