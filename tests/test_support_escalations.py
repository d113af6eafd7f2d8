"""The merchant's side of support escalations: the open list and resolving one (with a reply note, idempotent)
through the embedded-admin API, the resolved state in the shopper's profile, bad requests, and two shops with
the same customer ids staying apart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlmodel import Session, select

from app.config import Settings
from app.models.feedback import SupportMessage
from app.profiles.feedback import SupportTurnRec, summarize_support
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from tests.test_support import ask, profile, run_jobs

SHOP_A = "alpha-support.myshopify.com"  # the shops tests.test_support's helpers sign for
SHOP_B = "beta-support.myshopify.com"
LIST = "/api/admin/support/escalations"


@pytest.fixture
def shops(session: Session, jobs_env: Settings):
    return seed_demo_shop(session, SHOP_A), seed_demo_shop(session, SHOP_B)


def _auth(shop: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return {"Authorization": f"Bearer {jwt.encode(claims, TEST_API_SECRET, algorithm='HS256')}"}


def _resolve(client, message_id, shop: str = SHOP_A, **kwargs):
    return client.post(f"{LIST}/{message_id}/resolve", headers=_auth(shop), **kwargs)


def test_open_escalations_are_listed_and_resolved_once_per_shop(client, session, shops, jobs_env):
    a, b = shops
    asked = ask(client, "do you have a discount code?", customer=DEMO_CUSTOMER)
    assert asked.status_code == 200 and asked.json["escalated"] is True
    ask(client, "where is my order?", customer=DEMO_CUSTOMER)  # answered: not an escalation
    ask(client, "I want a refund", client_id="cl-esc")  # an anonymous visitor's
    ask(client, "do you have a discount code?", customer=DEMO_CUSTOMER, shop=SHOP_B)  # same id, other shop

    listed = client.get(LIST, headers=_auth(SHOP_A))
    assert listed.status_code == 200, listed.json
    items = listed.json["escalations"]
    assert listed.json["open"] == 2 and len(items) == 2
    first, second = items  # longest waiting first
    assert first["question"] == "do you have a discount code?" and first["topic"] == "shop_info"
    assert first["customer_id"] == str(DEMO_CUSTOMER) and first["client_id"] is None
    assert "a person from the shop will reply" in first["answer"] and first["status"] == "open"
    assert second["question"] == "I want a refund" and second["customer_id"] is None
    assert second["client_id"] == "cl-esc"
    theirs = client.get(LIST, headers=_auth(SHOP_B)).json["escalations"]
    assert len(theirs) == 1 and theirs[0]["id"] not in {first["id"], second["id"]}

    # another shop cannot see or resolve shop A's escalation: 404, and nothing changes
    assert _resolve(client, first["id"], shop=SHOP_B).status_code == 404
    assert _resolve(client, theirs[0]["id"], shop=SHOP_A).status_code == 404
    assert client.get(LIST, headers=_auth(SHOP_A)).json["open"] == 2

    done = _resolve(client, first["id"], json={"note": "  Sent you a 10% code by email.  "})
    assert done.status_code == 200, done.json
    assert done.json["changed"] is True
    resolved = done.json["escalation"]
    assert resolved["status"] == "resolved" and resolved["note"] == "Sent you a 10% code by email."
    assert resolved["resolved_at"] and resolved["question"] == "do you have a discount code?"
    again = _resolve(client, first["id"], json={"note": "a different note"})  # idempotent
    assert again.status_code == 200 and again.json["changed"] is False
    assert again.json["escalation"] == resolved
    assert _resolve(client, second["id"]).status_code == 200  # no body: no note
    after = client.get(LIST, headers=_auth(SHOP_A)).json
    assert after == {"escalations": [], "open": 0}
    assert client.get(LIST, headers=_auth(SHOP_B)).json["open"] == 1

    run_jobs(jobs_env)
    support = profile(session, a.shop_id, f"customer:{DEMO_CUSTOMER}").explicit["support"]
    assert support["open_escalations"] == 0 and support["resolved_escalations"] == 1
    assert support["escalations"][0]["status"] == "resolved"
    assert support["escalations"][0]["note"] == "Sent you a 10% code by email."
    anonymous = profile(session, a.shop_id, "client:cl-esc").explicit["support"]
    assert anonymous["open_escalations"] == 0 and anonymous["escalations"][0]["note"] is None
    other = profile(session, b.shop_id, f"customer:{DEMO_CUSTOMER}").explicit["support"]
    assert other["open_escalations"] == 1 and other["resolved_escalations"] == 0


def test_bad_requests_get_clear_4xx(client, session, shops):
    a, _ = shops
    ask(client, "do you have a discount code?", customer=DEMO_CUSTOMER)
    session.expire_all()
    turns = session.exec(
        select(SupportMessage).where(SupportMessage.shop_id == a.shop_id).order_by(SupportMessage.id)
    ).all()
    question, answer_turn = turns
    assert client.get(LIST).status_code == 401
    assert client.post(f"{LIST}/{answer_turn.id}/resolve").status_code == 401
    for limit in ("0", "201", "x", "-1"):
        bad = client.get(f"{LIST}?limit={limit}", headers=_auth(SHOP_A))
        assert bad.status_code == 400 and "limit" in bad.json["message"]
    assert _resolve(client, question.id).status_code == 404  # the shopper's turn is not an escalation
    assert _resolve(client, 10**9).status_code == 404
    assert _resolve(client, 2**64).status_code == 404
    assert _resolve(client, "abc").status_code == 404
    bodies = [
        {"data": "not json", "content_type": "application/json"},
        {"json": ["a list"]},
        {"json": {"note": 5}},
        {"json": {"note": "x" * 2001}},
        {"json": {"note": "ok", "extra": 1}},
    ]
    for body in bodies:
        bad = _resolve(client, answer_turn.id, **body)
        assert bad.status_code == 400, (body, bad.json)
        assert bad.json["message"]
    assert client.get(LIST, headers=_auth(SHOP_A)).json["open"] == 1  # nothing was resolved by bad requests
    assert _resolve(client, answer_turn.id, json={"note": None}).status_code == 200


def test_support_summary_lists_latest_escalations_with_their_state():
    t0 = datetime(2026, 12, 1, 9, tzinfo=UTC)

    def turn(
        minutes: int, role: str, escalated: bool = False, resolved: bool = False, note: str | None = None
    ):
        at = t0 + timedelta(minutes=minutes)
        done = at + timedelta(hours=1) if resolved else None
        return SupportTurnRec("c1", role, "returns", "text", escalated, resolved, at, done, note)

    summary = summarize_support(
        [
            turn(0, "shopper"),
            turn(0, "assistant", escalated=True, resolved=True, note="Refund sent"),
            turn(5, "shopper"),
            turn(5, "assistant", escalated=True),
            turn(9, "shopper"),
            turn(9, "assistant"),
        ]
    )
    assert summary["open_escalations"] == 1 and summary["resolved_escalations"] == 1
    assert [e["status"] for e in summary["escalations"]] == ["open", "resolved"]  # newest first
    assert summary["escalations"][1]["note"] == "Refund sent"
    assert summary["escalations"][1]["resolved_at"] == (t0 + timedelta(hours=1)).isoformat()
