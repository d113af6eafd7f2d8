"""Fixtures for everything that talks to Shopify: a running fake Shopify, the app served over real HTTP
on loopback and wired to it, an installed shop, and session tokens.

Loaded for every test through ``pytest_plugins`` in ``conftest.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import requests
from conftest import TEST_API_KEY, TEST_API_SECRET
from flask import Flask
from redis import Redis
from rq import Queue
from sqlmodel import Session, select
from werkzeug.serving import WSGIRequestHandler, make_server

from app.config import Settings
from app.db import get_engine
from app.models.shop import Shop
from app.shopify.fake import FakeShopify


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class LiveApp:
    """The Attune app on a real loopback port, its settings, and the fake Shopify it talks to."""

    url: str
    settings: Settings
    fake: FakeShopify
    flask_app: Flask

    def client(self):
        return self.flask_app.test_client()

    def browser(self) -> requests.Session:
        """A cookie-keeping HTTP client, like the merchant's browser."""
        return requests.Session()

    def install(self, shop: str, browser: requests.Session | None = None, **params: str) -> requests.Response:
        """Open the install link Shopify would send (signed), following every redirect."""
        browser = browser or self.browser()
        query = urlencode(self.fake.signed_query(shop, **params))
        return browser.get(f"{self.url}/auth?{query}", allow_redirects=True, timeout=30)

    def shop_row(self, domain: str) -> Shop | None:
        with Session(get_engine(self.settings.database_url), expire_on_commit=False) as session:
            return session.exec(select(Shop).where(Shop.domain == domain)).first()

    def jobs(self, queue: str = "low") -> list[Any]:
        return Queue(queue, connection=Redis.from_url(self.settings.redis_url or "")).jobs


@dataclass
class InstalledShop:
    domain: str
    id: int
    access_token: str
    refresh_token: str | None


@pytest.fixture
def fake_shopify() -> Iterator[FakeShopify]:
    """A fresh fake Shopify (own port, own data) for the test."""
    with FakeShopify(TEST_API_KEY, TEST_API_SECRET) as fake:
        yield fake


@pytest.fixture
def shopify_settings(settings: Settings, fake_shopify: FakeShopify) -> Settings:
    """Test settings whose shop origins point at the fake."""
    return settings.model_copy(update={"shopify_admin_origin_template": fake_shopify.origin_template})


@pytest.fixture
def live_app(settings: Settings, fake_shopify: FakeShopify) -> Iterator[LiveApp]:
    """The app served over real HTTP, wired to the fake (and the fake's admin landing to the app)."""
    from app import create_app

    holder: dict[str, Flask] = {}
    server = make_server(
        "127.0.0.1",
        0,
        lambda env, start: holder["app"](env, start),
        threaded=True,
        request_handler=_QuietHandler,
    )
    url = f"http://127.0.0.1:{server.server_port}"
    cfg = settings.model_copy(
        update={"shopify_admin_origin_template": fake_shopify.origin_template, "app_url": url}
    )
    holder["app"] = create_app(cfg)
    holder["app"].config["TESTING"] = True
    fake_shopify.app_url = url
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield LiveApp(url=url, settings=cfg, fake=fake_shopify, flask_app=holder["app"])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def installed_shop(live_app: LiveApp) -> InstalledShop:
    """A shop installed through the full OAuth flow against the fake."""
    domain = "installed-shop.myshopify.com"
    response = live_app.install(domain)
    assert response.status_code == 200, response.text
    row = live_app.shop_row(domain)
    assert row is not None and row.id is not None
    access = [t for t in live_app.fake.tokens_for(domain, "access") if t.valid(time.time())]
    refresh = [t for t in live_app.fake.tokens_for(domain, "refresh") if t.valid(time.time())]
    return InstalledShop(
        domain=domain,
        id=row.id,
        access_token=access[-1].value,
        refresh_token=refresh[-1].value if refresh else None,
    )


def make_session_token(
    shop: str,
    *,
    secret: str = TEST_API_SECRET,
    aud: str = TEST_API_KEY,
    algorithm: str = "HS256",
    ttl: int = 60,
    now: float | None = None,
    **overrides: Any,
) -> str:
    """An App Bridge session token; override any claim to forge a bad one."""
    now = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": aud,
        "sub": "42",
        "exp": now + ttl,
        "nbf": now,
        "iat": now,
        "jti": "jti-1",
        "sid": "sid-1",
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm=algorithm)
