"""The fake Shopify itself behaves like Shopify where the app depends on it: signed webhook deliveries,
the embedded admin landing, GraphQL validation, cost limits, pagination and plain-dict seeding."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

import pytest
import requests
from conftest import TEST_API_KEY, TEST_API_SECRET

from app.shopify.fake import FakeShopify, deliver_webhook
from app.shopify.verify import decode_session_token, verify_admin_query, verify_webhook

SHOP = "fake-test.myshopify.com"


@pytest.fixture
def receiver():
    """A loopback HTTP server that records the requests it receives."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def test_deliver_webhook_signs_like_shopify(receiver):
    url, seen = receiver
    payload = {"id": 820982911946154508, "email": "jon@example.com", "note": "ünïcode"}
    response = deliver_webhook(
        url,
        SHOP,
        "orders/create",
        payload,
        event_id="evt-1",
        webhook_id="wh-1",
        secret=TEST_API_SECRET,
        api_version="2026-07",
    )
    assert response.status_code == 200
    [req] = seen
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert req["path"] == "/webhooks"
    assert json.loads(req["body"]) == payload  # big ids survive exactly
    assert verify_webhook(req["body"], headers["x-shopify-hmac-sha256"], [TEST_API_SECRET])
    assert not verify_webhook(req["body"] + b" ", headers["x-shopify-hmac-sha256"], [TEST_API_SECRET])
    assert headers["x-shopify-topic"] == "orders/create"
    assert headers["x-shopify-shop-domain"] == SHOP
    assert headers["x-shopify-api-version"] == "2026-07"
    assert headers["x-shopify-webhook-id"] == "wh-1"
    assert headers["x-shopify-event-id"] == "evt-1"
    assert headers["x-shopify-triggered-at"].endswith("Z")
    assert headers["content-type"] == "application/json"


def test_deliver_webhook_sends_raw_bytes_untouched(receiver):
    url, seen = receiver
    raw = b'{"id":1,  "spacing":"kept"}'
    deliver_webhook(
        url + "/custom/path", SHOP, "app/uninstalled", raw, secret="s3cret", api_version="2026-07"
    )
    [req] = seen
    assert req["path"] == "/custom/path" and req["body"] == raw
    assert verify_webhook(raw, req["headers"]["X-Shopify-Hmac-Sha256"], ["s3cret"])


def test_embedded_landing_forwards_signed_params(receiver):
    app_url, _ = receiver
    with FakeShopify(TEST_API_KEY, TEST_API_SECRET, app_url=app_url) as fake:
        response = requests.get(
            f"{fake.origin(SHOP)}/admin/apps/{TEST_API_KEY}", allow_redirects=False, timeout=10
        )
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith(f"{app_url}/app?")
        pairs = parse_qsl(urlparse(location).query)
        params = dict(pairs)
        assert params["shop"] == SHOP and params["embedded"] == "1" and params["host"]
        verify_admin_query(pairs, [TEST_API_SECRET])  # signed as Shopify signs it
        assert (
            decode_session_token(params["id_token"], api_key=TEST_API_KEY, secrets=[TEST_API_SECRET]).shop
            == SHOP
        )
        other = requests.get(f"{fake.origin(SHOP)}/admin/apps/another-app", allow_redirects=False, timeout=10)
        assert other.status_code == 404


def test_authorize_refuses_unknown_client_and_foreign_redirect():
    with FakeShopify(TEST_API_KEY, TEST_API_SECRET, app_url="https://attune.test") as fake:
        base = f"{fake.origin(SHOP)}/admin/oauth/authorize"
        bad_client = requests.get(
            base, params={"client_id": "x", "redirect_uri": "https://attune.test/auth/callback"}, timeout=10
        )
        assert bad_client.status_code == 400
        foreign = requests.get(
            base,
            params={"client_id": TEST_API_KEY, "redirect_uri": "https://evil.com/cb", "state": "s"},
            allow_redirects=False,
            timeout=10,
        )
        assert foreign.status_code == 400 and "whitelisted" in foreign.json()["error_description"]


@pytest.fixture
def gql():
    with FakeShopify(TEST_API_KEY, TEST_API_SECRET) as fake:
        token = fake._issue(SHOP, "read_products", expiring=False)["access_token"]

        def call(query: str, variables: dict | None = None) -> requests.Response:
            return requests.post(
                f"{fake.origin(SHOP)}/admin/api/2026-07/graphql.json",
                json={"query": query, "variables": variables or {}},
                headers={"X-Shopify-Access-Token": token},
                timeout=10,
            )

        yield fake, call


def test_graphql_validates_against_the_schema(gql):
    _fake, call = gql
    body = call("{ shop { notAField } }").json()
    assert "notAField" in body["errors"][0]["message"]
    assert "you must provide one of first or last" in call("{ products { edges { node { id } } } }").text


def test_graphql_max_cost_and_cost_extension(gql):
    _fake, call = gql
    body = call(
        "{ products(first: 250) { edges { node { id variants(first: 250) { nodes { id } } } } } }"
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    ok = call("{ shop { name } }").json()
    cost = ok["extensions"]["cost"]
    assert cost["requestedQueryCost"] >= 1
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}


def test_the_bucket_is_refunded_to_the_actual_cost_as_shopify_does(gql):
    fake, call = gql
    fake.seed(SHOP, products=[{"id": i, "title": f"Product {i}"} for i in range(1, 3)])
    fake.configure_bucket(SHOP, maximum=1000, available=1000, restore_rate=0)
    query = "{ products(first: 50) { nodes { id variants(first: 10) { nodes { id } } } } }"
    cost = call(query).json()["extensions"]["cost"]
    # asked for up to 50 products with 10 variants each; two products came back, each with its one variant
    assert cost["requestedQueryCost"] > 500 and cost["actualQueryCost"] < 20
    assert cost["throttleStatus"]["currentlyAvailable"] == 1000 - cost["actualQueryCost"]


def test_graphql_pagination_and_plain_dict_seeding(gql):
    fake, call = gql
    fake.seed(SHOP, products=[{"id": i, "title": f"Product {i}", "tags": ["t"]} for i in range(1, 6)])
    query = "query($after: String) { products(first: 2, after: $after) { nodes { id title } pageInfo { hasNextPage endCursor } } }"
    titles, after = [], None
    while True:
        page = call(query, {"after": after}).json()["data"]["products"]
        titles += [n["title"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert titles == [f"Product {i}" for i in range(1, 6)]


def test_graphql_unknown_version_and_bad_token(gql):
    fake, call = gql
    assert (
        requests.post(
            f"{fake.origin(SHOP)}/admin/api/1999-13/graphql.json",
            json={"query": "{ shop { name } }"},
            timeout=10,
        ).status_code
        == 404
    )
    bad = requests.post(
        f"{fake.origin(SHOP)}/admin/api/2026-07/graphql.json",
        json={"query": "{ shop { name } }"},
        headers={"X-Shopify-Access-Token": "shpat_nope"},
        timeout=10,
    )
    assert bad.status_code == 401


def test_graphql_and_bulk_serve_inventory_levels_per_location(gql):
    """``inventoryItem.inventoryLevels`` in Shopify's shape: a connection of levels, each with its location and the
    quantities asked for by name; a bulk export writes each level as its own line after its variant, with the
    variant's gid as ``__parentId``, and lifts it out of the inline ``inventoryItem``."""
    from graphql import graphql_sync

    from app.shopify import bulk_queries
    from app.shopify.fake.graphql_api import flatten_bulk
    from app.shopify.fake.schema import build

    fake, call = gql
    levels = [
        {
            "location_id": 1,
            "location_name": "Warehouse",
            "available": 7,
            "updated_at": "2026-03-01T10:00:00Z",
        },
        {"location_id": 2, "location_name": "Shop floor", "available": 2},
    ]
    store = fake.seed(
        SHOP,
        products=[{"id": 1, "variants": [{"id": 11, "inventory_item_id": 111, "inventory_levels": levels}]}],
    )
    query = """{ productVariant(id: "gid://shopify/ProductVariant/11") { inventoryQuantity inventoryItem {
      inventoryLevels(first: 5) { nodes { id updatedAt location { id name }
        quantities(names: ["available", "incoming"]) { name quantity } } } } } }"""
    variant = call(query).json()["data"]["productVariant"]
    nodes = variant["inventoryItem"]["inventoryLevels"]["nodes"]
    assert variant["inventoryQuantity"] == 9
    assert [(n["location"]["name"], n["quantities"]) for n in nodes] == [
        ("Warehouse", [{"name": "available", "quantity": 7}, {"name": "incoming", "quantity": 0}]),
        ("Shop floor", [{"name": "available", "quantity": 2}, {"name": "incoming", "quantity": 0}]),
    ]
    assert nodes[0]["id"] == "gid://shopify/InventoryLevel/1?inventory_item_id=111"
    assert (
        nodes[0]["updatedAt"] == "2026-03-01T10:00:00Z"
        and nodes[0]["location"]["id"] == "gid://shopify/Location/1"
    )
    page = call(query.replace("first: 5", "first: 1")).json()["data"]["productVariant"]["inventoryItem"]
    assert [n["location"]["name"] for n in page["inventoryLevels"]["nodes"]] == ["Warehouse"]
    assert "must provide one of first or last" in call(query.replace("(first: 5)", "")).text

    store.set_inventory_level(11, 2, 0)
    data = graphql_sync(build(), bulk_queries.PRODUCTS, context_value={"store": store, "bulk": True}).data
    lines, roots = flatten_bulk(data)
    assert roots == 1 and [bulk_queries.gid_type(r["id"]) for r in lines] == [
        "Product", "ProductVariant", "InventoryLevel", "InventoryLevel",
    ]  # fmt: skip
    variant_line, *level_lines = lines[1:]
    assert "inventoryLevels" not in variant_line["inventoryItem"] and variant_line["inventoryQuantity"] == 7
    assert {r["__parentId"] for r in level_lines} == {"gid://shopify/ProductVariant/11"}
    assert [(r["location"]["name"], r["quantities"]) for r in level_lines] == [
        ("Warehouse", [{"name": "available", "quantity": 7}]),
        ("Shop floor", [{"name": "available", "quantity": 0}]),
    ]
