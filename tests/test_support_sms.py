"""The support agent by SMS (issue 18, "every channel"): a shopper's text that is no STOP / START / HELP keyword,
signed by Twilio, is answered by a job from the shop's knowledge and sent from the shop's Twilio sender (a loopback
Twilio: a real HTTP server the official SDK talks to), once even when Twilio retries the webhook or the send fails
for a moment; a customer's number joins their own conversation; a hand-off's reply note from the admin goes back by
SMS."""

from __future__ import annotations

import pytest
import requests
from sqlmodel import Session, select

from app.channels.base import TransientError
from app.db import get_engine
from app.models.feedback import SupportMessage
from app.models.messaging import ConversationMessage
from tests import support_channels_support as support
from tests.support_channels_support import queued, run_jobs
from tests.test_support_knowledge import admin, knowledge_shop, minilm_numpy  # noqa: F401  (fixtures)

ACCOUNT, SENDER, VISITOR, ANN = support.TWILIO_ACCOUNT, support.TWILIO_SENDER, support.VISITOR, support.ANN
ANSWER = "app.jobs.support_channels.answer_sms"
twilio, sms_shop = support.twilio, support.sms_shop  # fixtures


def text(live_app, twilio, shop, body: str, sender: str = VISITOR) -> requests.Response:
    """Post a signed incoming SMS to the live app, as Twilio does."""
    signed = twilio.inbound(
        f"{live_app.url}/channels/twilio/inbound?shop={shop.domain}", ACCOUNT, sender, SENDER, body
    )
    return requests.post(signed.url, data=signed.form, headers=signed.headers)


def thread(cfg, shop_id: int, key: str) -> list[tuple[str, str]]:
    with Session(get_engine(cfg.database_url)) as s:
        rows = s.exec(select(ConversationMessage).where(
            ConversationMessage.shop_id == shop_id, ConversationMessage.shopper_key == key
        ).order_by(ConversationMessage.id)).all()  # fmt: skip
        return [(r.direction, r.status) for r in rows]


def turns(cfg, shop_id: int) -> list[SupportMessage]:
    with Session(get_engine(cfg.database_url)) as s:
        return list(
            s.exec(
                select(SupportMessage).where(SupportMessage.shop_id == shop_id).order_by(SupportMessage.id)
            ).all()
        )


def test_a_texted_question_is_answered_by_sms_once_from_the_shops_knowledge(sms_shop, live_app, twilio):
    cfg = live_app.settings
    response = text(live_app, twilio, sms_shop, "Do you ship to Canada?")
    assert response.status_code == 200 and b"<Message>" not in response.content  # answered by the job
    signed = twilio.inbound(
        f"{live_app.url}/channels/twilio/inbound?shop={sms_shop.domain}", ACCOUNT, VISITOR, SENDER, "Hi?"
    )
    for _ in range(2):  # Twilio retries a webhook: one question, one job
        assert requests.post(signed.url, data=signed.form, headers=signed.headers).status_code == 200
    assert text(live_app, twilio, sms_shop, "STOP").status_code == 200  # a keyword is not a question
    assert queued(cfg).count(ANSWER) == 2

    assert run_jobs(cfg, ANSWER) == ["sent", "sent"]
    canada, _ = twilio.messages
    assert canada.to == VISITOR and canada.from_ == SENDER and "Canada" in canada.body
    assert f"https://{sms_shop.domain}/policies/shipping-policy" in canada.body
    assert "STOP" not in canada.body  # an answer is no marketing: no opt-out line

    from app.jobs.support_channels import answer_sms

    again = {"sid": "SMretry", "number": VISITOR, "text": "Do you ship to Canada?"}
    twilio.fail_next(503)  # Twilio down for a moment: the job raises, RQ retries it with the kept answer
    with pytest.raises(TransientError):
        answer_sms(sms_shop.id, again)
    asked = len(turns(cfg, sms_shop.id))
    assert answer_sms(sms_shop.id, again) == "sent" and answer_sms(sms_shop.id, again) == "already sent"
    assert len(turns(cfg, sms_shop.id)) == asked  # the retry sent the kept answer, it did not ask again
    assert len(twilio.messages) == 3
    assert ("out", "sent") in thread(cfg, sms_shop.id, f"phone:{VISITOR}")
    assert {t.client_id for t in turns(cfg, sms_shop.id)} == {f"sms:{VISITOR}"}


def test_a_customers_text_joins_their_conversation_and_a_hand_off_is_answered_by_sms(
    sms_shop, live_app, twilio
):
    cfg = live_app.settings
    assert text(live_app, twilio, sms_shop, "How long does standard delivery take?", sender=ANN).ok
    assert run_jobs(cfg, ANSWER) == ["sent"]
    assert "3-5 business days" in twilio.messages[-1].body and twilio.messages[-1].to == ANN
    ann = [t for t in turns(cfg, sms_shop.id) if t.customer_shopify_id == 7]
    assert [t.role for t in ann] == ["shopper", "assistant"] and ann[0].client_id is None
    assert thread(cfg, sms_shop.id, "customer:7") == [("in", "received"), ("out", "sent")]

    assert text(live_app, twilio, sms_shop, "Can I talk to a real person please?").ok
    assert run_jobs(cfg, ANSWER) == ["sent"]
    assert "person" in twilio.messages[-1].body and "app.jobs.handoff_mail.send_handoff" in queued(cfg)
    note = "Hi, Sam from the shop here: what can I do?"
    assert support.resolve_handoff(live_app.url, sms_shop.domain, f"sms:{VISITOR}", note) == 200
    assert run_jobs(cfg, "app.jobs.support_channels.send_human_reply") == ["sent"]
    assert twilio.messages[-1].to == VISITOR and "Sam from the shop" in twilio.messages[-1].body
    assert thread(cfg, sms_shop.id, f"phone:{VISITOR}")[-1] == ("out", "sent")


def test_a_loop_of_texts_is_answered_at_most_five_times_an_hour(sms_shop, live_app, twilio):
    from app.jobs.support_channels import SMS_ANSWERS_PER_HOUR, answer_sms

    results = [
        answer_sms(sms_shop.id, {"sid": f"SMloop{i}", "number": VISITOR, "text": f"Auto-reply {i}: thanks"})
        for i in range(SMS_ANSWERS_PER_HOUR + 1)
    ]
    assert results[:-1] == ["sent"] * SMS_ANSWERS_PER_HOUR and results[-1].startswith("skipped")
    assert len(twilio.messages) == SMS_ANSWERS_PER_HOUR
