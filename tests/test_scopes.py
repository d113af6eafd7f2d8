"""Optional scopes: ``write_customers`` is declared optional (shopify.app.toml, settings), ``has_scope`` reads a
shop's grant, ``app/scopes_update`` (Shopify's sample payload) stores the new set and replays skipped
write-backs, the admin API lists the features waiting for a scope with a way to grant it (local mode: the
authorization-code grant asking for it, which really grants it at the fake Shopify), and the embedded admin
shows the prompt."""

from __future__ import annotations

import json
import tomllib
from urllib.parse import parse_qs, urlparse

import pytest
from fixtures_shopify import make_session_token
from redis import Redis
from rq import Queue
from sqlmodel import Session
from writeback_support import REQUIRED, install

from app.config import load_settings
from app.db import session_scope
from app.jobs.writeback import refresh_scopes
from app.models.shop import Shop
from app.shopify.scopes import has_scope, waiting_features
from tests.conftest import FIXTURES, ROOT, needs_shared
from webhooks.handlers import HANDLERS

SAMPLE = FIXTURES / "webhooks" / "app__scopes_update.json"


def test_write_customers_is_declared_optional_everywhere():
    toml = tomllib.loads((ROOT / "shopify.app.toml").read_text())["access_scopes"]
    optional = ["write_customers", "read_locales", "read_legal_policies", "read_online_store_pages", "write_discounts",
                "write_products"]  # fmt: skip
    assert toml["optional_scopes"] == optional
    assert not set(optional) & set(toml["scopes"].split(","))
    cfg = load_settings(attune_env="test")
    assert cfg.optional_scope_set == set(optional) and toml["scopes"].split(",") == cfg.scopes.split(",")
    assert (
        "app/scopes_update"
        in tomllib.loads((ROOT / "shopify.app.toml").read_text())["webhooks"]["subscriptions"][0]["topics"]
    )


def test_has_scope():
    shop = Shop(domain="a.myshopify.com", scopes="read_products,write_customers")
    assert has_scope(shop, "write_customers") and has_scope(shop, "read_customers")  # write implies read
    assert not has_scope(shop, "write_products") and not has_scope(None, "read_products")
    assert has_scope("write_customers", "read_customers") and not has_scope("", "read_customers")
    assert [f.key for f in waiting_features("read_customers", {"write_customers"})] == [
        "consent_writeback",
        "customer_metafields",
    ]
    assert waiting_features("write_customers", {"write_customers"}) == []
    assert waiting_features("", set()) == []  # nothing optional declared: nothing to ask for


def _replays_queued(settings) -> list[str]:
    ids = Queue("low", connection=Redis.from_url(settings.redis_url)).job_ids
    return [i for i in ids if i.startswith("writeback-replay-")]


@needs_shared(SAMPLE)
def test_scopes_update_sample_and_a_grant_of_write_customers(jobs_env, session: Session):
    settings = jobs_env
    shop = Shop(domain="scopes.myshopify.com", scopes="read_products")
    session.add(shop)
    session.commit()
    sample = json.loads(SAMPLE.read_text())
    HANDLERS["app/scopes_update"](session, shop, sample, None)
    session.commit()
    assert session.get(Shop, shop.id).scopes == "read_products,write_products"
    assert _replays_queued(settings) == []  # write_customers not granted: nothing to replay

    HANDLERS["app/scopes_update"](
        session, shop, {**sample, "current": ["read_products", "write_customers"]}, None
    )
    assert _replays_queued(settings) == []  # queued only once the change commits
    session.commit()
    assert session.get(Shop, shop.id).scopes == "read_products,write_customers"
    assert _replays_queued(settings) == [f"writeback-replay-{shop.id}"]

    # a revocation is stored too; a malformed payload changes nothing and is no error
    HANDLERS["app/scopes_update"](session, shop, {**sample, "current": ["read_products"]}, None)
    HANDLERS["app/scopes_update"](session, shop, {"current": "read_products,write_customers"}, None)
    HANDLERS["app/scopes_update"](session, shop, {"current": [1, 2]}, None)
    session.commit()
    assert session.get(Shop, shop.id).scopes == "read_products"


def _api(live, shop, method="get", path="/api/admin/scopes", token=True):
    headers = {"Authorization": f"Bearer {make_session_token(shop.domain)}"} if token else {}
    return getattr(live.client(), method)(path, headers=headers)


def test_admin_api_lists_waiting_features_and_the_local_grant_really_grants(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=False)
    assert _api(live_app, shop, token=False).status_code == 401
    body = _api(live_app, shop).json
    optional = ["read_legal_policies", "read_locales", "read_online_store_pages", "write_customers", "write_discounts",
                "write_products"]  # fmt: skip
    assert body["optional"] == optional and body["optional_granted"] == []
    assert [w["key"] for w in body["waiting"]] == [
        "consent_writeback",
        "customer_metafields",
        "shop_language",
        "support_policies",
        "support_pages",
        "personal_offers",
        "price_changes",
    ]
    assert [w["scope"] for w in body["waiting"]] == [
        "write_customers",
        "write_customers",
        "read_locales",
        "read_legal_policies",
        "read_online_store_pages",
        "write_discounts",
        "write_products",
    ]
    assert all(w["title"] and w["detail"] for w in body["waiting"])
    grant = body["grant"]
    assert grant["method"] == "redirect" and sorted(grant["scopes"]) == optional

    # the merchant follows the grant action: Shopify's authorize page is asked for the optional scope too
    live_app.fake.granted_scopes = None  # grant what is asked for
    browser = live_app.browser()
    first = browser.get(grant["url"], allow_redirects=False, timeout=10)
    assert first.status_code == 302
    asked = parse_qs(urlparse(first.headers["Location"]).query)["scope"][0].split(",")
    assert set(asked) == set(REQUIRED.split(",")) | set(optional)
    assert browser.get(first.headers["Location"], allow_redirects=True, timeout=30).status_code == 200
    assert has_scope(shop.scopes(), "write_customers")
    body = _api(live_app, shop).json
    assert body["waiting"] == [] and body["grant"] is None
    assert body["optional_granted"] == optional


def test_the_grant_url_asks_for_declared_optional_scopes_only(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=False)
    url = _api(live_app, shop).json["grant"]["url"].replace("write_customers", "write_customers,write_orders")
    location = live_app.browser().get(url, allow_redirects=False, timeout=10).headers["Location"]
    asked = parse_qs(urlparse(location).query)["scope"][0].split(",")
    assert "write_customers" in asked and "write_orders" not in asked


def test_refresh_reads_the_installation_scopes_from_shopify(live_app, jobs_env, monkeypatch):
    shop = install(live_app, monkeypatch, write_customers=False)
    response = _api(live_app, shop, "post", "/api/admin/scopes/refresh")
    assert response.status_code == 202 and response.json["queued"] is True
    assert f"scopes-shop-{shop.id}" in Queue("default", connection=Redis.from_url(jobs_env.redis_url)).job_ids
    optional = ",write_customers,read_locales,read_legal_policies,read_online_store_pages,write_discounts,write_products"
    live_app.fake.grant_scopes(shop.domain, REQUIRED + optional)  # scopes.request
    topic, payload = live_app.fake.store(shop.domain).webhooks_emitted[-1]
    assert topic == "app/scopes_update" and "write_customers" in payload["current"]
    assert "write_customers" in refresh_scopes(shop.id)
    with session_scope(jobs_env.database_url) as s:
        assert has_scope(s.get(Shop, shop.id), "write_customers")
    assert _api(live_app, shop).json["waiting"] == []


@pytest.mark.parametrize("name", ["scopes.js"])
def test_the_embedded_admin_has_the_scope_prompt(client, name):
    script = client.get(f"/app/assets/{name}").get_data(as_text=True)
    assert "/api/admin/scopes" in script and "scopes.request" in script
    page = client.get("/app").get_data(as_text=True)
    assert 'id="scopes-prompt"' in page and "/app/assets/scopes.js?v=" in page
