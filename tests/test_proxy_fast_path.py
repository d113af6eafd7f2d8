"""The WSGI fast path for GET /proxy/recommendations: same answers as Flask, errors left to Flask,
warm workers that read no rows, and a batched served-list log that loses nothing on a clean exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest
import requests
from redis import Redis
from sqlalchemy import event
from sqlmodel import select

from app import create_app
from app.bench.servers import free_port
from app.db import get_engine
from app.jobs.recommendations import refresh_for_shop
from app.jobs.served_log import flush_served_log
from app.models.base import utcnow
from app.models.serving import HoldoutPolicy, ServedList
from app.models.shop import Shop
from app.shopify.verify import proxy_signature
from app.storefront.demo_data import DEMO_CUSTOMER, STOVE_CUSTOMER, seed_demo_shop
from app.storefront.served_log import ServedLogBuffer
from app.stores.served_log import SERVED_LOG_KEY
from app.web.proxy import store_for
from app.web.proxy_fast import ProxyFastPath, finish_worker, prepare_worker
from tests.conftest import ROOT, TEST_API_SECRET

SHOP = "attune-demo.myshopify.com"
SERVE_ID = re.compile(rb'"serve_id":"[0-9a-f]{24}"')


def query(params: dict | None = None, *, customer: int | None = None, **kw) -> str:
    pairs = list((params or {}).items()) + [
        ("shop", kw.get("shop", SHOP)),
        ("logged_in_customer_id", str(customer or "")),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(kw.get("timestamp", int(time.time())))),
    ]
    pairs.append(("signature", proxy_signature(pairs, kw.get("secret", TEST_API_SECRET))))
    return urlencode(pairs)


@pytest.fixture
def demo(session, settings):
    shop = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="recommendations", share=0.5))
    session.commit()
    refresh_for_shop(shop.shop_id, settings)
    return shop


@pytest.fixture
def flask_only(settings):
    app = create_app(settings)
    app.wsgi_app = app.wsgi_app.inner
    return app


def _log_length(settings) -> int:
    return Redis.from_url(settings.redis_url).llen(SERVED_LOG_KEY)


GOOD = [
    {"placement": "fbt", "product_id": "1010", "client_id": "abc-1"},
    {"placement": "product", "product_id": "1008", "limit": "20"},
    {"placement": "home"},
    {"placement": "cart", "product_id": "1004", "client_id": "c-2", "limit": "3"},
    {"placement": "assistant", "client_id": "not a valid id!"},
    {"placement": "post_purchase", "product_id": "1002", "client_id": "c-3"},
    {"placement": "email", "limit": "99"},
    {"product_id": "1001", "client_id": "c-4"},
] + [{"placement": "fbt", "product_id": "1010", "client_id": f"client-{n}"} for n in range(12)]
GOOD_CUSTOMER = [
    {"placement": "buy_again", "limit": "10"},
    {"placement": "home", "limit": "20"},
    {"placement": "product", "product_id": "1010", "customer_id": str(DEMO_CUSTOMER)},
]


def test_fast_path_answers_byte_for_byte_what_flask_answers(app, flask_only, demo, settings):
    """Bodies (but the serve id), statuses and headers (but the timing) are the same, holdout included."""
    cases = [(p, None) for p in GOOD] + [(p, DEMO_CUSTOMER) for p in GOOD_CUSTOMER]
    cases += [({"placement": "home"}, STOVE_CUSTOMER), ({"placement": "buy_again"}, STOVE_CUSTOMER)]
    fast, slow = app.test_client(), flask_only.test_client()
    holdouts = set()
    for params, customer in cases:
        qs = query(params, customer=customer)
        assert app.wsgi_app.answer(qs) is not None, params  # the fast path itself answers these
        a = fast.get("/proxy/recommendations?" + qs)
        b = slow.get("/proxy/recommendations?" + qs)
        assert a.status_code == b.status_code == 200
        assert SERVE_ID.sub(b"", a.data) == SERVE_ID.sub(b"", b.data), params
        assert a.json["serve_id"] != b.json["serve_id"]
        strip = {"Server-Timing"}
        assert [(k, v) for k, v in a.headers.items() if k not in strip] == [
            (k, v) for k, v in b.headers.items() if k not in strip
        ]
        assert re.fullmatch(r"app;dur=\d+\.\d\d", a.headers["Server-Timing"])
        holdouts.add(a.json["holdout"])
    assert holdouts == {True, False}  # share 0.5: both groups were served
    # every answer is in the served-list log (three per case: answer() above, the fast and the Flask GET)
    assert flush_served_log(settings.database_url, settings.redis_url) == 3 * len(cases)


def bad_requests() -> list[tuple[str, str, int]]:
    """Requests every check refuses, signed now (the proxy's signatures expire: signed at import, a long run
    would turn the 403 and 400 cases into 401s)."""
    return [
        ("forged", query({"placement": "home"}, secret="wrong"), 401),
        ("stale", query({"placement": "home"}, timestamp=int(time.time()) - 3600), 401),
        ("unsigned", urlencode({"placement": "home", "shop": SHOP}), 401),
        ("unknown shop", query({"placement": "home"}, shop="other.myshopify.com"), 403),
        ("bad shop", query({"placement": "home"}, shop="evil.example.com"), 400),
        (
            "other customer",
            query({"placement": "home", "customer_id": str(STOVE_CUSTOMER)}, customer=DEMO_CUSTOMER),
            403,
        ),
        (
            "anonymous asks for a customer",
            query({"placement": "home", "customer_id": str(DEMO_CUSTOMER)}),
            403,
        ),
        ("buy again anonymous", query({"placement": "buy_again"}), 403),
        ("bad placement", query({"placement": "nowhere"}), 400),
        ("fbt without product", query({"placement": "fbt"}), 400),
        ("product not a number", query({"placement": "product", "product_id": "abc"}), 400),
        ("product out of range", query({"placement": "product", "product_id": str(2**63)}), 400),
        ("limit not a number", query({"placement": "home", "limit": "x"}), 400),
        ("negative limit", query({"placement": "home", "limit": "-3"}), 400),
        ("zero limit", query({"placement": "home", "limit": "0"}), 400),
        ("tampered", query({"placement": "home"}).replace("placement=home", "placement=cart"), 401),
        ("customer id not a number", query({"placement": "home"}, customer="abc"), 400),  # type: ignore[arg-type]
    ]


def test_every_error_is_left_to_flask_and_logs_nothing(app, flask_only, demo, settings, session):
    shop = session.exec(select(Shop).where(Shop.domain == SHOP)).one()
    fast, slow = app.test_client(), flask_only.test_client()
    for name, qs, status in bad_requests():
        assert app.wsgi_app.answer(qs) is None, name
        a = fast.get("/proxy/recommendations?" + qs)
        b = slow.get("/proxy/recommendations?" + qs)
        assert a.status_code == b.status_code == status, name
        assert a.json == b.json and a.headers["Cache-Control"] == "no-store", name
    # repeated keys and odd methods go to Flask too (it decides how to read them)
    twice = query({"placement": "home"}) + "&placement=cart"
    assert app.wsgi_app.answer(twice) is None
    assert fast.get("/proxy/recommendations?" + twice).status_code == 401
    assert fast.head("/proxy/recommendations?" + query({"placement": "home"})).status_code == 200
    assert fast.post("/proxy/recommendations?" + query({"placement": "home"})).status_code == 405
    # an uninstalled shop is refused by both
    shop.uninstalled_at = utcnow()
    session.add(shop)
    session.commit()
    fresh = create_app(settings)
    qs = query({"placement": "home"})
    assert fresh.wsgi_app.answer(qs) is None
    assert fresh.test_client().get("/proxy/recommendations?" + qs).status_code == 403
    assert _log_length(settings) == 1  # only the HEAD request above was served (by Flask)


def test_a_warm_worker_reads_no_rows(app, demo, settings):
    prepare_worker(app)
    engine = get_engine(settings.database_url)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if threading.current_thread() is threading.main_thread():  # not the worker's periodic list check
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        client = app.test_client()
        for params, customer in [(p, None) for p in GOOD] + [(p, DEMO_CUSTOMER) for p in GOOD_CUSTOMER]:
            r = client.get("/proxy/recommendations?" + query(params, customer=customer))
            assert r.status_code == 200
        home = client.get("/proxy/recommendations?" + query({"placement": "home"}, customer=STOVE_CUSTOMER))
        assert home.json["items"]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []
    finish_worker(app)


def test_buffered_log_is_pushed_in_the_background_and_drained_on_exit(app, demo, settings):
    prepare_worker(app, log_linger=0.2)
    client = app.test_client()
    for n in range(5):
        client.get("/proxy/recommendations?" + query({"placement": "home", "client_id": f"b-{n}"}))
    buffer = store_for(app).log_buffer
    assert buffer is not None
    deadline = time.time() + 10
    while _log_length(settings) < 5 and time.time() < deadline:
        time.sleep(0.05)
    assert _log_length(settings) == 5 and buffer.pending() == 0  # the daemon thread pushed them
    for n in range(3):
        client.get("/proxy/recommendations?" + query({"placement": "cart", "client_id": f"x-{n}"}))
    finish_worker(app)  # what gunicorn's worker_exit hook does
    assert buffer.pending() == 0 and _log_length(settings) == 8
    assert flush_served_log(settings.database_url, settings.redis_url) == 8


def test_buffered_log_writes_rows_directly_when_redis_is_down(demo, settings, session):
    buffer = ServedLogBuffer(settings.database_url, "redis://127.0.0.1:1/0", linger=60)
    entry = {
        "serve_id": "f" * 24,
        "shop_id": demo.shop_id,
        "agent": "recommendations",
        "placement": "home",
        "subject_kind": "client",
        "subject": "c-1",
        "list_id": None,
        "strategy": "popular",
        "variant": "A",
        "holdout": True,
        "product_ids": [1001],
        "served_at": "2026-01-01T00:00:00+00:00",
    }
    buffer.add(entry)
    assert buffer.flush() == 1
    row = session.exec(select(ServedList)).one()
    assert (row.serve_id, row.subject, row.holdout, row.product_ids) == ("f" * 24, "c-1", True, [1001])


def test_production_gunicorn_serves_the_fast_path_and_flushes_the_log_on_shutdown(demo, settings):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SHOPIFY_API_SECRET": TEST_API_SECRET,
        "ATTUNE_ENV": "development",
        "WEB_CONCURRENCY": "2",
        "ATTUNE_EMBEDDER": "hashing",
    }
    cmd = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf", "-b", f"127.0.0.1:{port}"]
    server = subprocess.Popen([*cmd, "app.wsgi:app"], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/proxy/recommendations?"
        deadline = time.time() + 60
        while True:
            try:
                first = requests.get(base + query({"placement": "fbt", "product_id": "1010"}), timeout=5)
                break
            except requests.ConnectionError:
                assert time.time() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        assert first.status_code == 200 and first.json()["items"][0]["product_id"] == 1011
        assert first.headers["Cache-Control"].startswith("public") and "Server-Timing" in first.headers
        for n in range(19):
            r = requests.get(base + query({"placement": "home", "client_id": f"g-{n}"}), timeout=5)
            assert r.status_code == 200
        assert requests.get(base + query({"placement": "home"}, secret="x"), timeout=5).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert "serving caches warmed" in stderr  # each worker warmed itself before serving
    assert stderr.count("search embedder hashing/512 loaded") == 2  # and loaded the search embedder
    assert _log_length(settings) == 20  # nothing buffered was lost on a graceful shutdown
    assert flush_served_log(settings.database_url, settings.redis_url) == 20


def test_the_fast_path_is_installed_once(app):
    from app.web.proxy_fast import install

    wrapped = app.wsgi_app
    assert isinstance(wrapped, ProxyFastPath)
    assert install(app).wsgi_app is wrapped
