"""The Contact policy, Activity feed and conversation API: the policy saved only when stricter than the default
hours, the feed's filters, pages and per-day counts, a customer's whole thread, and every read the token's
shop's (another shop's ids are 404 or empty)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fixtures_shopify import InstalledShop, LiveApp, make_session_token
from sqlmodel import Session

from app.models.commerce import Customer
from app.models.messaging import ConversationMessage, MessageDecision, OutboxMessage
from app.models.serving import HoldoutPolicy

OTHER = "other-shop.myshopify.com"
DAY0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def get(live: LiveApp, shop: str, path: str):
    return live.client().get(path, headers={"Authorization": f"Bearer {make_session_token(shop)}"})


def put(live: LiveApp, shop: str, path: str, body):
    return live.client().put(path, json=body, headers={"Authorization": f"Bearer {make_session_token(shop)}"})


POLICY = {"per_day": 1, "per_week": 2, "allowed_from": "09:30", "allowed_until": "20:00"}


def test_policy_saves_stricter_hours_and_holdouts(live_app: LiveApp, installed_shop: InstalledShop, session):
    domain = installed_shop.domain
    assert live_app.client().get("/api/admin/contact-policy").status_code == 401
    default = get(live_app, domain, "/api/admin/contact-policy").json
    assert (default["per_day"], default["per_week"]) == (1, 3)
    assert (default["allowed_from"], default["allowed_until"]) == ("08:00", "21:00")
    assert {"agent": "browse_abandonment", "share": 0.1, "default": True} in default["holdouts"]
    body = {**POLICY, "timezone": "Europe/London", "holdouts": {"browse_abandonment": 0.25}}
    saved = put(live_app, domain, "/api/admin/contact-policy", body)
    assert saved.status_code == 200, saved.json
    got = get(live_app, domain, "/api/admin/contact-policy").json
    assert (got["per_week"], got["allowed_from"], got["allowed_until"]) == (2, "09:30", "20:00")
    assert got["timezone"] == "Europe/London" and got["updated_at"]
    assert {"agent": "browse_abandonment", "share": 0.25, "default": False} in got["holdouts"]
    # the timezone left out keeps the stored one
    assert put(live_app, domain, "/api/admin/contact-policy", POLICY).json["timezone"] == "Europe/London"
    # the other shop still has the defaults
    assert live_app.install(OTHER).status_code == 200
    theirs = get(live_app, OTHER, "/api/admin/contact-policy").json
    assert theirs["per_week"] == 3 and theirs["allowed_from"] == "08:00"
    assert {"agent": "browse_abandonment", "share": 0.1, "default": True} in theirs["holdouts"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"allowed_from": "07:30"}, "allowed_from", "stricter than 08:00-21:00"),
        ({"allowed_until": "22:00"}, "allowed_from", "stricter than 08:00-21:00"),
        ({"allowed_from": "20:00", "allowed_until": "09:00"}, "allowed_from", "start before it ends"),
        ({"allowed_from": "9am"}, "allowed_from", "like 08:00"),
        ({"per_day": 4, "per_week": 3}, "per_day", "cannot exceed the weekly"),
        ({"per_day": -1}, "per_day", "whole number"),
        ({"per_week": "3"}, "per_week", "whole number"),
        ({"timezone": "Mars/Olympus"}, "timezone", "not a time zone"),
        ({"holdouts": {"browse_abandonment": 0.9}}, "holdouts", "0 to 0.5"),
        ({"holdouts": {"Robert'); DROP": 0.1}}, "holdouts", "not an agent name"),
        ({"quiet": True}, "quiet", "unknown field"),
    ],
)
def test_policy_refuses_bad_input(live_app: LiveApp, installed_shop: InstalledShop, change, field, words):
    response = put(live_app, installed_shop.domain, "/api/admin/contact-policy", {**POLICY, **change})
    assert response.status_code == 400, response.json
    assert response.json["field"] == field and words in response.json["message"], response.json
    unchanged = get(live_app, installed_shop.domain, "/api/admin/contact-policy").json
    assert unchanged["allowed_from"] == "08:00" and unchanged["per_week"] == 3


def decision(
    session: Session,
    shop_id: int,
    i: int,
    action: str,
    *,
    agent="browse_abandonment",
    channel="email",
    at=DAY0,
    customer=7,
    status="sent",
) -> MessageDecision:
    d = MessageDecision(
        shop_id=shop_id,
        agent=agent,
        shopper_key=f"customer:{customer}",
        customer_shopify_id=customer,
        purpose="marketing",
        action=action,
        arm="holdout" if action == "hold_out" else "treatment",
        channel=channel,
        reason=f"reason {i}",
        proposal_reason="viewed the Blue mug twice",
        dedupe_key=f"k{i}",
        template="message",
        decided_at=at,
    )
    session.add(d)
    session.flush()
    if action in ("send", "defer"):
        o = OutboxMessage(
            shop_id=shop_id,
            decision_id=d.id,
            agent=agent,
            purpose="marketing",
            channel=channel,
            shopper_key=d.shopper_key,
            customer_shopify_id=customer,
            dedupe_key=d.dedupe_key,
            template="message",
            data={"subject": f"Still thinking? {i}"},
            reason=d.proposal_reason,
            proposed_at=at,
            send_at=at,
            status=status,
            provider_id="LOOP9" if status == "sent" else None,
            sent_at=at if status == "sent" else None,
            last_error="PermanentError: the shopper has no e-mail address" if status == "failed" else None,
        )
        session.add(o)
        session.flush()
        session.add(
            ConversationMessage(
                shop_id=shop_id,
                shopper_key=d.shopper_key,
                customer_shopify_id=customer,
                direction="out",
                agent=agent,
                channel=channel,
                reason=d.proposal_reason,
                summary=f"Still thinking? {i}",
                status=status,
                outbox_id=o.id,
                created_at=at,
            )
        )
    return d


def seed(session: Session, shop_id: int) -> None:
    session.add(
        Customer(shop_id=shop_id, shopify_id=7, first_name="Ann", last_name="Lee", email="ann@mugs.test")
    )
    for i in range(30):  # 30 decisions over 3 days: 12 sends, 6 deferrals, 6 held out, 6 suppressed
        action = ("send", "send", "defer", "hold_out", "suppress")[i % 5]
        channel = "sms" if i % 3 == 0 else "email"
        status = "failed" if i == 5 else "sent"
        decision(
            session,
            shop_id,
            i,
            action,
            channel=channel,
            at=DAY0 + timedelta(days=i // 10, minutes=i),
            status=status,
        )
    decision(
        session,
        shop_id,
        99,
        "suppress",
        agent="replenishment",
        channel=None,
        at=DAY0 + timedelta(days=2, hours=5),
    )
    session.commit()


def test_feed_filters_pages_and_scoping(live_app: LiveApp, installed_shop: InstalledShop, session):
    domain, shop_id = installed_shop.domain, installed_shop.id
    assert live_app.client().get("/api/admin/activity").status_code == 401
    seed(session, shop_id)
    first = get(live_app, domain, "/api/admin/activity?per_page=10").json
    assert first["total"] == 31 and first["pages"] == 4 and len(first["decisions"]) == 10
    newest = first["decisions"][0]
    assert newest["agent"] == "replenishment" and newest["channel"] is None and newest["outbox"] is None
    times = [d["decided_at"] for d in first["decisions"]]
    assert times == sorted(times, reverse=True)
    last = get(live_app, domain, "/api/admin/activity?per_page=10&page=4").json
    assert len(last["decisions"]) == 1 and last["decisions"][0]["reason"] == "reason 0"
    seen = {
        d["id"]
        for p in range(1, 5)
        for d in get(live_app, domain, f"/api/admin/activity?per_page=10&page={p}").json["decisions"]
    }
    assert len(seen) == 31  # every decision once across the pages

    sent = get(live_app, domain, "/api/admin/activity?action=send&channel=email").json
    assert sent["total"] == sum(1 for i in range(30) if i % 5 in (0, 1) and i % 3 != 0)
    assert all(d["action"] == "send" and d["channel"] == "email" for d in sent["decisions"])
    failed = next(
        d
        for d in get(live_app, domain, "/api/admin/activity?per_page=100").json["decisions"]
        if d["reason"] == "reason 5"
    )
    assert failed["outbox"]["status"] == "failed" and "no e-mail address" in failed["outbox"]["error"]
    ok = next(d for d in sent["decisions"])
    assert ok["outbox"]["status"] == "sent" and ok["outbox"]["provider_id"] == "LOOP9"
    assert ok["shopper"] == {"key": "customer:7", "customer_id": "7", "client_id": None, "name": "Ann Lee"}
    held = get(live_app, domain, "/api/admin/activity?action=hold_out").json
    assert held["total"] == 6 and all(
        d["arm"] == "holdout" and d["outbox"] is None for d in held["decisions"]
    )
    day2 = get(live_app, domain, "/api/admin/activity?from=2026-03-02&to=2026-03-02").json
    assert day2["total"] == 10
    agent = get(live_app, domain, "/api/admin/activity?agent=replenishment").json
    assert agent["total"] == 1 and agent["facets"]["agents"] == ["browse_abandonment", "replenishment"]
    assert set(agent["facets"]["channels"]) == {"email", "sms"}

    for bad, field in [
        ("action=sent", "action"),
        ("channel=fax", "channel"),
        ("from=yesterday", "from"),
        ("from=2026-03-05&to=2026-03-01", "from"),
        ("page=0", "page"),
        ("per_page=500", "per_page"),
        ("agent=A%20B", "agent"),
    ]:
        response = get(live_app, domain, f"/api/admin/activity?{bad}")
        assert response.status_code == 400 and response.json["field"] == field, bad

    assert live_app.install(OTHER).status_code == 200
    assert get(live_app, OTHER, "/api/admin/activity").json["total"] == 0


def test_daily_counts_by_action(live_app: LiveApp, installed_shop: InstalledShop, session):
    seed(session, installed_shop.id)
    body = get(
        live_app, installed_shop.domain, "/api/admin/activity/daily?from=2026-02-28&to=2026-03-04"
    ).json
    assert [d["date"] for d in body["days"]] == [
        f"2026-0{m}-{d:02d}" for m, d in ((2, 28), (3, 1), (3, 2), (3, 3), (3, 4))
    ]
    by_day = {d["date"]: d for d in body["days"]}
    assert by_day["2026-02-28"] == {"date": "2026-02-28", "send": 0, "defer": 0, "hold_out": 0, "suppress": 0}
    assert by_day["2026-03-01"] == {"date": "2026-03-01", "send": 4, "defer": 2, "hold_out": 2, "suppress": 2}
    assert by_day["2026-03-03"]["suppress"] == 3  # replenishment's too
    email = get(
        live_app,
        installed_shop.domain,
        "/api/admin/activity/daily?from=2026-03-01&to=2026-03-01&channel=email",
    ).json
    assert sum(email["days"][0][a] for a in body["actions"]) == sum(1 for i in range(10) if i % 3 != 0)
    default = get(live_app, installed_shop.domain, "/api/admin/activity/daily").json
    assert len(default["days"]) == 30
    too_long = get(live_app, installed_shop.domain, "/api/admin/activity/daily?from=2020-01-01&to=2026-01-01")
    assert too_long.status_code == 400


def test_customer_conversation_whole_thread_scoped(live_app: LiveApp, installed_shop: InstalledShop, session):
    domain, shop_id = installed_shop.domain, installed_shop.id
    seed(session, shop_id)
    session.add(
        ConversationMessage(
            shop_id=shop_id,
            shopper_key="customer:7",
            customer_shopify_id=7,
            direction="in",
            channel="sms",
            summary="is the blue one back?",
            status="received",
            created_at=DAY0 + timedelta(days=5),
        )
    )
    session.commit()
    body = get(live_app, domain, "/api/admin/customers/7/conversation").json
    messages = body["messages"]
    assert len(messages) == 19  # 18 sent or deferred, 1 reply
    assert [m["at"] for m in messages] == sorted(m["at"] for m in messages)  # oldest first
    reply = messages[-1]
    assert (
        reply["direction"] == "in"
        and reply["channel"] == "sms"
        and reply["summary"] == "is the blue one back?"
    )
    out = messages[0]
    assert out["direction"] == "out" and out["agent"] == "browse_abandonment" and out["reason"]
    assert out["outbox"]["status"] == "sent" and {m["channel"] for m in messages} == {"email", "sms"}
    assert get(live_app, domain, "/api/admin/customers/8/conversation").status_code == 404
    assert get(live_app, domain, f"/api/admin/customers/{2**64}/conversation").status_code == 404
    assert live_app.install(OTHER).status_code == 200
    assert get(live_app, OTHER, "/api/admin/customers/7/conversation").status_code == 404
    assert live_app.client().get("/api/admin/customers/7/conversation").status_code == 401


def test_holdout_rows_keep_their_salt(live_app: LiveApp, installed_shop: InstalledShop, session):
    session.add(HoldoutPolicy(shop_id=installed_shop.id, agent="browse_abandonment", share=0.1, salt="s1"))
    session.commit()
    body = {**POLICY, "holdouts": {"browse_abandonment": 0.2}}
    assert put(live_app, installed_shop.domain, "/api/admin/contact-policy", body).status_code == 200
    session.expire_all()
    row = session.query(HoldoutPolicy).filter_by(shop_id=installed_shop.id).one()
    assert (row.share, row.salt) == (0.2, "s1")


def test_two_first_saves_at_once_answer_409_not_500(
    live_app: LiveApp, installed_shop: InstalledShop, monkeypatch
):
    from sqlalchemy.exc import IntegrityError

    def raced(*_args, **_kw):
        raise IntegrityError("INSERT INTO holdout_policy", {}, Exception("uq_holdout_policy_agent"))

    monkeypatch.setattr("app.web.admin_activity.save_holdouts", raced)
    response = put(
        live_app, installed_shop.domain, "/api/admin/contact-policy", {**POLICY, "holdouts": {"x": 0.1}}
    )
    assert response.status_code == 409 and response.json["error"] == "conflict"
    assert (
        get(live_app, installed_shop.domain, "/api/admin/contact-policy").json["per_week"] == 3
    )  # rolled back
