"""Stock-out alerts to the merchant (issue 19): when a variant's cover falls below lead time plus review period,
one e-mail a night lists the new alerts (through the shop's e-mail channel to a real SMTP server) and the Flow
trigger ``attune-stockout-predicted`` fires once per alert (to the fake Shopify, which checks the payload against
``extensions/``). Reruns send nothing twice; a variant hovering at the threshold alerts once; a refused trigger
is recorded, not retried; each channel is a merchant switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.inventory import forecast_shop
from app.jobs.inventory_alerts import HANDLE, send_alerts
from app.models.commerce import InventoryLevel, Order, OrderLine, Product, ProductVariant
from app.models.inventory import InventoryAlert
from app.shopify.fake import writes as fake_writes
from app.stores.channels import save_email_settings
from app.stores.inventory_live import save_preference
from tests.email_support import SENDER
from tests.writeback_support import install

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TEA, MUG, JAM = 11, 12, 13  # variants of products 1, 2, 3; items 901, 902, 903
_ids = iter(range(800_000, 900_000))


@pytest.fixture
def shop(live_app, jobs_env, monkeypatch):
    """TEA sells 3 a day (20 left), JAM 1 a day (5 left): both alert. MUG sells 1 a day with 500 left."""
    installed = install(live_app, monkeypatch, write_customers=False)
    with session_scope(jobs_env.database_url) as s:
        for v, title, stock, daily in ((TEA, "Green tea", 20, 3), (MUG, "Mug", 500, 1), (JAM, "Jam", 5, 1)):
            product = v - 10
            s.add(Product(shop_id=installed.id, shopify_id=product, title=title, vendor="Leafco"))
            s.add(ProductVariant(shop_id=installed.id, shopify_id=v, product_shopify_id=product, sku=f"SKU{v}",
                                 inventory_item_id=890 + v))  # fmt: skip
            s.add(InventoryLevel(shop_id=installed.id, inventory_item_id=890 + v, location_id=1, available=stock,
                                 shopify_updated_at=NOW))  # fmt: skip
            for d in range(-20, 91):  # the days after NOW are read only by the later nights
                oid = next(_ids)
                s.add(
                    Order(shop_id=installed.id, shopify_id=oid, processed_at=NOW - timedelta(days=d, hours=2))
                )
                s.add(OrderLine(shop_id=installed.id, shopify_id=next(_ids), order_shopify_id=oid,
                                product_shopify_id=product, variant_shopify_id=v, quantity=daily, title="x"))  # fmt: skip
    return installed


@pytest.fixture
def smtp(jobs_env, shop):
    with LoopbackSmtp() as server:
        with session_scope(jobs_env.database_url) as s:
            save_email_settings(s, TokenCipher(jobs_env.encryption_keys), shop.id,
                                {**SENDER, "reply_to": "owner@mugs.test"}, server.url)  # fmt: skip
        yield server


def night(shop, days: int = 0) -> str:
    at = NOW + timedelta(days=days)
    forecast_shop(shop.id, now=at)
    return send_alerts(shop.id, now=at)


def set_stock(settings, shop, variant: int, available: int) -> None:
    with session_scope(settings.database_url) as s:
        level = s.exec(select(InventoryLevel).where(InventoryLevel.inventory_item_id == 890 + variant)).one()
        level.available = available
        s.add(level)


def episodes(settings, variant: int | None = None) -> list[InventoryAlert]:
    with session_scope(settings.database_url) as s:
        rows = s.exec(select(InventoryAlert).order_by(InventoryAlert.opened_on)).all()
        return [r for r in rows if variant is None or r.variant_shopify_id == variant]


def test_one_email_and_one_trigger_per_alert_and_never_twice(shop, smtp, jobs_env):
    assert night(shop) == "2 open; e-mailed 2; fired 2"
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ["owner@mugs.test"]
    assert mail.message["Subject"] == "Stock-out predicted: 2 variants will run out before a restock"
    text = mail.message.get_body(("plain",)).get_content()
    assert "Jam (SKU13): " in text and "Green tea (SKU11): " in text and "Mug (SKU12)" not in text
    fired = shop.live.fake.store(shop.domain).flow_triggers
    assert [f["handle"] for f in fired] == [HANDLE, HANDLE]
    assert {f["payload"]["product_id"] for f in fired} == {1, 3}
    tea = next(f["payload"] for f in fired if f["payload"]["product_id"] == 1)
    (row,) = episodes(jobs_env, TEA)
    assert tea["Product title"] == "Green tea" and tea["SKU"] == "SKU11"
    assert (
        tea["Days of cover"] == row.days_of_cover < 21 and tea["Suggested order"] == row.suggested_order > 0
    )
    assert tea["Stock-out date"] == row.stockout_p50.isoformat()
    # the same night again, and the next nights while the alert stays open: nothing more
    assert send_alerts(shop.id, now=NOW) == "2 open"
    assert night(shop, 1) == "2 open" and night(shop, 2) == "2 open"
    assert len(smtp.messages) == 1 and len(shop.live.fake.store(shop.domain).flow_triggers) == 2
    assert all(e.emailed_at and e.flow_at and e.closed_on is None for e in episodes(jobs_env))


def test_a_variant_hovering_at_the_threshold_alerts_once_and_again_after_a_quiet_week(shop, smtp, jobs_env):
    set_stock(jobs_env, shop, JAM, 400)
    night(shop)
    set_stock(jobs_env, shop, TEA, 400)  # restocked: the episode closes
    assert night(shop, 1) == "0 open"
    (closed,) = episodes(jobs_env, TEA)
    assert closed.closed_on == (NOW + timedelta(days=1)).date()
    set_stock(jobs_env, shop, TEA, 10)  # low again two days later: the same episode, not announced again
    assert night(shop, 3) == "1 open"
    (reopened,) = episodes(jobs_env, TEA)
    assert reopened.id == closed.id and reopened.closed_on is None
    set_stock(jobs_env, shop, TEA, 400)
    night(shop, 4)
    set_stock(jobs_env, shop, TEA, 10)  # low after more than a week without an alert: a new one
    assert night(shop, 12) == "1 open; e-mailed 1; fired 1"
    assert [e.opened_on for e in episodes(jobs_env, TEA)] == [NOW.date(), (NOW + timedelta(days=12)).date()]
    assert len(smtp.messages) == 2 and len(shop.live.fake.store(shop.domain).flow_triggers) == 2


def test_switches_and_email_not_set_up(shop, jobs_env):
    with session_scope(jobs_env.database_url) as s:
        save_preference(s, shop.id, alert_flow=False)
    out = night(shop)
    assert out == "2 open; e-mail skipped: e-mail is not set up for this shop"
    assert shop.live.fake.store(shop.domain).flow_triggers == []
    assert all(e.emailed_at is None and e.flow_at is None for e in episodes(jobs_env))
    with LoopbackSmtp() as server:  # set up later: the open alerts go out in one message
        with session_scope(jobs_env.database_url) as s:
            save_email_settings(s, TokenCipher(jobs_env.encryption_keys), shop.id, SENDER, server.url)
            save_preference(s, shop.id, alert_email=True, alert_flow=True)
        assert night(shop, 1) == "2 open; e-mailed 2; fired 2"
        assert len(server.messages) == 1
    with session_scope(jobs_env.database_url) as s:
        save_preference(s, shop.id, alert_email=False, alert_flow=False)
    set_stock(jobs_env, shop, MUG, 3)
    assert night(shop, 2) == "3 open"  # a new alert, announced nowhere while both switches are off


def test_a_refused_trigger_is_recorded_and_not_retried(shop, smtp, jobs_env, monkeypatch):
    triggers = {h: f for h, f in fake_writes.flow_triggers().items() if h != HANDLE}
    monkeypatch.setattr(fake_writes, "flow_triggers", lambda: triggers)  # Shopify does not know the trigger
    assert night(shop) == "2 open; e-mailed 2; fired 0"
    assert all(e.flow_at is None and "Invalid handle" in (e.flow_error or "") for e in episodes(jobs_env))
    monkeypatch.undo()
    assert night(shop, 1) == "2 open"
    assert shop.live.fake.store(shop.domain).flow_triggers == []
