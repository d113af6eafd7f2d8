"""The support agent by e-mail (issue 18): a shopper's e-mail (a reply to an Attune e-mail, or to the support
address) arrives as Mailgun's signed inbound post, is answered by the job from the shop's knowledge through the
shop's own SMTP server (a real local one), threaded (Re:, In-Reply-To, References) into the shopper's one
conversation, and marked as an automatic reply; bounces, auto-replies, lists and our own answers coming back
are never answered; forged, stale or malformed posts are refused without a 500."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest
import requests
from sqlmodel import Session, select

from app.channels import inbound_mail
from app.channels.email_loopback import LoopbackSmtp
from app.channels.inbound_mail_loopback import MailgunRoute
from app.crypto import TokenCipher
from app.db import get_engine, session_scope
from app.jobs.knowledge import sync_shop_knowledge
from app.models.commerce import Customer
from app.models.messaging import ConversationMessage
from app.stores.channels import save_email_settings
from app.stores.support_channels import save_mail_in_settings
from tests.email_support import SENDER
from tests.support_channels_support import queued, run_jobs
from tests.test_support_knowledge import admin, knowledge_shop, minilm_numpy  # noqa: F401  (fixtures)

KEY = "mailgun-signing-key-0123"
SUPPORT = "help@mugs.test"
SHOPPER = "jo@example.com"
ANSWER = "app.jobs.support_channels.answer_email"


def mail(text: str, *, sender: str = SHOPPER, subject: str = "Shipping", **headers: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"Jo Shopper <{sender}>"
    m["To"] = SUPPORT
    m["Subject"] = subject
    m["Message-ID"] = f"<{time.time_ns()}@example.com>"
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(text)
    return m


@pytest.fixture
def smtp():
    with LoopbackSmtp() as server:
        yield server


@pytest.fixture
def mail_shop(knowledge_shop, live_app, smtp):  # noqa: F811
    cfg = live_app.settings
    sync_shop_knowledge(knowledge_shop.id, cfg)
    with session_scope(cfg.database_url) as s:
        cipher = TokenCipher(cfg.encryption_keys)
        save_email_settings(s, cipher, knowledge_shop.id, {**SENDER, "reply_to": SUPPORT}, smtp.url)
        save_mail_in_settings(s, cipher, knowledge_shop.id, SUPPORT, KEY)
    return knowledge_shop


def hook(live_app, shop) -> str:
    return f"{live_app.url}/channels/email/inbound?shop={shop.domain}"


# --- the pure parts -------------------------------------------------------------------------------


def test_signature_quoting_and_what_is_automatic():
    route = MailgunRoute(KEY)
    form = route.form(mail("Hi\n\nOn Mon, 1 Dec 2026, Mugs wrote:\n> old text"))
    assert inbound_mail.signature_valid(KEY, form, time.time())
    assert not inbound_mail.signature_valid("other-key", form, time.time())
    assert not inbound_mail.signature_valid(KEY, form, time.time() + 3600)  # a replay an hour later
    assert not inbound_mail.signature_valid(KEY, {**form, "token": "x" + form["token"]}, time.time())
    parsed = inbound_mail.parse(form)
    assert parsed.sender == SHOPPER and parsed.text == "Hi" and parsed.message_id.endswith("@example.com>")
    assert inbound_mail.strip_quoted("Thanks!\n> quoted\n-- \nJo") == "Thanks!"
    assert inbound_mail.automatic(parsed) is None
    cases = {
        "an automatic reply (Auto-Submitted)": mail("Away", Auto_Submitted="auto-replied"),
        "bulk or list mail (Precedence)": mail("Away", Precedence="bulk"),
        "a mailing list": mail("News", List_Id="<news.example.com>"),
        "an automatic reply": mail("Away", X_Autoreply="yes"),
        "our own answer came back (a loop)": mail("Hi", X_Attune_Loop="1"),
        "a bounce": mail("Undelivered", X_Failed_Recipients="jo@example.com"),
    }
    for why, message in cases.items():
        assert inbound_mail.automatic(inbound_mail.parse(route.form(message))) == why
    bounce = inbound_mail.parse(route.form(mail("Undelivered"), envelope_from=""))
    assert inbound_mail.automatic(bounce) == "a bounce or an automatic sender"
    daemon = inbound_mail.parse(route.form(mail("x", sender="MAILER-DAEMON@mx.example.com")))
    assert inbound_mail.automatic(daemon) == "a bounce or an automatic sender"
    own = inbound_mail.parse(route.form(mail("x", sender=SUPPORT)))
    assert inbound_mail.automatic(own, (SUPPORT,)) == "sent from the shop's own address"
    for bad in ({**form, "message-headers": "nope"}, {**form, "from": "nobody", "message-headers": "[]"},
                {**form, "message-headers": '[["From", "a@b.c"]]', "from": ""}):  # fmt: skip
        with pytest.raises(ValueError):
            inbound_mail.parse(bad)


# --- end to end -----------------------------------------------------------------------------------


def test_a_shoppers_email_is_answered_threaded_and_a_reply_joins_the_same_conversation(
    mail_shop, live_app, smtp
):
    cfg, url, route = live_app.settings, hook(live_app, mail_shop), MailgunRoute(KEY)
    with Session(get_engine(cfg.database_url)) as s:
        s.add(Customer(shop_id=mail_shop.id, shopify_id=4242, email="Jo@Example.com"))
        s.commit()
    question = mail("Hello, do you ship to Canada?\n\nJo")
    posted = route.post(url, question)
    assert posted.status_code == 200 and posted.json() == {"answered": True, "reason": None}
    assert route.post(url, question).json()["reason"] == "already received"  # the provider retried
    assert run_jobs(cfg, ANSWER) == ["sent"]
    (sent,) = smtp.messages
    answer = sent.message
    assert sent.rcpt_tos == [SHOPPER] and answer["Subject"] == "Re: Shipping"
    assert answer["In-Reply-To"] == question["Message-ID"] and question["Message-ID"] in answer["References"]
    assert answer["Auto-Submitted"] == "auto-replied" and answer["X-Attune-Loop"] == "1"
    body = answer.get_body(("plain",)).get_content()
    assert "Canada" in body and f"https://{mail_shop.domain}/policies/shipping-policy" in body

    follow_up = mail("And how long does standard delivery take?", subject="Re: Shipping",
                     In_Reply_To=answer["Message-ID"], References=answer["References"] + " " + answer["Message-ID"])  # fmt: skip
    assert route.post(url, follow_up).json()["answered"] is True
    assert run_jobs(cfg, ANSWER) == ["sent"]
    second = smtp.messages[-1].message
    assert "3-5 business days" in second.get_body(("plain",)).get_content()
    assert answer["Message-ID"] in second["References"] and second["Subject"] == "Re: Shipping"
    with Session(get_engine(cfg.database_url)) as s:  # one thread: the customer with that address
        rows = s.exec(select(ConversationMessage).where(ConversationMessage.shop_id == mail_shop.id,
                      ConversationMessage.channel == "email").order_by(ConversationMessage.id)).all()  # fmt: skip
    assert {r.shopper_key for r in rows} == {"customer:4242"}
    assert [(r.direction, r.status) for r in rows] == [("in", "received"), ("out", "sent")] * 2

    # the shopper's out-of-office answering our answer, and our answer bounced back: never answered
    away = mail("I am away until Monday.", subject="Re: Shipping", Auto_Submitted="auto-replied")
    assert route.post(url, away).json() == {
        "answered": False,
        "reason": "an automatic reply (Auto-Submitted)",
    }
    echo = smtp.messages[-1].message
    del echo["To"]
    echo["To"] = SUPPORT
    assert route.post(url, echo).json()["answered"] is False
    assert ANSWER not in queued(cfg) and len(smtp.messages) == 2


def test_an_unknown_sender_who_needs_a_person_is_handed_off(mail_shop, live_app, smtp):
    cfg, url, route = live_app.settings, hook(live_app, mail_shop), MailgunRoute(KEY)
    assert (
        route.post(url, mail("My mug arrived broken, I want a refund", sender="new@example.org")).status_code
        == 200
    )
    assert run_jobs(cfg, ANSWER) == ["sent"]
    assert "person from the shop" in smtp.messages[-1].message.get_body(("plain",)).get_content()
    assert "app.jobs.handoff_mail.send_handoff" in queued(cfg)
    assert run_jobs(cfg, "app.jobs.handoff_mail.send_handoff") == ["sent"]
    handoff = smtp.messages[-1]
    assert (
        handoff.rcpt_tos == [SUPPORT]
        and "new@example.org" in handoff.message.get_body(("plain",)).get_content()
    )


def test_forged_stale_and_malformed_posts_are_refused(mail_shop, live_app):
    url, route = hook(live_app, mail_shop), MailgunRoute(KEY)
    assert MailgunRoute("wrong-key-123").post(url, mail("hi")).status_code == 403
    assert route.post(url, mail("hi"), timestamp=int(time.time()) - 3600).status_code == 403
    assert (
        route.post(f"{live_app.url}/channels/email/inbound?shop=nowhere.test", mail("hi")).status_code == 403
    )
    form = route.form(mail("hi"))
    bad = {**form, "message-headers": "{broken"}
    assert requests.post(url, data=bad, timeout=10).status_code == 400
    no_from = {**route.form(mail("hi")), "from": "", "message-headers": "[]"}
    assert requests.post(url, data=no_from, timeout=10).status_code == 400
    assert requests.post(url, data=b"x" * (11 * 1024 * 1024), timeout=30).status_code == 413
