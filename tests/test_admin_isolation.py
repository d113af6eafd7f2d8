"""Every admin endpoint wants a session token (401 without one) and answers for the token's shop only: the whole ``/api/admin`` API, walked from the
app's own URL map with another shop's token and the first shop's ids, shows nothing of the first shop and
changes none of its rows. A new endpoint is walked automatically (a path parameter this test cannot fill fails
it)."""

from __future__ import annotations

import re
from typing import Any

from control_room_support import seed_shop
from fixtures_shopify import InstalledShop, LiveApp, make_session_token
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.campaigns import Campaign, MessageVariant
from app.models.commerce import Customer
from app.models.control_room import AgentSetting
from app.models.feedback import SupportMessage
from app.models.knowledge import SupportFaq
from app.models.serving import HoldoutPolicy

OTHER = "other-shop.myshopify.com"
MARK = "zebulon"  # in every text of the first shop's rows; never in the other shop's
PARAMS = {
    "agent": "rescue",
    "placement": "home",
    "kind": "pins",
    "channel": "email",
    "test_id": "t1",
    "name": "messenger",
    "competitor": "acme",
}


def _first_shops_rows(session: Session, shop_id: int) -> dict[str, int]:
    seed_shop(session, shop_id, utcnow(), n=60)
    for c in session.exec(select(Customer).where(Customer.shop_id == shop_id)).all():
        c.email, c.first_name, c.last_name = f"{MARK}{c.shopify_id}@example.com", "Zebulon", "Zebulonsson"
        session.add(c)
    faq = SupportFaq(shop_id=shop_id, question="Does Zebulon ship?", answer="Zebulon ships daily.")
    asked = SupportMessage(
        shop_id=shop_id,
        conversation="zeb",
        customer_shopify_id=5,
        role="assistant",
        text="Zebulon will answer you",
        escalated=True,
    )
    campaign = Campaign(shop_id=shop_id, name="Zebulon news", subject="Zebulon", body="Zebulon's spring")
    session.add_all([faq, asked, campaign])
    session.flush()
    session.add(MessageVariant(shop_id=shop_id, agent="rescue", key="a", subject="Zebulon waits"))
    session.commit()
    return {"faq": faq.id, "message": asked.id, "customer": 5, "campaign": campaign.id}


def _state(session: Session, shop_id: int) -> Any:
    session.expire_all()
    return (
        [
            (f.question, f.answer)
            for f in session.exec(select(SupportFaq).where(SupportFaq.shop_id == shop_id))
        ],
        [
            m.resolved_at
            for m in session.exec(select(SupportMessage).where(SupportMessage.shop_id == shop_id))
        ],
        session.exec(select(AgentSetting).where(AgentSetting.shop_id == shop_id)).all(),
        sorted(
            (h.agent, h.share)
            for h in session.exec(select(HoldoutPolicy).where(HoldoutPolicy.shop_id == shop_id))
        ),
        [c.status for c in session.exec(select(Campaign).where(Campaign.shop_id == shop_id))],
        [
            (v.agent, v.key, v.active)
            for v in session.exec(select(MessageVariant).where(MessageVariant.shop_id == shop_id))
        ],
    )


def _paths(rule: str, ids: dict[str, int]) -> list[str]:
    """The rule with its parameters filled with the first shop's ids (every int id it has)."""
    names = re.findall(r"<(?:(\w+):)?(\w+)>", rule)
    if not names:
        return [rule]
    paths = [rule]
    for conv, name in names:
        token = f"<{conv + ':' if conv else ''}{name}>"
        if conv == "int":
            values = [str(v) for v in ids.values()]
        elif name in PARAMS:
            values = [PARAMS[name]]
        else:
            raise AssertionError(f"the isolation walk cannot fill <{name}> in {rule}: add it to PARAMS")
        paths = [p.replace(token, v) for p in paths for v in values]
    return paths


def test_another_shops_token_finds_nothing_of_the_first_shop(
    jobs_env, live_app: LiveApp, installed_shop: InstalledShop, session: Session
):
    ids = _first_shops_rows(session, installed_shop.id)
    assert live_app.install(OTHER).status_code == 200
    before = _state(session, installed_shop.id)
    client = live_app.client()
    rules = [r for r in live_app.flask_app.url_map.iter_rules() if r.rule.startswith("/api/admin")]
    walked = set()
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for path in _paths(rule.rule, ids):
                headers = {"Authorization": f"Bearer {make_session_token(OTHER)}"}
                body = {} if method in ("PUT", "POST") else None
                r = client.open(path, method=method, json=body, headers=headers)
                text = r.get_data(as_text=True).lower()
                assert r.status_code < 500, (method, path, r.status_code, text[:300])
                assert MARK not in text and installed_shop.domain not in text, (method, path, text[:300])
                walked.add((method, rule.rule))
                bare = client.open(path, method=method, json=body)  # no token at all: 401, nothing else
                assert bare.status_code == 401, (method, path, bare.status_code)
    assert len(walked) == sum(len(r.methods - {"HEAD", "OPTIONS"}) for r in rules) >= 40
    assert _state(session, installed_shop.id) == before
    # the first shop's own token does see its rows (the walk could have found them)
    mine = {"Authorization": f"Bearer {make_session_token(installed_shop.domain)}"}
    assert MARK in client.get("/api/admin/support/faq", headers=mine).get_data(as_text=True).lower()
    assert (
        MARK
        in client.get(f"/api/admin/customers/{ids['customer']}", headers=mine).get_data(as_text=True).lower()
    )
