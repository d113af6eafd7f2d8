"""Embedded-admin auth: session tokens on /api/admin/*, token exchange, and shop isolation."""

from __future__ import annotations

import time

import pytest
from conftest import TEST_API_KEY, TEST_FERNET_KEY, TEST_PREVIOUS_SECRET
from fixtures_shopify import InstalledShop, LiveApp, make_session_token

from app.crypto import TokenCipher
from app.web.session_auth import RETRY_HEADER

SHOP = "admin-shop.myshopify.com"


def _get(live: LiveApp, token: str | None, path: str = "/api/admin/shop", **headers: str):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return live.client().get(path, headers=headers)


def _assert_401(response, message: str) -> None:
    assert response.status_code == 401, response.json
    assert response.headers.get(RETRY_HEADER) == "1"
    assert message in response.json["message"]


def test_valid_session_token_reads_its_shop(live_app: LiveApp, installed_shop: InstalledShop):
    response = _get(live_app, make_session_token(installed_shop.domain))
    assert response.status_code == 200
    body = response.json
    assert body["shop"] == installed_shop.domain
    assert body["installed"] is True
    assert set(body["scopes"]) == live_app.settings.scope_set
    assert live_app.fake.calls["token_exchange"] == 0  # a stored offline token is used as is


def test_previous_secret_is_accepted_during_rotation(live_app: LiveApp, installed_shop: InstalledShop):
    token = make_session_token(installed_shop.domain, secret=TEST_PREVIOUS_SECRET)
    assert _get(live_app, token).status_code == 200


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: make_session_token(SHOP, aud="someone-elses-app"), "audience"),
        (lambda: make_session_token(SHOP, secret="wrong-secret-0123456789abcdef"), "signature"),
        (lambda: make_session_token(SHOP, algorithm="HS512"), "malformed"),
        (lambda: make_session_token(SHOP, ttl=-120), "expired"),
        (lambda: make_session_token(SHOP, nbf=int(time.time()) + 600), "not yet valid"),
        (lambda: make_session_token(SHOP, dest="https://other-shop.myshopify.com"), "different shops"),
        (
            lambda: make_session_token(SHOP, iss="https://evil.com/admin", dest="https://evil.com"),
            "invalid shop",
        ),
        (
            lambda: make_session_token(
                SHOP, iss="https://x.myshopify.com.evil.com/admin", dest="https://x.myshopify.com.evil.com"
            ),
            "invalid shop",
        ),
        (lambda: make_session_token(SHOP, aud=None), "lacks aud"),
        (lambda: make_session_token(SHOP, exp=None), "lacks exp"),
        (lambda: "not.a.jwt", "malformed"),
    ],
    ids=[
        "wrong-aud",
        "wrong-secret",
        "wrong-alg",
        "expired",
        "not-yet-valid",
        "iss-dest-mismatch",
        "evil-shop",
        "suffix-shop",
        "no-aud",
        "no-exp",
        "garbage",
    ],
)
def test_bad_session_tokens_get_401_with_retry_header(live_app: LiveApp, make, message: str):
    _assert_401(_get(live_app, make()), message)
    assert live_app.fake.calls["token_exchange"] == 0
    assert live_app.shop_row(SHOP) is None


def test_alg_none_is_refused(live_app: LiveApp):
    import jwt

    token = jwt.encode(
        {
            "iss": f"https://{SHOP}/admin",
            "dest": f"https://{SHOP}",
            "aud": TEST_API_KEY,
            "exp": time.time() + 60,
            "nbf": time.time(),
        },
        None,
        algorithm="none",
    )
    _assert_401(_get(live_app, token), "")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic abc", "Token x"])
def test_missing_or_malformed_authorization_header(live_app: LiveApp, header: str):
    headers = {"Authorization": header} if header else {}
    _assert_401(live_app.client().get("/api/admin/shop", headers=headers), "Authorization")


def test_token_exchange_when_no_offline_token(live_app: LiveApp):
    assert live_app.shop_row(SHOP) is None
    response = _get(live_app, make_session_token(SHOP))
    assert response.status_code == 200, response.json
    assert response.json["shop"] == SHOP and response.json["installed"] is True
    assert live_app.fake.calls["token_exchange"] == 1

    row = live_app.shop_row(SHOP)
    assert row is not None and row.is_installed
    [access] = [t.value for t in live_app.fake.tokens_for(SHOP, "access")]
    assert TokenCipher([TEST_FERNET_KEY]).decrypt(row.access_token_enc or "") == access
    assert row.refresh_token_enc is not None  # expiring offline token requested
    [job] = live_app.jobs("low")
    assert job.func_name == "app.jobs.sync.initial_sync" and job.args == (row.id,)

    # The next request uses the stored token: no second exchange.
    assert _get(live_app, make_session_token(SHOP)).status_code == 200
    assert live_app.fake.calls["token_exchange"] == 1


def test_token_exchange_refused_by_shopify_is_401_and_stores_nothing(live_app: LiveApp):
    live_app.fake.reject_token_exchange = True
    _assert_401(_get(live_app, make_session_token(SHOP)), "token exchange")
    row = live_app.shop_row(SHOP)
    assert row is None or row.access_token_enc is None
    assert live_app.jobs("low") == []


def test_shop_a_never_reads_shop_b(live_app: LiveApp):
    a, b = "shop-a.myshopify.com", "shop-b.myshopify.com"
    assert live_app.install(a).status_code == 200
    assert live_app.install(b).status_code == 200
    token_a = make_session_token(a)
    for path in (
        "/api/admin/shop",
        f"/api/admin/shop?shop={b}",
        f"/api/admin/shop?shop_id={live_app.shop_row(b).id}",  # type: ignore[union-attr]
    ):
        response = _get(live_app, token_a, path, **{"X-Shopify-Shop-Domain": b})
        assert response.status_code == 200
        assert response.json["shop"] == a
    assert _get(live_app, make_session_token(b)).json["shop"] == b


def test_admin_shell_loads_app_bridge(client):
    response = client.get("/app?shop=cool-shop.myshopify.com&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvY29vbA")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<meta name="shopify-api-key" content="{TEST_API_KEY}">' in html
    assert '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>' in html
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors https://admin.shopify.com https://cool-shop.myshopify.com" in csp


def test_admin_shell_never_reflects_a_bad_shop(client):
    response = client.get('/app?shop=evil.com"><script>alert(1)</script>')
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "alert(1)" not in html and "evil.com" not in html
    assert "evil.com" not in response.headers["Content-Security-Policy"]
