"""Install (authorization-code grant) against the fake Shopify over real HTTP, and every bad input."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from conftest import TEST_API_KEY, TEST_FERNET_KEY
from fixtures_shopify import LiveApp
from sqlmodel import Session

from app.crypto import TokenCipher
from app.db import get_engine
from app.models.shop import Shop
from app.shopify.verify import admin_query_hmac
from app.web.auth import STATE_COOKIE

SHOP = "cool-shop.myshopify.com"


def _decrypt(value: str | None) -> str:
    assert value is not None
    return TokenCipher([TEST_FERNET_KEY]).decrypt(value)


def _valid_tokens(live: LiveApp, shop: str, kind: str) -> list[str]:
    return [t.value for t in live.fake.tokens_for(shop, kind) if t.valid(time.time())]


def test_full_install_over_http(live_app: LiveApp):
    browser = live_app.browser()
    response = live_app.install(SHOP, browser)

    # /auth → fake authorize → /auth/callback → fake admin landing → /app (the embedded shell)
    hops = [urlparse(r.url).path for r in response.history] + [urlparse(response.url).path]
    assert hops == [
        "/auth",
        f"/store/{SHOP}/admin/oauth/authorize",
        "/auth/callback",
        f"/store/{SHOP}/admin/apps/{TEST_API_KEY}",
        "/app",
    ]
    assert response.status_code == 200
    assert f'<meta name="shopify-api-key" content="{TEST_API_KEY}">' in response.text
    assert parse_qs(urlparse(response.url).query)["shop"] == [SHOP]
    authorize = parse_qs(urlparse(response.history[1].url).query)
    assert authorize["redirect_uri"] == [f"{live_app.url}/auth/callback"]
    assert "grant_options[]" not in authorize  # offline token
    assert set(authorize["scope"][0].split(",")) == live_app.settings.scope_set

    row = live_app.shop_row(SHOP)
    assert row is not None and row.is_installed and row.installed_at is not None
    [access] = _valid_tokens(live_app, SHOP, "access")
    [refresh] = _valid_tokens(live_app, SHOP, "refresh")
    assert _decrypt(row.access_token_enc) == access and access not in (row.access_token_enc or "")
    assert _decrypt(row.refresh_token_enc) == refresh  # expiring offline token: we asked with expiring=1
    assert row.access_token_expires_at is not None and row.access_token_expires_at > datetime.now(UTC)
    assert set(row.scopes.split(",")) == live_app.settings.scope_set
    assert live_app.fake.calls["code"] == 1

    [job] = live_app.jobs("low")
    assert job.func_name == "app.jobs.sync.initial_sync"
    assert job.args == (row.id,)
    assert STATE_COOKIE not in browser.cookies.get_dict()  # cleared after use


def test_reinstall_clears_uninstall_and_enqueues_again(live_app: LiveApp):
    assert live_app.install(SHOP).status_code == 200
    first = live_app.shop_row(SHOP)
    assert first is not None
    with Session(get_engine(live_app.settings.database_url)) as session:
        row = session.get(Shop, first.id)
        assert row is not None
        row.uninstalled_at = datetime.now(UTC)
        row.access_token_enc = row.refresh_token_enc = None
        session.add(row)
        session.commit()
    live_app.fake.revoke_all(SHOP)

    assert live_app.install(SHOP).status_code == 200
    again = live_app.shop_row(SHOP)
    assert again is not None and again.id == first.id
    assert again.uninstalled_at is None and again.is_installed
    assert _decrypt(again.access_token_enc) == _valid_tokens(live_app, SHOP, "access")[-1]
    assert [j.args for j in live_app.jobs("low")] == [(first.id,), (first.id,)]


def test_embedded_install_breaks_out_of_the_iframe(live_app: LiveApp):
    browser = live_app.browser()
    query = urlencode(
        live_app.fake.signed_query(SHOP, embedded="1", host="YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvY29vbC1zaG9w")
    )
    page = browser.get(f"{live_app.url}/auth?{query}", allow_redirects=False, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert STATE_COOKIE not in page.cookies  # no cookie set inside the iframe
    assert 'window.open("' + live_app.url + "/auth?shop=" + SHOP in page.text
    assert f'<meta name="shopify-api-key" content="{TEST_API_KEY}">' in page.text
    top_url = page.text.split('window.open("', 1)[1].split('"', 1)[0].replace("\\u0026", "&")
    assert top_url.startswith(f"{live_app.url}/auth?")

    final = browser.get(top_url, allow_redirects=True, timeout=30)
    assert final.status_code == 200 and urlparse(final.url).path == "/app"
    assert live_app.shop_row(SHOP) is not None


def test_breakout_token_is_bound_to_its_shop(live_app: LiveApp):
    query = urlencode(live_app.fake.signed_query(SHOP, embedded="1"))
    page = live_app.client().get(f"/auth?{query}")
    top_url = page.text.split('window.open("', 1)[1].split('"', 1)[0].replace("\\u0026", "&")
    token = parse_qs(urlparse(top_url).query)["breakout"][0]
    other = live_app.client().get(f"/auth?shop=other-shop.myshopify.com&breakout={token}")
    assert other.status_code == 401 and "another shop" in other.json["message"]
    forged = live_app.client().get(f"/auth?shop={SHOP}&breakout={token[:-2]}xx")
    assert forged.status_code == 401


# --- bad input on /auth -----------------------------------------------------------------------


def _signed(live: LiveApp, **params: str) -> dict[str, str]:
    return dict(live.fake.signed_query(params.pop("shop", SHOP), **params))


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [
        (lambda q: q.pop("hmac"), 401, "missing hmac"),
        (lambda q: q.update(hmac="0" * 64), 401, "invalid hmac"),
        (lambda q: q.update(hmac="zz"), 401, "invalid hmac"),
        (lambda q: q.update(extra="tampered"), 401, "invalid hmac"),
        (lambda q: q.pop("shop"), 400, "missing 'shop'"),
        (lambda q: q.update(shop=""), 400, "missing 'shop'"),
    ],
    ids=["missing-hmac", "forged-hmac", "garbage-hmac", "tampered-param", "no-shop", "empty-shop"],
)
def test_auth_rejects_unsigned_or_forged(live_app: LiveApp, mutate, status, message):
    query = _signed(live_app)
    mutate(query)
    response = live_app.client().get(f"/auth?{urlencode(query)}")
    assert response.status_code == status
    assert message in response.json["message"]
    assert "Location" not in response.headers
    assert live_app.fake.calls["authorize"] == 0


def test_auth_rejects_stale_and_future_timestamps(live_app: LiveApp):
    for ts, message in ((time.time() - 2 * 86400, "too old"), (time.time() + 3600, "future")):
        query = live_app.fake.signed_query(SHOP, timestamp=str(int(ts)))
        response = live_app.client().get(f"/auth?{urlencode(query)}")
        assert response.status_code == 401 and message in response.json["message"]


@pytest.mark.parametrize(
    "shop",
    [
        "evil.com",
        "x.myshopify.com.evil.com",
        "evil.com/x.myshopify.com",
        "x.myshopify.com@evil.com",
        "X.MYSHOPIFY.COM",
        "-x.myshopify.com",
        "x.myshopify.com:8443",
        "https://x.myshopify.com",
        "x.myshopify.com%2F..%2Fevil.com",
    ],
)
def test_auth_rejects_bad_shop_domains_even_when_signed(live_app: LiveApp, shop: str):
    # Signed with the real secret: the domain check must hold on its own.
    query = {"shop": shop, "timestamp": str(int(time.time()))}
    query["hmac"] = admin_query_hmac(query.items(), live_app.settings.shopify_api_secret)
    response = live_app.client().get(f"/auth?{urlencode(query)}")
    assert response.status_code == 400
    assert "shop" in response.json["message"]
    assert "Location" not in response.headers


def test_auth_rejects_duplicate_shop_parameter(live_app: LiveApp):
    query = urlencode(_signed(live_app)) + "&shop=evil.com"
    response = live_app.client().get(f"/auth?{query}")
    assert response.status_code == 400 and "duplicate" in response.json["message"]


def test_auth_redirect_stays_on_the_allow_list(live_app: LiveApp):
    response = live_app.client().get(f"/auth?{urlencode(_signed(live_app))}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(
        f"{live_app.settings.admin_origin(SHOP)}/admin/oauth/authorize?"
    )
    cookie = response.headers["Set-Cookie"]
    assert STATE_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- bad input on /auth/callback ---------------------------------------------------------------


def _begin(live: LiveApp):
    """Start an install in a browser; return (browser, the callback URL the fake sends it to)."""
    browser = live.browser()
    start = browser.get(f"{live.url}/auth?{urlencode(_signed(live))}", allow_redirects=False, timeout=10)
    assert start.status_code == 302
    authorize = browser.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert authorize.status_code == 302
    return browser, authorize.headers["Location"]


def _no_token_stored(live: LiveApp, shop: str = SHOP) -> bool:
    row = live.shop_row(shop)
    return row is None or (row.access_token_enc is None and row.refresh_token_enc is None)


def _resign(params: dict[str, str], secret: str) -> dict[str, str]:
    params = {k: v for k, v in params.items() if k != "hmac"}
    params["hmac"] = admin_query_hmac(params.items(), secret)
    return params


def _params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query, keep_blank_values=True).items()}


def _call(browser, url: str, params: dict[str, str]):
    base = url.split("?", 1)[0]
    return browser.get(f"{base}?{urlencode(params)}", allow_redirects=False, timeout=10)


def _assert_refused(response, status: int, message: str, live: LiveApp) -> None:
    assert response.status_code == status, response.text
    assert message in response.json()["message"]
    assert "Location" not in response.headers
    assert _no_token_stored(live)
    assert live.jobs("low") == []


def test_callback_succeeds_once_and_replay_is_refused(live_app: LiveApp):
    browser, callback = _begin(live_app)
    ok = browser.get(callback, allow_redirects=False, timeout=10)
    assert ok.status_code == 302
    assert ok.headers["Location"] == f"{live_app.settings.admin_origin(SHOP)}/admin/apps/{TEST_API_KEY}"
    stored = live_app.shop_row(SHOP)
    assert stored is not None and stored.access_token_enc is not None

    # Replayed with the same state cookie (re-set: the browser dropped it after success).
    replay_browser, _ = _begin(live_app)
    cookie = replay_browser.cookies.get(STATE_COOKIE)
    browser.cookies.set(STATE_COOKIE, cookie, path="/auth")
    replay = browser.get(callback, allow_redirects=False, timeout=10)
    assert replay.status_code == 401
    assert live_app.fake.calls["code"] == 1


def test_callback_replayed_state_is_refused_before_any_exchange(live_app: LiveApp):
    browser, callback = _begin(live_app)
    cookie = browser.cookies.get(STATE_COOKIE)
    assert browser.get(callback, allow_redirects=False, timeout=10).status_code == 302
    browser.cookies.set(STATE_COOKIE, cookie, path="/auth")
    replay = browser.get(callback, allow_redirects=False, timeout=10)
    assert replay.status_code == 401 and "already used" in replay.json()["message"]
    assert live_app.fake.calls["code"] == 1


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("missing-hmac", 401, "missing hmac"),
        ("forged-hmac", 401, "invalid hmac"),
        ("stale", 401, "too old"),
        ("bad-state", 401, "state does not match"),
        ("missing-state", 400, "missing 'state'"),
        ("missing-code", 400, "missing 'code'"),
        ("no-cookie", 401, "no OAuth state cookie"),
        ("forged-cookie", 401, "cookie is invalid"),
        ("evil-shop", 400, "shop"),
        ("suffix-shop", 400, "shop"),
        ("other-shop", 401, "state does not match"),
        ("bad-code", 400, "rejected the authorization code"),
    ],
)
def test_callback_bad_input(live_app: LiveApp, case: str, status: int, message: str):
    browser, callback = _begin(live_app)
    params = _params(callback)
    secret = live_app.settings.shopify_api_secret
    if case == "missing-hmac":
        params.pop("hmac")
    elif case == "forged-hmac":
        params = _resign(params, "not-the-secret")
    elif case == "stale":
        params = _resign({**params, "timestamp": str(int(time.time()) - 3 * 86400)}, secret)
    elif case == "bad-state":
        params = _resign({**params, "state": "attacker-chosen-state"}, secret)
    elif case == "missing-state":
        params.pop("state")
        params = _resign(params, secret)
    elif case == "missing-code":
        params.pop("code")
        params = _resign(params, secret)
    elif case == "no-cookie":
        browser.cookies.clear()
    elif case == "forged-cookie":
        browser.cookies.clear()
        browser.cookies.set(STATE_COOKIE, "eyJub25jZSI6ICJ4In0.forged.sig", path="/auth")
    elif case == "evil-shop":
        params = _resign({**params, "shop": "evil.com"}, secret)
    elif case == "suffix-shop":
        params = _resign({**params, "shop": "x.myshopify.com.evil.com"}, secret)
    elif case == "other-shop":
        params = _resign({**params, "shop": "other-shop.myshopify.com"}, secret)
    elif case == "bad-code":
        params = _resign({**params, "code": "not-a-code"}, secret)
    response = _call(browser, callback, params)
    _assert_refused(response, status, message, live_app)
    assert _no_token_stored(live_app, "other-shop.myshopify.com")


def test_callback_refuses_insufficient_scopes(live_app: LiveApp):
    live_app.fake.granted_scopes = "read_products"
    response = live_app.install(SHOP)
    assert response.status_code == 403
    assert "read_orders" in response.json()["message"]
    assert _no_token_stored(live_app)
    assert live_app.jobs("low") == []


def test_write_scope_satisfies_read_scope(live_app: LiveApp):
    granted = {s.replace("read_", "write_") for s in live_app.settings.scope_set}
    live_app.fake.granted_scopes = ",".join(sorted(granted))
    assert live_app.install(SHOP).status_code == 200
    assert not _no_token_stored(live_app)


def test_callback_when_shopify_is_down_answers_502_and_stores_nothing(live_app: LiveApp):
    browser, callback = _begin(live_app)
    live_app.fake.stop()
    response = browser.get(callback, allow_redirects=False, timeout=10)
    assert response.status_code == 502
    assert "could not" in response.json()["message"]
    assert _no_token_stored(live_app)
