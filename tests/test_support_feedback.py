"""The shoppers' 👍/👎 on the support agent's answers (issue 18): only the shopper an answer was given to can rate
it, the last vote counts, and the admin's resolution readout counts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.measurement.support_resolution import SupportTurn, resolution
from app.models.feedback import SupportMessage
from tests import test_support
from tests.test_support import SHOP_A, SHOP_B, ask, signed

shops = test_support.shops  # fixtures


def rate(client, message_id, helpful, *, client_id="cl-1", customer=None, shop=SHOP_A):
    params = {"client_id": client_id} if client_id else {}
    return client.post(
        signed("/support/feedback", params, customer=customer, shop=shop),
        json={"message_id": message_id, "helpful": helpful},
    )


def test_only_the_shopper_who_got_an_answer_rates_it(client, session, shops):
    answer = ask(client, "merino wool hiking socks", client_id="cl-1").json
    mid = answer["message_id"]
    assert rate(client, mid, False).status_code == 200
    assert rate(client, mid, True).status_code == 200  # the last vote counts
    assert session.get(SupportMessage, mid).helpful is True
    assert rate(client, mid, False, client_id="cl-2").status_code == 404  # someone else's answer
    assert rate(client, mid, False, shop=SHOP_B).status_code == 404  # another shop
    question = session.query(SupportMessage).filter_by(role="shopper").first()
    assert rate(client, question.id, True).status_code == 404  # a question is not an answer
    for bad in (
        {"message_id": mid},
        {"message_id": "1", "helpful": True},
        {"message_id": mid, "helpful": "yes"},
    ):
        r = client.post(signed("/support/feedback", {"client_id": "cl-1"}), json=bad)
        assert r.status_code == 400
    assert (
        client.post(
            "/proxy/support/feedback?shop=" + SHOP_A, json={"message_id": mid, "helpful": True}
        ).status_code
        == 401
    )
    session.expire_all()
    assert session.get(SupportMessage, mid).helpful is True


def test_the_readout_counts_the_votes():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    turns = [
        SupportTurn("c1", "client:a", "shopper", "q", now - timedelta(days=5)),
        SupportTurn("c1", "client:a", "assistant", "a", now - timedelta(days=5), helpful=True),
        SupportTurn("c2", "client:b", "shopper", "q", now - timedelta(days=5)),
        SupportTurn("c2", "client:b", "assistant", "a", now - timedelta(days=5), helpful=False),
        SupportTurn("c3", "client:c", "shopper", "q", now - timedelta(days=5)),
        SupportTurn("c3", "client:c", "assistant", "a", now - timedelta(days=5), helpful=True),
        SupportTurn("c4", "client:d", "shopper", "q", now - timedelta(days=5)),
        SupportTurn("c4", "client:d", "assistant", "a", now - timedelta(days=5)),
    ]
    assert resolution(turns, now)["feedback"] == {"up": 2, "down": 1, "helpful_rate": 0.6667}
    assert resolution([], now)["feedback"] == {"up": 0, "down": 0, "helpful_rate": None}
