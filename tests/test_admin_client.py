"""The Admin API client against the fake Shopify: throttling, 429s, 401 → refresh, locked refresh,
bulk queries and the web pixel."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import TEST_FERNET_KEY
from fixtures_shopify import InstalledShop, LiveApp
from sqlmodel import Session

from app.crypto import TokenCipher
from app.db import get_engine
from app.models.shop import Shop
from app.shopify import bulk_queries
from app.shopify.admin import AdminAuthError, AdminClient, AdminThrottledError, BulkOperation
from app.shopify.tokens import ReauthorizationRequired, TokenStore


def _client(live: LiveApp, shop: InstalledShop, **kwargs) -> AdminClient:
    return AdminClient.for_shop(live.settings, shop.id, **kwargs)


def _stored_access_token(live: LiveApp, shop: InstalledShop) -> str:
    row = live.shop_row(shop.domain)
    assert row is not None and row.access_token_enc
    return TokenCipher([TEST_FERNET_KEY]).decrypt(row.access_token_enc)


def test_endpoint_uses_origin_and_pinned_version(live_app: LiveApp, installed_shop: InstalledShop):
    client = _client(live_app, installed_shop)
    cfg = live_app.settings
    assert client.endpoint == (
        f"{cfg.admin_origin(installed_shop.domain)}/admin/api/{cfg.shopify_api_version}/graphql.json"
    )
    info = client.shop_info()
    assert info.myshopify_domain == installed_shop.domain
    assert info.currency_code == "USD"


def test_throttled_is_retried_and_succeeds(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.seed(installed_shop.domain, products=[{"title": "Mug"}])
    client = _client(live_app, installed_shop)
    client.tokens.access_token()  # warm: nothing slow between emptying the bucket and the call
    query = "{ products(first: 10) { edges { node { id variants(first: 5) { nodes { id } } } } } }"
    # The query costs 82 points; an empty bucket restoring 100/s cannot hold them for ~0.8 s.
    live_app.fake.configure_bucket(installed_shop.domain, available=0, restore_rate=100)
    assert len(client.graphql(query)["products"]["edges"]) == 1
    assert live_app.fake.calls["throttled"] >= 1
    assert client.retries >= 1


def test_client_waits_for_budget_instead_of_getting_throttled(
    live_app: LiveApp, installed_shop: InstalledShop
):
    live_app.fake.seed(
        installed_shop.domain,
        products=[{"title": f"P{i}", "variants": [{"price": "1"}, {"price": "2"}]} for i in range(3)],
    )
    live_app.fake.configure_bucket(installed_shop.domain, maximum=120, available=120, restore_rate=1000)
    client = _client(live_app, installed_shop)
    query = "{ products(first: 5) { edges { node { id variants(first: 5) { nodes { id price } } } } } }"
    for _ in range(6):
        assert len(client.graphql(query)["products"]["edges"]) == 3
    assert live_app.fake.calls["throttled"] == 0  # it learnt the cost and waited for the bucket


def test_throttled_forever_raises_after_retries(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.configure_bucket(installed_shop.domain, available=0, restore_rate=0)
    client = _client(live_app, installed_shop, max_retries=2, max_wait_s=0.01)
    with pytest.raises(AdminThrottledError):
        client.shop_info()
    assert live_app.fake.calls["throttled"] == 3


def test_http_429_with_retry_after_is_retried(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.force_429(installed_shop.domain, times=2, retry_after="0.05")
    waits: list[float] = []
    client = _client(live_app, installed_shop, sleep=waits.append)
    assert client.shop_info().myshopify_domain == installed_shop.domain
    assert live_app.fake.calls["http_429"] == 2
    assert waits[:2] == [0.05, 0.05]  # Retry-After honoured


def test_http_429_forever_raises(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.force_429(installed_shop.domain, times=10, retry_after="0")
    with pytest.raises(AdminThrottledError):
        _client(live_app, installed_shop, max_retries=2).shop_info()
    assert live_app.fake.calls["http_429"] == 3


def test_401_triggers_one_refresh_and_one_retry(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.revoke_token(installed_shop.access_token)
    client = _client(live_app, installed_shop)
    assert client.shop_info().myshopify_domain == installed_shop.domain
    assert live_app.fake.calls["unauthorized"] == 1
    assert live_app.fake.calls["refresh"] == 1
    new_token = _stored_access_token(live_app, installed_shop)
    assert new_token != installed_shop.access_token
    assert live_app.fake._valid_token(new_token, installed_shop.domain, "access") is not None


class _AlwaysRejected:
    """A token provider whose tokens Shopify never accepts (a revoked app)."""

    def __init__(self) -> None:
        self.refreshes = 0

    def access_token(self) -> str:
        return "shpat_revoked"

    def refresh(self, stale_token: str) -> str:
        self.refreshes += 1
        return "shpat_still_revoked"


def test_401_after_refresh_gives_up(live_app: LiveApp, installed_shop: InstalledShop):
    tokens = _AlwaysRejected()
    client = AdminClient(live_app.settings, installed_shop.domain, tokens)
    with pytest.raises(AdminAuthError):
        client.shop_info()
    assert tokens.refreshes == 1
    assert live_app.fake.calls["unauthorized"] == 2


def test_expiring_token_is_refreshed_before_use(live_app: LiveApp, installed_shop: InstalledShop):
    with Session(get_engine(live_app.settings.database_url)) as session:
        row = session.get(Shop, installed_shop.id)
        assert row is not None
        row.access_token_expires_at = datetime.now(UTC) + timedelta(seconds=5)
        session.add(row)
        session.commit()
    _client(live_app, installed_shop).shop_info()
    assert live_app.fake.calls["refresh"] == 1
    assert live_app.fake.calls["unauthorized"] == 0


def test_concurrent_refreshes_make_one_call(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.token_latency_s = 0.3  # both threads are inside refresh() together
    live_app.fake.revoke_token(installed_shop.access_token)
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client = _client(live_app, installed_shop)
            barrier.wait()
            results.append(client.shop_info().myshopify_domain)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert results == [installed_shop.domain] * 2
    assert live_app.fake.calls["refresh"] == 1


def test_direct_concurrent_refresh_returns_the_same_token(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.token_latency_s = 0.3
    store = TokenStore(live_app.settings)
    barrier = threading.Barrier(3)
    out: list[str] = []

    def work() -> None:
        barrier.wait()
        out.append(store.refresh(installed_shop.id, stale_token=installed_shop.access_token))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(out) == 3 and len(set(out)) == 1
    assert live_app.fake.calls["refresh"] == 1


def test_refused_refresh_requires_reauthorization(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.revoke_all(installed_shop.domain)
    with pytest.raises(ReauthorizationRequired):
        _client(live_app, installed_shop).shop_info()
    row = live_app.shop_row(installed_shop.domain)
    assert row is not None and row.access_token_enc is None and row.refresh_token_enc is None


# --- bulk operations ---------------------------------------------------------------------------


def _seed_catalog(live: LiveApp, shop: str) -> None:
    live.fake.seed(
        shop,
        products=[
            {
                "id": 1,
                "title": "Mug",
                "tags": ["kitchen"],
                "variants": [
                    {"id": 11, "sku": "MUG-S", "price": "10", "inventory_quantity": 4},
                    {"id": 12, "sku": "MUG-L", "price": "12.5", "inventory_quantity": 0},
                ],
            },
            {"id": 2, "title": "Tea", "variants": [{"id": 21, "sku": "TEA", "price": "6"}]},
        ],
        customers=[
            {"id": 5, "email": "ana@example.com", "email_marketing": "SUBSCRIBED", "phone": "+15555550100"},
            {"id": 6, "email": "bo@example.com"},
        ],
        orders=[
            {
                "id": 9,
                "customer_id": 5,
                "created_at": "2024-03-01T10:00:00Z",
                "lines": [
                    {"id": 91, "variant_id": 11, "quantity": 2},
                    {"id": 92, "variant_id": 21, "quantity": 1},
                ],
                "refunds": [{"lines": [{"line": 0, "quantity": 1}]}],
            }
        ],
    )


def test_bulk_products_round_trip(live_app: LiveApp, installed_shop: InstalledShop):
    _seed_catalog(live_app, installed_shop.domain)
    progress: list[BulkOperation] = []
    client = _client(live_app, installed_shop)
    records = list(
        client.run_bulk_query(bulk_queries.PRODUCTS, on_progress=progress.append, poll_interval_s=0.01)
    )

    products = [r for r in records if bulk_queries.gid_type(r["id"]) == "Product"]
    variants = [r for r in records if bulk_queries.gid_type(r["id"]) == "ProductVariant"]
    assert [p["title"] for p in products] == ["Mug", "Tea"]
    assert "__parentId" not in products[0] and "variants" not in products[0]
    assert products[0]["totalInventory"] == 4 and products[0]["tags"] == ["kitchen"]
    assert [(v["sku"], v["__parentId"]) for v in variants] == [
        ("MUG-S", "gid://shopify/Product/1"),
        ("MUG-L", "gid://shopify/Product/1"),
        ("TEA", "gid://shopify/Product/2"),
    ]
    assert variants[1]["price"] == "12.50" and variants[0]["inventoryQuantity"] == 4
    # A child follows its parent in the file.
    assert records.index(variants[2]) > records.index(products[1])
    assert [p.status for p in progress] == ["RUNNING", "COMPLETED"]
    assert progress[-1].object_count == 5 and progress[0].object_count < 5


def test_bulk_customers_and_orders(live_app: LiveApp, installed_shop: InstalledShop):
    _seed_catalog(live_app, installed_shop.domain)
    client = _client(live_app, installed_shop)
    customers = list(client.run_bulk_query(bulk_queries.CUSTOMERS, poll_interval_s=0.01))
    assert [c["defaultEmailAddress"]["marketingState"] for c in customers] == ["SUBSCRIBED", "NOT_SUBSCRIBED"]
    assert customers[0]["defaultPhoneNumber"]["phoneNumber"] == "+15555550100"
    assert customers[0]["numberOfOrders"] == "1"

    records = list(client.run_bulk_query(bulk_queries.ORDERS, poll_interval_s=0.01))
    [order] = [r for r in records if bulk_queries.gid_type(r["id"]) == "Order"]
    lines = [r for r in records if bulk_queries.gid_type(r["id"]) == "LineItem"]
    assert order["customer"] == {"id": "gid://shopify/Customer/5"}
    assert (
        len(order["refunds"]) == 1
        and order["refunds"][0]["totalRefundedSet"]["shopMoney"]["amount"] == "10.00"
    )
    assert [(ln["variant"]["id"], ln["quantity"], ln["currentQuantity"]) for ln in lines] == [
        ("gid://shopify/ProductVariant/11", 2, 1),
        ("gid://shopify/ProductVariant/21", 1, 1),
    ]
    assert {ln["__parentId"] for ln in lines} == {order["id"]}


def test_bulk_incremental_filter(live_app: LiveApp, installed_shop: InstalledShop):
    live_app.fake.seed(
        installed_shop.domain,
        products=[
            {"title": "Old", "updated_at": "2023-01-01T00:00:00Z"},
            {"title": "New", "updated_at": "2025-01-01T00:00:00Z"},
        ],
    )
    query = bulk_queries.products_query(updated_since=datetime(2024, 1, 1, tzinfo=UTC))
    records = list(_client(live_app, installed_shop).run_bulk_query(query, poll_interval_s=0.01))
    assert [r["title"] for r in records if "__parentId" not in r] == ["New"]


def test_bulk_empty_and_failed(live_app: LiveApp, installed_shop: InstalledShop):
    client = _client(live_app, installed_shop)
    assert list(client.run_bulk_query(bulk_queries.PRODUCTS, poll_interval_s=0.01)) == []
    live_app.fake.fail_next_bulk(installed_shop.domain)
    from app.shopify.admin import AdminAPIError

    with pytest.raises(AdminAPIError, match="FAILED"):
        list(client.run_bulk_query(bulk_queries.PRODUCTS, poll_interval_s=0.01))


# --- web pixel -------------------------------------------------------------------------------------


def test_web_pixel_create_then_update(live_app: LiveApp, installed_shop: InstalledShop):
    client = _client(live_app, installed_shop)
    row = live_app.shop_row(installed_shop.domain)
    assert row is not None
    pixel = client.ensure_web_pixel(row.pixel_key, live_app.settings.app_url)
    assert pixel.settings == {
        "accountID": installed_shop.domain,
        "shopKey": row.pixel_key,
        "endpoint": live_app.settings.app_url,
    }
    again = client.ensure_web_pixel("rotated-pixel-key", "https://attune.example", pixel_id=pixel.id)
    assert again.id == pixel.id and again.settings["shopKey"] == "rotated-pixel-key"
    # Without the id (e.g. lost), creating again finds the existing pixel and updates it.
    third = client.ensure_web_pixel("third-key-123", "https://attune.example")
    assert third.id == pixel.id and client.get_web_pixel().settings["shopKey"] == "third-key-123"  # type: ignore[union-attr]
