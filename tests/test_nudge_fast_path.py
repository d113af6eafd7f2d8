"""``POST /proxy/nudge`` through the app proxy's WSGI fast path (``app.web.proxy_fast``): the same answers, byte for
byte, as the Flask route; every refusal (forged or stale signature, another customer, an uninstalled shop, bad
input) left to Flask; the rate limit's 429 from the fast path itself; sessions and the pixel's checkout-step facts
kept apart per shop and per shopper; and a new session's checkout steps read from the pixel's Redis fact (no
``pixel_event`` query) once those facts reach back over the nudge's lookback."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from sqlmodel import select

from app import create_app
from app.measurement.holdout import GLOBAL
from app.models.messaging import MessageDecision
from app.models.nudge import NudgeSession
from app.models.serving import HoldoutPolicy
from app.models.shop import Shop
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from app.stores import nudge as nudge_store
from app.stores import nudge_live
from tests import test_nudge_proxy as nudge_proxy
from tests.conftest import TEST_PREVIOUS_SECRET
from tests.test_nudge_proxy import HESITATION, SHIPPING, body, persist_live
from tests.test_nudge_reads_cache import _count_queries
from tests.test_proxy_storefront import SHOP, signed

demo = nudge_proxy.demo  # fixture
OTHER = "attune-other.myshopify.com"
STEPS = [HESITATION[:1], HESITATION[1:3], HESITATION[3:]]  # the bench's three requests of a session


@pytest.fixture
def no_global_holdout(session, demo):
    session.add(HoldoutPolicy(shop_id=demo.shop_id, agent=GLOBAL, share=0.0))
    session.commit()
    nudge_store.clear_caches()


@pytest.fixture
def counted(app):
    """The Flask app behind the fast path, counting the requests it is handed."""
    handed: list[str] = []
    inner = app.wsgi_app.inner

    def flask(environ, start_response):
        handed.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app.inner = flask
    return handed


@pytest.fixture
def flask_only(settings):
    plain = create_app(settings)
    plain.config["TESTING"] = True
    plain.wsgi_app = plain.wsgi_app.inner
    return plain


def post(client, payload, *, customer=None, client_id="cid-1", shop=SHOP, raw=None, content_type=None, **kw):
    query = {"client_id": client_id} if client_id else {}
    return client.post(
        signed("/nudge", query, customer=customer, shop=shop, **kw),
        data=raw if raw is not None else json.dumps(payload),
        content_type=content_type or "application/json",
    )


def _same(a, b) -> None:
    assert (a.status, a.data) == (b.status, b.data)
    drop = {"Server-Timing"}
    assert [h for h in a.headers if h[0] not in drop] == [h for h in b.headers if h[0] not in drop]
    assert a.headers["Server-Timing"].startswith("app;dur=") and b.headers["Server-Timing"].startswith(
        "app;dur="
    )


def test_the_fast_path_answers_as_the_flask_route_does(
    app, flask_only, demo, no_global_holdout, counted, session
):
    fast, plain = app.test_client(), flask_only.test_client()
    for i, signals in enumerate(STEPS):  # the same session shape, one through each way in
        a = post(fast, body("sess-fast-01", signals, locale="de-DE"), client_id="cid-fast")
        b = post(plain, body("sess-flask-1", signals, locale="de-DE"), client_id="cid-flask")
        _same(a, b)
        assert a.status_code == 200 and (a.json["nudge"] is None) == (i < 2), a.json
    assert a.json["nudge"]["title"] == "Versand zu dir"
    a, b = (post(c, body(f"sess-cust-0{i}"), customer=DEMO_CUSTOMER) for i, c in enumerate((fast, plain)))
    _same(a, b)
    assert a.json["nudge"]["rung"] == "help"
    assert counted == []  # the fast path answered every one of them
    decided = session.exec(select(MessageDecision).where(MessageDecision.agent == "nudge")).all()
    assert sorted(d.client_id for d in decided) == ["cid-1", "cid-1", "cid-fast", "cid-flask"]  # all recorded


def test_refusals_and_bad_input_are_left_to_flask(app, flask_only, demo, settings, session, counted):
    fast, plain = app.test_client(), flask_only.test_client()
    gone = Shop(
        domain=OTHER, access_token_enc="sealed", scopes="read_orders", uninstalled_at=datetime.now(UTC)
    )
    session.add(gone)
    session.commit()
    old = int(time.time()) - 3600
    cases = {
        "forged": lambda c: post(c, body(), secret="not-the-secret-0123456789"),
        "stale": lambda c: post(c, body(), timestamp=old),
        "unsigned": lambda c: c.post(f"/proxy/nudge?shop={SHOP}&client_id=x", json=body()),
        "another customer": lambda c: c.post(
            signed("/nudge", {"client_id": "c", "customer_id": "7"}, customer=DEMO_CUSTOMER), json=body()
        ),
        "uninstalled": lambda c: post(c, body(), shop=OTHER),
        "nobody": lambda c: post(c, body(), client_id=None),
        "not json": lambda c: post(c, None, raw="{nope"),
        "text": lambda c: post(c, None, raw=json.dumps(body()), content_type="text/plain"),
        "too big": lambda c: post(c, None, raw=" " * 20_000 + json.dumps(body())),
        "bad session": lambda c: post(c, body(session_id="x")),
        "bad signal": lambda c: post(c, body(signals=[{"id": "1", "kind": "dance"}])),
    }
    expected = {"forged": 401, "stale": 401, "unsigned": 401, "another customer": 403, "uninstalled": 403}
    for name, call in cases.items():
        a, b = call(fast), call(plain)
        assert (a.status_code, a.data) == (b.status_code, b.data), name
        assert a.status_code == expected.get(name, a.status_code) and a.status_code >= 400, (name, a.json)
    assert len(counted) == len(cases)  # every refusal came from Flask
    assert (
        post(fast, body(), secret=TEST_PREVIOUS_SECRET).status_code == 200
    )  # the previous secret still signs
    assert session.exec(select(MessageDecision)).all() != []


def test_the_rate_limit_answers_429_from_the_fast_path(app, flask_only, demo, counted):
    for a in (app, flask_only):
        cfg = a.extensions["attune.settings"]
        a.extensions["attune.settings"] = cfg.model_copy(update={"nudge_rate_client_per_min": 8})
    fast, plain = app.test_client(), flask_only.test_client()
    assert post(fast, body(signals=HESITATION[:5]), client_id="cid-a").status_code == 200
    assert post(plain, body(signals=HESITATION[:5]), client_id="cid-b").status_code == 200
    a = post(fast, body(signals=HESITATION), client_id="cid-a")
    b = post(plain, body(signals=HESITATION), client_id="cid-b")
    assert a.status_code == 429 and int(a.headers["Retry-After"]) >= 1
    assert (a.status, a.data, a.headers["Cache-Control"]) == (b.status, b.data, b.headers["Cache-Control"])
    assert counted == []
    assert post(fast, body(signals=HESITATION[:2]), client_id="someone-else").status_code == 200


def test_sessions_and_step_facts_are_kept_apart_per_shop_and_shopper(
    app, demo, no_global_holdout, settings, session
):
    other = seed_demo_shop(session, OTHER)
    nudge_store.save_settings(session, other.shop_id, SHIPPING)
    session.commit()
    redis = Redis.from_url(settings.redis_url)
    redis.set(nudge_live.STEPS_SINCE, time.time() - 3 * 3600)
    nudge_live.record_steps(redis, demo.shop_id, "cid-s", [("checkout_started", time.time() - 300)])
    fast = app.test_client()
    assert post(fast, body(signals=HESITATION[:3]), customer=DEMO_CUSTOMER).status_code == 200
    intruder = post(fast, body(signals=HESITATION[3:4]), client_id="intruder").json
    assert intruder["nudge"] is None and intruder["why"] == []  # none of the customer's signals
    elsewhere = post(fast, body(signals=HESITATION[3:4]), client_id="cid-s", shop=OTHER).json
    assert "stalled in checkout" not in elsewhere["why"]  # the same browser id in another shop: not its steps
    mine = post(fast, body(signals=HESITATION[3:4]), client_id="cid-s").json
    assert "stalled in checkout" in mine["why"]
    assert persist_live(settings) == 4
    rows = session.exec(select(NudgeSession)).all()
    assert sorted((r.shop_id, r.client_id, r.events) for r in rows) == sorted(
        [
            (demo.shop_id, "cid-1", 3),
            (demo.shop_id, "intruder", 1),
            (other.shop_id, "cid-s", 1),
            (demo.shop_id, "cid-s", 1),
        ]
    )


def _pixel_step(client, session, demo, name: str, client_id: str, seconds_ago: int):
    shop = session.exec(select(Shop).where(Shop.id == demo.shop_id)).one()
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    event = {
        "id": f"sh-{uuid.uuid4()}",
        "name": name,
        "type": "standard",
        "timestamp": at.isoformat(),
        "seq": 1,
        "context": {"url": "https://attune-demo.example/checkouts/c1"},
        "data": {},
    }
    batch = {
        "shop": shop.domain,
        "pixelKey": shop.pixel_key,
        "clientId": client_id,
        "customerId": None,
        "timeZone": "UTC",
        "sentAt": datetime.now(UTC).isoformat(),
        "events": [event],
    }
    answer = client.post("/pixel/events", data=json.dumps(batch), content_type="text/plain;charset=UTF-8")
    assert answer.status_code == 200, answer.json


def test_a_new_session_reads_the_pixels_steps_from_redis_once_the_facts_reach_back(
    client, demo, no_global_holdout, settings, session
):
    redis = Redis.from_url(settings.redis_url)
    _pixel_step(client, session, demo, "checkout_started", "cid-p", 300)
    assert redis.get(nudge_live.STEPS_SINCE) is not None  # the ingress marks when its facts begin
    seen, stop = _count_queries(settings)
    try:  # the facts are younger than the lookback: the database answers, as before
        young = post(client, body("sess-pix-01", HESITATION[:1]), client_id="cid-p").json
    finally:
        stop()
    assert any("pixel_event" in q for q in seen) and "stalled in checkout" in young["why"]

    redis.set(nudge_live.STEPS_SINCE, time.time() - 3 * 3600)  # the ingress has written them for three hours
    seen, stop = _count_queries(settings)
    try:
        known = post(client, body("sess-pix-02", HESITATION[:1]), client_id="cid-p").json
        none = post(client, body("sess-pix-03", HESITATION[:1]), client_id="cid-none").json
    finally:
        stop()
    assert not any("pixel_event" in q for q in seen), seen
    assert "stalled in checkout" in known["why"] and "stalled in checkout" not in none["why"]
    _pixel_step(client, session, demo, "checkout_contact_info_submitted", "cid-none", 60)
    later = post(client, body("sess-pix-03", HESITATION[1:2]), client_id="cid-none").json
    assert "stalled in checkout" in later["why"]  # fresh at once: no cache life to wait out, no return needed
    persist_live(settings)
    row = session.exec(select(NudgeSession).where(NudgeSession.client_id == "cid-none")).one()
    assert row.features["checkout_step"] == 2


def test_steps_older_than_the_lookback_and_unreadable_facts_are_ignored():
    now = time.time()
    raw = f"checkout_started {now - 8000:.3f};payment_info_submitted {now - 60:.3f};".encode()
    cutoff = now - 7200
    assert nudge_live.parse_steps(raw, str(now - 9000).encode(), cutoff) == [
        ("payment_info_submitted", pytest.approx(now - 60))
    ]
    assert (
        nudge_live.parse_steps(raw, str(now - 100).encode(), cutoff) is None
    )  # facts too young: ask the database
    assert nudge_live.parse_steps(None, str(now - 9000).encode(), cutoff) == []
    assert nudge_live.parse_steps(b"x y;", str(now - 9000).encode(), cutoff) is None
