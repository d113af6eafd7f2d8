"""The support agent on Messenger and Instagram (issue 18): Meta's webhook handshake and signature, a signed
message answered by the job from the shop's knowledge and posted through the Graph API's Send API (a loopback
stand-in: a real HTTP server), a hand-off with its ticket, Meta's 24-hour window, the merchant's reply note sent
back with the HUMAN_AGENT tag, and forged, malformed or oversized requests refused without a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlmodel import Session, select

from app.channels import meta_webhook
from app.channels.base import PermanentError, TransientError
from app.channels.meta import MetaChannel, split_text
from app.db import get_engine
from app.models.feedback import SupportMessage
from app.models.messaging import ConversationMessage
from tests import support_channels_support as support
from tests.support_channels_support import (
    APP_SECRET,
    INSTAGRAM,
    PAGE,
    PAGE_TOKEN,
    PERSON,
    VERIFY,
    queued,
    run_jobs,
)
from tests.test_support_knowledge import admin, knowledge_shop, minilm_numpy  # noqa: F401  (fixtures)

graph, zendesk, meta_shop = support.graph, support.zendesk, support.meta_shop  # fixtures
ANSWER = "app.jobs.support_channels.answer_meta_message"


def hook(live_app, shop) -> str:
    return f"{live_app.url}/channels/meta/webhook?shop={shop.domain}"


def thread(cfg, shop_id: int, key: str) -> list[ConversationMessage]:
    with Session(get_engine(cfg.database_url)) as s:
        return list(s.exec(select(ConversationMessage).where(
            ConversationMessage.shop_id == shop_id, ConversationMessage.shopper_key == key
        ).order_by(ConversationMessage.id)).all())  # fmt: skip


# --- the pure parts -------------------------------------------------------------------------------


def test_signature_handshake_and_parsing():
    body = b'{"object":"page","entry":[]}'
    assert meta_webhook.signature_valid("s3cret", body, meta_webhook.sign("s3cret", body))
    assert not meta_webhook.signature_valid("s3cret", body + b" ", meta_webhook.sign("s3cret", body))
    assert not meta_webhook.signature_valid("s3cret", body, "sha1=abc")
    assert not meta_webhook.signature_valid("s3cret", body, None)
    ok = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "42"}
    assert meta_webhook.handshake(ok, "tok") == "42"
    assert meta_webhook.handshake({**ok, "hub.verify_token": "nope"}, "tok") is None
    assert meta_webhook.handshake(ok, "") is None
    event = {"sender": {"id": "1"}, "recipient": {"id": "9"}, "timestamp": 1_700_000_000_000,
             "message": {"mid": "m_1", "text": "hi"}}  # fmt: skip
    echo = {**event, "message": {"mid": "m_2", "text": "ours", "is_echo": True}}
    read = {"sender": {"id": "1"}, "recipient": {"id": "9"}, "timestamp": 1, "read": {"watermark": 1}}
    payload = {"object": "instagram", "entry": [{"id": "9", "time": 1, "messaging": [event, echo, read]}]}
    (found,) = meta_webhook.messages(json.dumps(payload).encode())
    assert (found.platform, found.account_id, found.sender_id, found.text) == ("instagram", "9", "1", "hi")
    for bad in (b"not json", b"[]", b'{"object":"user","entry":[]}', b'{"object":"page","entry":{}}',
                json.dumps({"object": "page", "entry": [{"id": "9", "messaging": [{"message": {"text": "x"}}]}]}).encode()):  # fmt: skip
        with pytest.raises(ValueError):
            meta_webhook.messages(bad)
    assert split_text("word " * 1000) and all(len(p) <= 2000 for p in split_text("word " * 1000))


def test_the_adapter_sorts_graph_errors(graph):
    graph.notification(APP_SECRET, PAGE, PERSON, "hello")  # opens the 24-hour window for the person
    channel = MetaChannel(PAGE, PAGE_TOKEN, graph_url=graph.url)
    assert channel.send_text(PERSON, "Hi there").provider_id.startswith("m_")
    graph.fail_next(503)
    with pytest.raises(TransientError):
        channel.send_text(PERSON, "again")
    with pytest.raises(PermanentError, match="code 190"):
        MetaChannel(PAGE, "wrong-token", graph_url=graph.url).send_text(PERSON, "x")
    with pytest.raises(PermanentError, match="2018278"):  # nobody wrote from this id: outside the window
        channel.send_text("999", "unsolicited")
    with pytest.raises(TransientError):
        MetaChannel(PAGE, PAGE_TOKEN, graph_url="http://127.0.0.1:9").send_text(PERSON, "x")
    assert [m.text for m in graph.messages] == ["Hi there"]


# --- end to end -----------------------------------------------------------------------------------


def test_a_signed_message_is_answered_from_the_shops_knowledge(meta_shop, live_app, graph):
    cfg, url = live_app.settings, hook(live_app, meta_shop)
    shake = requests.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "c-77"}
    )
    assert shake.status_code == 200 and shake.text == "c-77"
    refused = requests.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "x"}
    )
    assert refused.status_code == 403

    note = graph.notification(APP_SECRET, PAGE, PERSON, "Do you ship to Canada?")
    posted = requests.post(url, data=note.body, headers=note.headers)
    assert posted.status_code == 200 and posted.json() == {"received": 1, "queued": 1}
    again = requests.post(url, data=note.body, headers=note.headers)  # Meta retries: not answered twice
    assert again.json() == {"received": 1, "queued": 0}
    assert queued(cfg).count(ANSWER) == 1
    assert run_jobs(cfg, ANSWER) == ["sent"]
    (reply,) = graph.messages
    assert reply.recipient_id == PERSON and reply.messaging_type == "RESPONSE" and reply.tag is None
    assert "Canada" in reply.text and f"https://{meta_shop.domain}/policies/shipping-policy" in reply.text
    entries = thread(cfg, meta_shop.id, f"messenger:{PERSON}")
    assert [(e.direction, e.status) for e in entries] == [("in", "received"), ("out", "sent")]
    assert entries[1].provider_id == reply.message_id and entries[1].agent == "support"
    with Session(get_engine(cfg.database_url)) as s:
        turns = s.exec(select(SupportMessage).where(SupportMessage.client_id == f"fb:{PERSON}")).all()
    assert [t.role for t in turns] == ["shopper", "assistant"] and turns[1].source is not None

    # Instagram: the same page, the linked account's id in the entry
    note = graph.notification(
        APP_SECRET, INSTAGRAM, "13579", "How long does standard delivery take?", platform="instagram"
    )
    assert requests.post(url, data=note.body, headers=note.headers).json()["queued"] == 1
    assert run_jobs(cfg, ANSWER) == ["sent"]
    assert "3-5 business days" in graph.messages[-1].text and graph.messages[-1].recipient_id == "13579"


def test_a_hand_off_goes_to_a_person_with_its_ticket_and_the_merchants_reply_comes_back_tagged(
    meta_shop, live_app, graph, zendesk
):
    cfg, url = live_app.settings, hook(live_app, meta_shop)
    note = graph.notification(APP_SECRET, PAGE, PERSON, "Can I speak to a real person please?")
    assert requests.post(url, data=note.body, headers=note.headers).status_code == 200
    assert run_jobs(cfg, ANSWER) == ["sent"]
    assert "person from the shop" in graph.messages[-1].text
    assert "app.jobs.handoff_mail.send_handoff" in queued(cfg)
    (opened,) = run_jobs(cfg, "app.jobs.support_tickets.open_ticket")
    assert opened.startswith("opened zendesk ticket")
    (ticket,) = zendesk.tickets
    assert "Messenger user" in ticket["comment"]["body"] and "real person" in ticket["comment"]["body"]

    note = "Hi, this is Sam from the shop: how can I help?"
    assert support.resolve_handoff(live_app.url, meta_shop.domain, f"fb:{PERSON}", note) == 200
    assert run_jobs(cfg, "app.jobs.support_channels.send_human_reply") == ["sent"]
    human = graph.messages[-1]
    assert human.tag == "HUMAN_AGENT" and human.messaging_type == "MESSAGE_TAG" and "Sam" in human.text


def test_outside_the_24_hour_window_the_answer_is_recorded_not_sent(meta_shop, live_app, graph):
    cfg, url = live_app.settings, hook(live_app, meta_shop)
    late = datetime.now(UTC) - timedelta(hours=25)
    note = graph.notification(APP_SECRET, PAGE, PERSON, "Do you ship to Canada?", sent_at=late)
    assert requests.post(url, data=note.body, headers=note.headers).status_code == 200
    assert run_jobs(cfg, ANSWER) == ["not sent: outside Meta's 24-hour window"]
    assert graph.messages == []
    assert thread(cfg, meta_shop.id, f"messenger:{PERSON}")[-1].status == "failed"


def test_a_transient_failure_is_retried_with_the_same_answer(meta_shop, live_app, graph):
    cfg, url = live_app.settings, hook(live_app, meta_shop)
    note = graph.notification(APP_SECRET, PAGE, PERSON, "Do you ship to Canada?")
    requests.post(url, data=note.body, headers=note.headers)
    graph.fail_next(503)
    from redis import Redis
    from rq import Queue

    (job,) = [
        j
        for j in Queue("default", connection=Redis.from_url(cfg.redis_url)).get_jobs()
        if j.func_name == ANSWER
    ]
    with pytest.raises(TransientError):
        job.perform()
    assert job.perform() == "sent" and job.perform() == "already sent"
    assert len(graph.messages) == 1
    with Session(get_engine(cfg.database_url)) as s:  # the agent answered once: the retry resent its answer
        turns = s.exec(select(SupportMessage).where(SupportMessage.client_id == f"fb:{PERSON}")).all()
    assert len(turns) == 2


def test_forged_malformed_and_oversized_requests_are_refused(meta_shop, live_app, graph):
    cfg, url = live_app.settings, hook(live_app, meta_shop)
    note = graph.notification("not-the-secret", PAGE, PERSON, "hi")
    assert requests.post(url, data=note.body, headers=note.headers).status_code == 403
    assert requests.post(url, data=note.body, headers={"Content-Type": "application/json"}).status_code == 403
    other = f"{live_app.url}/channels/meta/webhook?shop=nowhere.myshopify.com"
    good = graph.notification(APP_SECRET, PAGE, PERSON, "hi")
    assert requests.post(other, data=good.body, headers=good.headers).status_code == 403
    for body in (b"{not json", b'{"object":"page","entry":"x"}', b'{"object":"page","entry":[{"id":"x"}]}'):
        signed = {
            "X-Hub-Signature-256": meta_webhook.sign(APP_SECRET, body),
            "Content-Type": "application/json",
        }
        assert requests.post(url, data=body, headers=signed).status_code == 400
    big = b'{"object":"page","entry":[]}' + b" " * (300 * 1024)
    assert (
        requests.post(
            url, data=big, headers={"X-Hub-Signature-256": meta_webhook.sign(APP_SECRET, big)}
        ).status_code
        == 413
    )
    stranger = graph.notification(APP_SECRET, "999999", PERSON, "hi")  # another page of the same app
    assert requests.post(url, data=stranger.body, headers=stranger.headers).json()["queued"] == 0
    assert ANSWER not in queued(cfg)
