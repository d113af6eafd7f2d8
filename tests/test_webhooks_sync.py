"""Backfill from the fake Shopify's bulk operations into the same upserts as webhooks; reconciliation."""

from __future__ import annotations

from redis import Redis
from rq import Queue
from sqlmodel import select
from webhook_support import deliver, run_jobs

from app.jobs.sync import reconcile_all_shops, sync_shop
from app.models.commerce import Customer, Order, OrderLine, Product, ProductVariant, Refund
from app.stores.sync_runs import latest_run


def _seed(fake, domain):
    return fake.seed(
        domain,
        products=[
            {
                "id": 101,
                "title": "Mug",
                "updated_at": "2026-01-01T00:00:00Z",
                "variants": [
                    {"id": 201, "sku": "MUG-1", "price": "12.00", "inventory_quantity": 5},
                    {"id": 202, "sku": "MUG-2", "price": "14.00"},
                ],
            },
            {
                "id": 102,
                "title": "Tea",
                "updated_at": "2026-01-01T00:00:00Z",
                "variants": [{"id": 203, "price": "8.50"}],
            },
        ],
        customers=[
            {
                "id": 301,
                "email": "ada@example.com",
                "first_name": "Ada",
                "email_marketing": "SUBSCRIBED",
                "updated_at": "2026-01-01T00:00:00Z",
            },
            {"id": 302, "email": "bob@example.com", "first_name": "Bob"},
        ],
        orders=[
            {
                "id": 401,
                "customer_id": 301,
                "lines": [{"variant_id": 201, "quantity": 2}, {"variant_id": 203, "quantity": 1}],
                "refunds": [{"lines": [{"line": 0, "quantity": 1}]}],
            },
        ],
    )


def test_sync_backfills_everything_and_is_idempotent(live_app, installed_shop, session):
    _seed(live_app.fake, installed_shop.domain)
    seen = []
    run_id = sync_shop(
        installed_shop.id, settings=live_app.settings, progress=lambda r, n: seen.append((r, n))
    )
    shop_id = installed_shop.id
    products = {p.shopify_id: p for p in session.exec(select(Product).where(Product.shop_id == shop_id))}
    assert set(products) == {101, 102} and products[101].title == "Mug" and products[101].status == "active"
    variants = {
        v.shopify_id: v for v in session.exec(select(ProductVariant).where(ProductVariant.shop_id == shop_id))
    }
    assert set(variants) == {201, 202, 203} and variants[201].product_shopify_id == 101
    assert str(variants[201].price) == "12.00"
    customers = {c.shopify_id: c for c in session.exec(select(Customer).where(Customer.shop_id == shop_id))}
    assert customers[301].email == "ada@example.com" and customers[301].email_consent_state == "subscribed"
    assert customers[301].summary_orders_count is not None
    order = session.exec(select(Order).where(Order.shop_id == shop_id)).one()
    assert order.shopify_id == 401 and order.customer_shopify_id == 301
    assert sorted(
        ln.quantity for ln in session.exec(select(OrderLine).where(OrderLine.shop_id == shop_id))
    ) == [1, 2]
    assert len(session.exec(select(Refund).where(Refund.shop_id == shop_id)).all()) == 1
    run = latest_run(session, shop_id)
    assert run.id == run_id and run.status == "done"
    assert run.counts["products"] == 2 and run.counts["customers"] == 2 and run.counts["orders"] == 1
    assert {r for r, _ in seen} == {"products", "customers", "orders"}

    def state():
        session.expire_all()
        return sorted(
            str(r.model_dump(exclude={"id"}))
            for m in (Product, ProductVariant, Customer, Order, OrderLine, Refund)
            for r in session.exec(select(m).where(m.shop_id == shop_id))
        )

    before = state()
    sync_shop(installed_shop.id, settings=live_app.settings)
    assert state() == before


def test_a_newer_webhook_survives_an_older_backfill(live_app, installed_shop, session, monkeypatch):
    _seed(live_app.fake, installed_shop.domain)
    for key, value in {
        "ATTUNE_ENV": "test",
        "DATABASE_URL": live_app.settings.database_url,
        "REDIS_URL": live_app.settings.redis_url,
        "SHOPIFY_API_KEY": live_app.settings.shopify_api_key,
        "SHOPIFY_API_SECRET": live_app.settings.shopify_api_secret,
        "ATTUNE_ENCRYPTION_KEY": live_app.settings.attune_encryption_key,
    }.items():
        monkeypatch.setenv(key, value)
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        client = live_app.client()
        newer = {
            "id": 101,
            "title": "Mug (renamed)",
            "updated_at": "2026-06-01T00:00:00Z",
            "variants": [{"id": 201, "price": "13.00"}],
        }
        assert (
            deliver(client, "products/update", newer, shop=installed_shop.domain).json["status"] == "accepted"
        )
        Queue("low", connection=Redis.from_url(live_app.settings.redis_url)).empty()  # not the install's sync
        run_jobs(live_app.settings.redis_url)
        sync_shop(installed_shop.id, settings=live_app.settings)
        session.expire_all()
        mug = session.exec(
            select(Product).where(Product.shop_id == installed_shop.id, Product.shopify_id == 101)
        ).one()
        assert mug.title == "Mug (renamed)"
        assert [
            v.shopify_id
            for v in session.exec(select(ProductVariant).where(ProductVariant.product_shopify_id == 101))
        ] == [201]
        assert reconcile_all_shops() == 1
    finally:
        get_settings.cache_clear()
