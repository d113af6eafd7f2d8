"""Journey stages (issue 21): each stage from a realistic profile with its reason, stages moving live with
pixel events and orders (the fold and the refresh write them and their moves), and the admin's flow API
(counts, moves, summary, an SVG with labels, 422 on bad input, another shop sees nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fixtures_shopify import InstalledShop, LiveApp, make_session_token
from profile_support import event_data, pixel_rows
from sqlmodel import select

from app.jobs.profiles import fold_pixel_events
from app.models.journey import JourneyStage, JourneyTransition
from app.models.shop import Shop
from app.profiles.journey import STAGES, stage_of
from app.profiles.state import ProfileEvent, apply_events

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _profile(
    names: list[str], *, ago: timedelta = timedelta(hours=1), types: list[str] | None = None
) -> dict:
    events = []
    for i, name in enumerate(names):
        data = event_data(name, i)
        if types and "variant" in data:
            data["variant"]["product"] = {
                "id": f"gid://shopify/Product/{i}",
                "title": f"Lamp {i}",
                "type": types[i],
            }
        events.append(ProfileEvent(f"e{i}", name, NOW - ago + timedelta(seconds=20 * i), "c1", data, {}))
    return apply_events(None, events)


def _buyer(count: int, last_days: float, first_days: float, churn: float | None = None) -> dict:
    profile = _profile(["page_viewed"], ago=timedelta(days=last_days))
    profile["explicit"] = {
        "orders": {
            "count": count,
            "first_at": (NOW - timedelta(days=first_days)).isoformat(),
            "last_at": (NOW - timedelta(days=last_days)).isoformat(),
        }
    }
    if churn is not None:
        profile["derived"] = {"churn_risk": {"value": churn}}
    return profile


def test_every_stage_with_its_reason():
    cases = {
        "new_visitor": _profile(["page_viewed"]),
        "browsing": _profile(["product_viewed", "product_viewed"], types=["Lamps", "Rugs"]),
        "comparing": _profile(
            ["product_viewed", "product_viewed", "product_viewed"], types=["Lamps", "Rugs", "Lamps"]
        ),
        "carting": _profile(["product_viewed", "product_added_to_cart"]),
        "checking_out": _profile(["product_viewed", "product_added_to_cart", "checkout_started"]),
        "first_time_buyer": _buyer(1, 10, 10),
        "repeat_buyer": _buyer(4, 20, 200),
        "lapsing": _buyer(3, 90, 150),
        "lost": _buyer(2, 400, 450),
    }
    for expected, profile in cases.items():
        stage = stage_of(profile, NOW)
        assert stage.stage == expected, (expected, stage)
        assert stage.explanation and stage.label
    assert set(cases) == set(STAGES)
    assert "2 Lamps products" in stage_of(cases["comparing"], NOW).explanation


def test_stages_follow_the_clock_and_the_buyers_rhythm():
    cart = _profile(["product_viewed", "product_added_to_cart"])
    assert stage_of(cart, NOW).stage == "carting"
    assert (
        stage_of(cart, NOW + timedelta(days=3)).stage == "new_visitor"
    )  # an old cart is no longer "carting"
    weekly = _buyer(10, 20, 83)  # buys every week: 20 days without an order is already long
    assert stage_of(weekly, NOW).stage == "repeat_buyer"
    assert stage_of(_buyer(2, 100, 460), NOW).stage == "repeat_buyer"  # buys twice a year: 100 days is normal
    assert stage_of(_buyer(1, 40, 40, churn=0.9), NOW).stage == "lapsing"
    assert "churn risk 90%" in stage_of(_buyer(1, 40, 40, churn=0.9), NOW).explanation
    old = _profile(["page_viewed"], ago=timedelta(days=200))
    assert stage_of(old, NOW).stage == "lost"
    assert stage_of(None, NOW).stage == "new_visitor"


def test_bad_profile_fields_do_not_raise():
    profile = _buyer(2, 10, 50)
    profile["explicit"]["orders"]["last_at"] = "not a date"
    assert stage_of(profile, NOW).stage in STAGES


def _get(live: LiveApp, shop: str, path: str):
    return live.client().get(path, headers={"Authorization": f"Bearer {make_session_token(shop)}"})


def test_stages_move_live_and_the_admin_shows_the_flow(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    shop_id = installed_shop.id
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    fold_pixel_events(
        session, shop_id, pixel_rows(session, shop_id, "web-1", ["page_viewed"], t0=t0, start=1)
    )
    fold_pixel_events(
        session, shop_id, pixel_rows(session, shop_id, "web-2", ["page_viewed"], t0=t0, start=10)
    )
    session.commit()
    fold_pixel_events(
        session,
        shop_id,
        pixel_rows(session, shop_id, "web-1", ["product_viewed", "product_added_to_cart"], t0=t0, start=20),
    )
    session.commit()
    fold_pixel_events(
        session, shop_id, pixel_rows(session, shop_id, "web-1", ["checkout_started"], t0=t0, start=30)
    )
    session.commit()
    rows = {
        r.shopper_key: r
        for r in session.exec(select(JourneyStage).where(JourneyStage.shop_id == shop_id)).all()
    }
    assert {k: r.stage for k, r in rows.items()} == {
        "client:web-1": "checking_out",
        "client:web-2": "new_visitor",
    }
    assert "started checking out" in rows["client:web-1"].explanation
    moves = session.exec(
        select(JourneyTransition.from_stage, JourneyTransition.to_stage)
        .where(JourneyTransition.shop_id == shop_id, JourneyTransition.shopper_key == "client:web-1")
        .order_by(JourneyTransition.id)
    ).all()
    assert [tuple(m) for m in moves] == [
        ("", "new_visitor"),
        ("new_visitor", "carting"),
        ("carting", "checking_out"),
    ]

    assert live_app.client().get("/api/admin/journey").status_code == 401
    body = _get(live_app, installed_shop.domain, "/api/admin/journey?days=7").json
    counts = {s["stage"]: s["count"] for s in body["stages"]}
    assert counts["checking_out"] == 1 and counts["new_visitor"] == 1 and sum(counts.values()) == 2
    assert [s["stage"] for s in body["stages"]] == list(STAGES)
    flows = {(f["from"], f["to"]): f["count"] for f in body["flows"]}
    assert flows[("", "new_visitor")] == 2 and flows[("carting", "checking_out")] == 1
    assert "2 shoppers" in body["summary"]
    svg = body["chart_svg"]
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title" in svg and "Checking out: 1" in svg

    for bad in ("0", "366", "abc", "-1", "7.5"):
        r = _get(live_app, installed_shop.domain, f"/api/admin/journey?days={bad}")
        assert r.status_code == 422 and r.json["field"] == "days"

    other = Shop(domain="other-shop.myshopify.com", access_token_enc="sealed", scopes="read_orders")
    session.add(other)
    session.commit()
    seen = _get(live_app, other.domain, "/api/admin/journey").json
    assert sum(s["count"] for s in seen["stages"]) == 0 and seen["flows"] == []
    assert "No shopper" in seen["summary"]
