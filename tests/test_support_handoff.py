"""The support agent's hand-off rules (``app.agents.support_handoff``) and its resolution figures
(``app.measurement.support_resolution``), pure; and both through the app proxy and the admin API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.agents.support_handoff import (
    HANDOFF_TEXT,
    REASONS,
    TOPIC_DETAIL,
    Turn,
    handoff_detail,
    handoff_reason,
    sentiment,
)
from app.measurement.support_resolution import SupportTurn, question_key, resolution
from tests.test_support import SHOP_A, ask
from tests.test_support_escalations import _auth, shops  # noqa: F401  (the fixture)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("Can I talk to a real person please?", "asked_for_person"),
        ("I want to speak to someone from customer service", "asked_for_person"),
        ("I will file a chargeback if this is not fixed", "legal_or_chargeback"),
        ("My lawyer will hear about this", "legal_or_chargeback"),
        ("Please cancel my order", "needs_person"),
        ("I need to change my delivery address", "needs_person"),
        ("The mug arrived broken", "needs_person"),
        ("This is the worst, most useless shop ever, I hate it", "frustrated"),
    ],
)
def test_each_rule_hands_off(question, reason):
    assert handoff_reason(question) == reason
    assert reason in REASONS and HANDOFF_TEXT[reason]


def test_ordinary_questions_stay_with_the_agent():
    for q in (
        "Do you ship to Canada?",
        "Is the jacket waterproof?",
        "How long do returns take?",
        "Thanks, that's great!",
    ):
        assert handoff_reason(q) is None, q
    assert sentiment("I love it, thank you!") > 0.5 > -0.5 > sentiment("This is terrible and I am furious")


def test_history_rules_repeats_and_two_abstentions():
    asked = [Turn("shopper", "Do you ship to Canada?"), Turn("assistant", "We ship to Canada.")]
    assert handoff_reason("do you ship to canada", asked) == "repeated_question"
    assert handoff_reason("Do you ship to Mexico?", asked) is None
    one = [Turn("shopper", "a?"), Turn("assistant", "?", abstained=True)]
    two = one + [Turn("shopper", "b?"), Turn("assistant", "?", abstained=True)]
    assert handoff_reason("Do you sell gift cards?", one) is None
    assert handoff_reason("Do you sell gift cards?", two) == "abstained_twice"
    angry = [Turn("shopper", "This is really bad, I'm annoyed")]
    assert handoff_reason("WHERE IS THE SIZE GUIDE", angry) == "frustrated"


def turn(conv, role, hours, *, who="s1", escalated=False, abstained=False, text="q"):
    return SupportTurn(conv, who, role, text, NOW - timedelta(hours=hours), escalated, abstained)


def test_resolution_rate_by_hand():
    turns = [
        # resolved: answered 100 h ago, nothing asked after
        turn("c1", "shopper", 100, who="a"), turn("c1", "assistant", 100, who="a"),
        # handed off
        turn("c2", "shopper", 100, who="b"), turn("c2", "assistant", 100, who="b", escalated=True),
        # followed up within 72 h (another conversation of the same shopper): not resolved
        turn("c3", "shopper", 200, who="c"), turn("c3", "assistant", 200, who="c"),
        turn("c4", "shopper", 190, who="c", text="Can I pay with PayPal?"),
        turn("c4", "assistant", 190, who="c", abstained=True, escalated=True),
        # pending: answered 10 h ago
        turn("c5", "shopper", 10, who="d"), turn("c5", "assistant", 10, who="d"),
        # never touched by the agent
        turn("c6", "shopper", 5, who="e"),
    ]  # fmt: skip
    r = resolution(turns, NOW)
    assert (r["conversations"], r["resolved"], r["handed_off"], r["pending"], r["followed_up"]) == (
        5,
        1,
        2,
        1,
        1,
    )
    assert r["resolution_rate"] == pytest.approx(1 / 4) and r["handoff_rate"] == pytest.approx(2 / 5)
    assert r["unanswered"] == [{"question": "Can I pay with PayPal?", "times": 1}]
    assert "50–60 %" in r["references"]["with_agents"]
    assert question_key("Can I pay with PayPal?") == question_key("can i PAY with paypal")
    assert resolution([], NOW)["resolution_rate"] is None


def test_hand_offs_through_the_proxy_and_the_admin_figures(client, session, shops):  # noqa: F811
    first = ask(client, "Can I talk to a human?", client_id="c-hand-1").get_json()
    assert first["escalated"] is True and first["handoff"] == "asked_for_person"
    assert first["answer"] == HANDOFF_TEXT["asked_for_person"]
    waiting = client.get("/api/admin/support/escalations", headers=_auth(SHOP_A)).get_json()["escalations"]
    assert [(e["question"], e["handoff"]) for e in waiting] == [
        ("Can I talk to a human?", "asked_for_person")
    ]

    figures = client.get("/api/admin/support/resolution?days=7", headers=_auth(SHOP_A)).get_json()
    assert figures["conversations"] == 1 and figures["handed_off"] == 1 and figures["days"] == 7
    assert client.get("/api/admin/support/resolution?days=0", headers=_auth(SHOP_A)).status_code == 400
    assert (
        client.get("/api/admin/support/resolution?days=x", headers=_auth(SHOP_A)).get_json()["field"]
        == "days"
    )
    assert client.get("/api/admin/support/resolution").status_code == 401


@pytest.mark.parametrize(
    ("question", "history", "detail"),
    [
        ("Please cancel my order", (), "asked to cancel an order"),
        ("I need to change my delivery address", (), "asked to change the delivery address"),
        ("The mug arrived broken", (), "reported a damaged item"),
        ("You sent the wrong size", (), "reported a wrong item"),
        ("Can I talk to a real person please?", (), "asked for a person"),
        ("I will file a chargeback if this is not fixed", (), "mentioned 'chargeback': legal or chargeback"),
        (
            "Do you ship to Canada?",
            (Turn("shopper", "do you ship to canada"),),
            "frustration: repeated question",
        ),
        (
            "What about gift wrap?",
            (Turn("assistant", "?", abstained=True), Turn("assistant", "?", abstained=True)),
            "abstained twice: the shop's knowledge had no confident answer",
        ),
    ],
)
def test_the_hand_off_detail_is_the_agents_concrete_reason(question, history, detail):
    """The e-mail's "why" is recomputed from the same question and conversation the rule saw (no stored text)."""
    rule = handoff_reason(question, history)
    assert rule is not None
    assert handoff_detail(rule, question, history) == detail


def test_the_detail_of_frustration_and_of_escalations_without_a_rule():
    question = "This is the worst, most useless shop ever, I hate it"
    detail = handoff_detail("frustrated", question)
    assert detail.startswith("frustration: negative sentiment (-0.") and "VADER" in detail
    assert handoff_detail(None, "I want to return the socks", topic="returns") == TOPIC_DETAIL["returns"]
    assert handoff_detail(None, "Gift wrap?", topic="shop_info", abstained=True).endswith(
        "; the shop's knowledge had no confident answer"
    )
    assert (
        handoff_detail("late_order", "Where is my order?")
        == "the order runs late against the shipping policy"
    )
    assert handoff_detail(None, "?", topic="unknown") == "the assistant had no confident answer"


def test_a_high_value_customer_who_is_unsure_reaches_a_person_sooner():
    for q in (
        "I'm not sure which size to pick",
        "Can't decide between the two jackets",
        "This is a bit disappointing",
    ):
        assert handoff_reason(q, high_value=True) == "high_value_unsure", q
        assert handoff_reason(q) is None, q  # anyone else: the agent answers
    assert handoff_reason("Do you ship to Canada?", high_value=True) is None  # sure of what they ask
    assert (
        handoff_reason("Please cancel my order", high_value=True) == "needs_person"
    )  # the stronger rule first
    assert (
        "high-value" in handoff_detail("high_value_unsure", "not sure") and HANDOFF_TEXT["high_value_unsure"]
    )


def test_high_value_is_the_shops_top_tenth_by_predicted_clv(client, session, shops):  # noqa: F811
    from sqlmodel import select

    from app.models.profiles import CustomerProfile
    from app.models.shop import Shop
    from app.stores.support import high_value

    shop_id = session.exec(select(Shop.id).where(Shop.domain == SHOP_A)).one()
    for cid in range(900, 940):  # forty scored customers; 939 is the most valuable by far
        clv = 10_000.0 if cid == 939 else 0.5
        session.add(
            CustomerProfile(shop_id=shop_id, customer_key=f"customer:{cid}", customer_shopify_id=cid, clv=clv)
        )
    session.commit()
    assert high_value(session, shop_id, 939) and not high_value(session, shop_id, 905)
    assert not high_value(session, shop_id, 123456) and not high_value(session, shop_id, None)
    vip = ask(client, "I'm not sure which size to pick", customer=939).get_json()
    assert vip["escalated"] is True and vip["handoff"] == "high_value_unsure", vip
    regular = ask(client, "I'm not sure which size to pick", customer=905).get_json()
    assert regular["handoff"] != "high_value_unsure", regular
    other_shop = session.exec(select(Shop.id).where(Shop.domain != SHOP_A)).first()
    assert not high_value(session, other_shop, 939)  # another shop's profiles say nothing of this one
