"""A support hand-off reaches the shop's support address (issue 18): the escalated conversation's transcript,
who the shopper is, why it came to a person and what was tried, through the shop's e-mail channel to a real
SMTP server; once per hand-off; nothing for answered questions."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.handoff_mail import send_handoff
from app.storefront.demo_data import DEMO_CUSTOMER
from app.stores.channels import save_email_settings
from tests import test_support
from tests.email_support import SENDER
from tests.test_support import ask

shops = test_support.shops  # fixtures


def test_an_escalation_is_emailed_once_with_its_context(client, shops, jobs_env):
    a, _ = shops
    with LoopbackSmtp() as smtp:
        with session_scope(jobs_env.database_url) as s:
            save_email_settings(s, TokenCipher(jobs_env.encryption_keys), a.shop_id,
                                {**SENDER, "reply_to": "help@mugs.test"}, smtp.url)  # fmt: skip
        answered = ask(client, "Where is my order?", customer=DEMO_CUSTOMER).json
        assert answered["escalated"] is False
        handed = ask(client, "I want to return the socks", customer=DEMO_CUSTOMER).json
        assert handed["escalated"] is True
        queue = Queue("default", connection=Redis.from_url(jobs_env.redis_url))
        jobs = [j for j in queue.get_jobs() if j.func_name == "app.jobs.handoff_mail.send_handoff"]
        assert [j.args for j in jobs] == [(a.shop_id, handed["message_id"])]  # one, for the hand-off only
        assert jobs[0].perform() == "sent"
        assert send_handoff(a.shop_id, handed["message_id"]) == "already sent"
        (mail,) = smtp.messages
        assert mail.rcpt_tos == ["help@mugs.test"]
        assert str(mail.message["Subject"]).strip().startswith("A shopper needs a person")
        text = mail.message.get_body(("plain",)).get_content()
        assert f"customer {DEMO_CUSTOMER}" in text and "Shopper: I want to return the socks" in text
        assert "Shopper: Where is my order?" in text  # the whole conversation, not just the last turn
        assert "Latest order: #7003" in text


def test_no_email_set_up_skips_and_another_shops_message_is_not_found(client, shops, jobs_env):
    a, b = shops
    handed = ask(client, "I want to return the socks", customer=DEMO_CUSTOMER).json
    assert send_handoff(a.shop_id, handed["message_id"]).startswith("skipped: ")
    assert send_handoff(b.shop_id, handed["message_id"]) == "skipped: no such hand-off"


def _mailed_text(smtp: LoopbackSmtp, shop_id: int, message_id: int) -> tuple[str, str]:
    assert send_handoff(shop_id, message_id) == "sent"
    mail = smtp.messages[-1]
    return str(mail.message["Subject"]).strip(), mail.message.get_body(("plain",)).get_content()


def test_the_email_carries_the_agents_concrete_reason(client, shops, jobs_env):
    """Topic escalations name what the shopper asked for; frustration names its rule; two abstentions say so."""
    a, _ = shops
    with LoopbackSmtp() as smtp:
        with session_scope(jobs_env.database_url) as s:
            save_email_settings(s, TokenCipher(jobs_env.encryption_keys), a.shop_id, SENDER, smtp.url)
        cancel = ask(client, "Please cancel my order", customer=DEMO_CUSTOMER).json
        assert cancel["handoff"] == "needs_person"
        subject, text = _mailed_text(smtp, a.shop_id, cancel["message_id"])
        assert subject == "A shopper needs a person: asked to cancel an order"
        assert "Why it came to you: asked to cancel an order." in text

        damaged = ask(client, "The mug arrived damaged", client_id="cl-dmg").json
        assert damaged["handoff"] == "needs_person"
        assert (
            "Why it came to you: reported a damaged item."
            in _mailed_text(smtp, a.shop_id, damaged["message_id"])[1]
        )

        first = ask(client, "Do you sell gift cards for the holidays?", client_id="cl-rep").json
        again = ask(client, "do you sell gift cards for the holidays", client_id="cl-rep").json
        assert first["conversation"] == again["conversation"] and again["handoff"] == "repeated_question"
        subject, text = _mailed_text(smtp, a.shop_id, again["message_id"])
        assert subject.endswith(": frustration: repeated question")
        assert "Why it came to you: frustration: repeated question." in text

        chargeback = ask(client, "I will file a chargeback with my bank", client_id="cl-cb").json
        assert chargeback["handoff"] == "legal_or_chargeback"
        assert "mentioned 'chargeback'" in _mailed_text(smtp, a.shop_id, chargeback["message_id"])[1]

        returns = ask(client, "I want to return the socks", customer=DEMO_CUSTOMER).json
        assert returns["handoff"] is None and returns["escalated"] is True
        assert (
            "Why it came to you: asked about a return, which needs a person"
            in _mailed_text(smtp, a.shop_id, returns["message_id"])[1]
        )


def test_html_in_a_question_is_escaped_in_the_hand_off_email(client, shops, jobs_env):
    a, _ = shops
    planted = '<img src=x onerror="alert(1)"><script>alert(2)</script> I want to return the socks'
    with LoopbackSmtp() as smtp:
        with session_scope(jobs_env.database_url) as s:
            save_email_settings(s, TokenCipher(jobs_env.encryption_keys), a.shop_id, SENDER, smtp.url)
        handed = ask(client, planted, customer=DEMO_CUSTOMER).json
        assert handed["escalated"] is True
        assert send_handoff(a.shop_id, handed["message_id"]) == "sent"
        html = smtp.messages[-1].message.get_body(("html",)).get_content()
    assert "&lt;img src=x" in html and "&lt;script&gt;alert(2)" in html
    assert "<img src=x" not in html and "<script>" not in html
