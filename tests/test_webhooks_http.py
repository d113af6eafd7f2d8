"""Over real HTTP: the fake Shopify delivers (signed as Shopify signs) to the app served on loopback."""

from __future__ import annotations

from conftest import TEST_API_SECRET
from sqlmodel import select
from webhook_support import DATA_WEBHOOKS, run_jobs

from app.models.commerce import Order, Refund
from app.models.inbox import DONE, WebhookInbox
from app.shopify.fake import deliver_webhook


def test_shopify_deliveries_over_http_are_stored_once_and_applied(
    live_app, installed_shop, session, monkeypatch
):
    cfg = live_app.settings
    for key, value in {
        "ATTUNE_ENV": "test",
        "DATABASE_URL": cfg.database_url,
        "REDIS_URL": cfg.redis_url,
        "SHOPIFY_API_KEY": cfg.shopify_api_key,
        "SHOPIFY_API_SECRET": cfg.shopify_api_secret,
        "ATTUNE_ENCRYPTION_KEY": cfg.attune_encryption_key,
    }.items():
        monkeypatch.setenv(key, value)
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        order = (DATA_WEBHOOKS / "orders__create.json").read_bytes()
        refund = (DATA_WEBHOOKS / "refunds__create.json").read_bytes()
        shop = installed_shop.domain
        first = deliver_webhook(
            live_app.url, shop, "orders/create", order, event_id="http-1", secret=TEST_API_SECRET
        )
        again = deliver_webhook(
            live_app.url, shop, "orders/create", order, event_id="http-1", secret=TEST_API_SECRET
        )
        deliver_webhook(live_app.url, shop, "refunds/create", refund, secret=TEST_API_SECRET)
        forged = deliver_webhook(live_app.url, shop, "orders/create", order, secret="not-the-secret")
        assert (first.status_code, first.json()["status"]) == (200, "accepted")
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
        assert forged.status_code == 401
        run_jobs(cfg.redis_url, ("webhooks",))  # not the install's initial sync (low queue)
        rows = session.exec(select(WebhookInbox).where(WebhookInbox.shop_id == installed_shop.id)).all()
        assert sorted((r.topic, r.status) for r in rows) == [
            ("orders/create", DONE),
            ("refunds/create", DONE),
        ]
        assert len(session.exec(select(Order).where(Order.shop_id == installed_shop.id)).all()) == 1
        assert len(session.exec(select(Refund).where(Refund.shop_id == installed_shop.id)).all()) == 1
    finally:
        get_settings.cache_clear()
