"""In-session recovery in ``/api/admin/rescue``: the share of at-risk sessions converting within 7 days, treated
against held out, with the 95 % interval, per rung too; a conversion is an order of the signed-in customer or
carrying the session's cart token, or the pixel's checkout_completed from its browser; only after the decision,
only within the window, only the token's shop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.db import session_scope
from app.models.commerce import Order
from app.models.events import PixelEvent
from app.models.nudge import NudgeSession
from app.models.shop import Shop
from tests.test_rescue_admin import DOMAIN, OTHER, _token


def _session(shop_id: int, i: int, holdout: bool, at: datetime, **kw) -> NudgeSession:
    return NudgeSession(shop_id=shop_id, session_key=f"k{i}", holdout=holdout, action="hold_out" if holdout else "show",
                        rung="help", reason="r", decided_at=at, started_at=at, updated_at=at, **kw)  # fmt: skip


def seed_sessions(s, shop: int, at: datetime) -> None:
    """60 treated help sessions, 30 converting; 60 held out, 12 converting (and 8 that bought outside)."""
    for i in range(60):  # treated: 30 convert (20 signed-in customers' orders, 10 by cart token)
        s.add(_session(shop, i, False, at, customer_shopify_id=7000 + i if i < 20 else None,
                       client_id=f"c{i}", cart_token=f"cart{i}"))  # fmt: skip
        if i < 30:
            s.add(Order(shop_id=shop, shopify_id=90_000 + i, customer_shopify_id=7000 + i if i < 20 else None,
                        cart_token=None if i < 20 else f"cart{i}", test=False, total_price=Decimal("50"),
                        processed_at=at + timedelta(days=1), currency="USD"))  # fmt: skip
    for i in range(60, 120):  # held out: 12 convert (the pixel's checkout_completed from their browser)
        s.add(_session(shop, i, True, at, client_id=f"c{i}"))
        if i < 72:
            s.add(PixelEvent(shop_id=shop, event_id=f"e{i}", client_id=f"c{i}", name="checkout_completed",
                             occurred_at=at + timedelta(hours=5), data={"checkout": {"totalPrice": 40}}))  # fmt: skip
        elif i < 80:  # bought before the decision, or after the window: not recovered
            when = at - timedelta(hours=1) if i < 76 else at + timedelta(days=8)
            s.add(PixelEvent(shop_id=shop, event_id=f"e{i}", client_id=f"c{i}", name="checkout_completed",
                             occurred_at=when))  # fmt: skip


def test_in_session_recovery_treated_vs_holdout_with_its_interval(client, jobs_env):
    at = datetime.now(UTC) - timedelta(days=10)
    with session_scope(jobs_env.database_url) as s:
        shops = [Shop(domain=d, access_token_enc="x", installed_at=at) for d in (DOMAIN, OTHER)]
        s.add_all(shops)
        s.flush()
        shop, other = shops[0].id, shops[1].id
        seed_sessions(s, shop, at)
        s.add(_session(other, 999, False, at, client_id="c0"))  # another shop's session, the same browser id
    r = client.get("/api/admin/rescue", headers={"Authorization": f"Bearer {_token()}"})
    assert r.status_code == 200, r.json
    ins = r.json["in_session"]
    overall = ins["overall"]
    assert overall["treated"] == {"sessions": 60, "recovered": 30, "recovery_rate": 0.5}
    assert overall["holdout"] == {"sessions": 60, "recovered": 12, "recovery_rate": 0.2}
    diff = overall["incremental_recovery"]
    assert diff["estimate"] == 0.3 and 0 < diff["low"] < 0.3 < diff["high"]
    assert [row["arm"] for row in ins["rungs"]] == ["help"]
    assert "7 days" in ins["definition"]
    other_view = client.get("/api/admin/rescue", headers={"Authorization": f"Bearer {_token(OTHER)}"}).json
    assert other_view["in_session"]["overall"]["treated"]["sessions"] == 1
    assert other_view["in_session"]["overall"]["treated"]["recovered"] == 0


def test_the_nightly_fit_learns_the_shops_risk_layer_from_untreated_sessions(jobs_env):
    import random

    from app import tasks
    from app.jobs.nudge import fit_nudge_risk
    from app.modelling.hesitation import Hesitation, ShopRiskLayer, risk
    from app.stores.nudge import shop_row
    from app.worker import PERIODIC_JOBS

    assert (tasks.FIT_ALL_NUDGE_RISK, "low", None, "57 4 * * *") in PERIODIC_JOBS
    assert (tasks.PERSIST_LIVE_SESSIONS, "low", 60, None) in PERIODIC_JOBS
    rng = random.Random(5)
    at = datetime.now(UTC) - timedelta(days=20)
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain=DOMAIN, access_token_enc="x", installed_at=at)
        s.add(shop)
        s.flush()
        shop_id = shop.id
        for i in range(400):  # in this shop a re-add almost always ends in a purchase (it is a size swap)
            readd = i % 2 == 0
            buys = rng.random() < (0.8 if readd else 0.2)
            treated = i % 10 == 0  # shown a nudge: not training data
            s.add(NudgeSession(shop_id=shop_id, session_key=f"k{i}", client_id=f"c{i}", started_at=at,
                               updated_at=at, features={"readds": 1.0 if readd else 0.0, "intent": None},
                               action="show" if treated else None, decided_at=at if treated else None))  # fmt: skip
            if buys:
                s.add(PixelEvent(shop_id=shop_id, event_id=f"e{i}", client_id=f"c{i}", name="checkout_completed",
                                 occurred_at=at + timedelta(hours=2)))  # fmt: skip
    result = fit_nudge_risk(shop_id)
    assert result == {"shop_id": shop_id, "sessions": 360, "fitted": True, "abandoned": result["abandoned"]}
    with session_scope(jobs_env.database_url) as s:
        layer = ShopRiskLayer.from_dict(shop_row(s, shop_id).risk_layer)
    assert layer.n_sessions == 360
    readd = risk(None, Hesitation(readds=1), layer).probability
    plain = risk(None, Hesitation(), layer).probability
    prior_readd = risk(None, Hesitation(readds=1)).probability
    assert prior_readd > risk(None, Hesitation()).probability  # the prior: a re-add raises the risk
    assert readd < plain and readd < prior_readd - 0.25  # learned: in this shop it lowers it
