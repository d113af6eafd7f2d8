"""``attune events failed|replay``, ``attune gdpr export`` and ``attune sync`` against real services."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlmodel import select
from webhook_support import DATA_WEBHOOKS, deliver, load_payload, make_shop, run_jobs

from app.cli import main
from app.models.commerce import Product
from app.models.inbox import DONE, WebhookInbox


@pytest.mark.usefixtures("jobs_env")
def test_events_failed_and_replay(settings, client, session):
    make_shop(session)
    bad = deliver(client, "orders/create", {"id": 5, "line_items": ["not-a-line"]}).json["id"]
    run_jobs(settings.redis_url)
    runner = CliRunner()
    listed = runner.invoke(main, ["events", "failed"])
    assert listed.exit_code == 0 and f"{bad}\talpha.myshopify.com\torders/create" in listed.output
    assert runner.invoke(main, ["events", "replay"]).exit_code != 0  # neither ids nor --all-failed
    row = session.get(WebhookInbox, bad)
    row.payload = json.dumps({"id": 5, "line_items": []})
    session.add(row)
    session.commit()
    replayed = runner.invoke(main, ["events", "replay", "--all-failed"])
    assert replayed.exit_code == 0 and "replayed 1 event(s)" in replayed.output
    run_jobs(settings.redis_url)
    session.expire_all()
    assert session.get(WebhookInbox, bad).status == DONE
    assert "no failed events" in runner.invoke(main, ["events", "failed"]).output


@pytest.mark.usefixtures("jobs_env")
def test_gdpr_export_command(settings, client, session, tmp_path):
    make_shop(session)
    make_shop(session, "beta.myshopify.com")
    for name in ("customers__create.json", "orders__create.json"):
        topic, body = load_payload(DATA_WEBHOOKS / name)
        deliver(client, topic, body)
    run_jobs(settings.redis_url)
    out = tmp_path / "export.json"
    result = CliRunner().invoke(
        main, ["gdpr", "export", "alpha.myshopify.com", "9007199254740993001", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["customer"]["last_name"] == "Lovelace" and len(doc["orders"]) == 1
    other = CliRunner().invoke(main, ["gdpr", "export", "beta.myshopify.com", "9007199254740993001"])
    assert json.loads(other.output)["customer"] is None and json.loads(other.output)["orders"] == []
    assert CliRunner().invoke(main, ["gdpr", "export", "nobody.myshopify.com", "1"]).exit_code != 0


def test_sync_command_backfills_with_a_progress_bar(live_app, installed_shop, session, monkeypatch):
    live_app.fake.seed(
        installed_shop.domain, products=[{"id": 101, "title": "Mug", "variants": [{"id": 201}]}]
    )
    cfg = live_app.settings
    for key, value in {
        "ATTUNE_ENV": "test",
        "DATABASE_URL": cfg.database_url,
        "REDIS_URL": cfg.redis_url,
        "SHOPIFY_API_KEY": cfg.shopify_api_key,
        "SHOPIFY_API_SECRET": cfg.shopify_api_secret,
        "ATTUNE_ENCRYPTION_KEY": cfg.attune_encryption_key,
        "SHOPIFY_ADMIN_ORIGIN_TEMPLATE": cfg.shopify_admin_origin_template,
    }.items():
        monkeypatch.setenv(key, value)
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["sync", installed_shop.domain])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "products" in result.output and "done" in result.output
    assert session.exec(select(Product).where(Product.shop_id == installed_shop.id)).one().title == "Mug"
