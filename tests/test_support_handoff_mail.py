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
        assert mail.message["Subject"].startswith("A shopper needs a person")
        text = mail.message.get_body(("plain",)).get_content()
        assert f"customer {DEMO_CUSTOMER}" in text and "Shopper: I want to return the socks" in text
        assert "Shopper: Where is my order?" in text  # the whole conversation, not just the last turn
        assert "Latest order: #7003" in text


def test_no_email_set_up_skips_and_another_shops_message_is_not_found(client, shops, jobs_env):
    a, b = shops
    handed = ask(client, "I want to return the socks", customer=DEMO_CUSTOMER).json
    assert send_handoff(a.shop_id, handed["message_id"]).startswith("skipped: ")
    assert send_handoff(b.shop_id, handed["message_id"]) == "skipped: no such hand-off"
