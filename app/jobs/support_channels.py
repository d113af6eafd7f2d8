"""The support agent on Messenger, Instagram, e-mail and SMS (issue 18): the same agent as the storefront assistant
(``app.stores.support.ask``), each turn in the shopper's one conversation, the answer sent back on the channel the
question came from, and a hand-off queued like the assistant's (e-mail to the shop, the help desk's ticket).

Who the shopper is: on Messenger and Instagram a page-scoped id (client id ``fb:<id>`` / ``ig:<id>``, thread
``messenger:<id>`` / ``instagram:<id>``), who may give an order number and its e-mail as any visitor may; by
e-mail the shop's customer with that address (the answer goes to that mailbox, never to a Reply-To), else
``email:<address>``; by SMS the customer with that phone number, else ``sms:<number>`` (thread ``phone:<number>``),
answered from the shop's Twilio sender.

Each answer is delivered once: the composed answer is kept in Redis under the message's id before it is sent; a
transient failure raises (RQ retries, and the retry sends the kept answer instead of asking again); a
permanent one is recorded in the thread as failed. Meta allows an automatic answer only within 24 hours of
the person's message: a later one is recorded as not sent. ``send_human_reply`` sends the merchant's reply note
on a resolved hand-off back to the shopper (Messenger and Instagram with the HUMAN_AGENT tag, for seven days).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from app import tasks
from app.catalog.search import search_shop
from app.channels.base import Accepted, AmbiguousError, OutgoingMessage, PermanentError, Sender, SendError
from app.channels.email import EmailChannel, SmtpTarget
from app.channels.inbound_mail import ANSWER_HEADERS, LOOP_HEADER
from app.channels.meta import HUMAN_AGENT, MetaChannel
from app.channels.sms import SmsChannel
from app.channels.sms_text import MAX_BODY_CHARS
from app.config import Settings, get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.outgoing import plain_sender, sms_channel
from app.llm.client import client_from
from app.models.base import utcnow
from app.models.feedback import SupportMessage
from app.models.shop import Shop
from app.queue import get_redis
from app.stores.catalog import product_cards
from app.stores.channels import ChannelNotReady, email_setup
from app.stores.knowledge import answer_question
from app.stores.sms import customer_by_phone, sms_setup
from app.stores.support import TooManyQuestions, ask
from app.stores.support_channels import answers_since, customer_by_email, meta_setup, record_answer

log = logging.getLogger(__name__)
META_WINDOW = timedelta(hours=24)  # Meta's window for a reply to a person's message
HUMAN_AGENT_WINDOW = timedelta(days=7)  # the HUMAN_AGENT tag's
EMAIL_ANSWERS_PER_HOUR = 5  # answers to one address an hour: a loop that slips past every header stops here
SMS_ANSWERS_PER_HOUR = 5  # the same for one phone number (an auto-responding number, a bot)
ANSWERS_PER_HOUR = {"email": EMAIL_ANSWERS_PER_HOUR, "sms": SMS_ANSWERS_PER_HOUR}
KEPT_S = 7 * 24 * 3600
SENT = "sent"


def _absolute(domain: str, url: str) -> str:
    return url if url.startswith(("http://", "https://")) else f"https://{domain}{url}"


def channel_text(result: dict[str, Any], domain: str) -> str:
    """The agent's answer as plain text for a chat or an e-mail: the answer, its source's link, the products."""
    lines = [result["answer"]]
    source = result.get("source")
    if source and source.get("url"):
        lines.append(f"Source: {source.get('title') or 'the shop'}, {_absolute(domain, source['url'])}")
    lines.extend(f"- {p['title']}: {_absolute(domain, p['url'])}" for p in result.get("products") or [])
    return "\n\n".join(lines[:2]) + ("\n" + "\n".join(lines[2:]) if lines[2:] else "")


def _search(settings: Settings, session: Any, shop_id: int) -> Callable[[str, int], list[dict[str, Any]]]:
    def search(query: str, limit: int) -> list[dict[str, Any]]:
        hits = search_shop(settings.database_url, shop_id, query, k=limit * 3)
        cards = product_cards(session, shop_id, [pid for pid, _ in hits])
        found = [cards[pid] for pid, _ in hits if pid in cards and cards[pid]["available"]]
        return found[:limit]

    return search


def _ask(settings: Settings, session: Any, shop_id: int, text: str, *, customer_id: int | None,
         client_id: str | None) -> dict[str, Any] | None:  # fmt: skip
    """The agent's answer to ``text``, both turns recorded; None past the hourly limit."""
    llm = client_from(settings.attune_llm_base_url, settings.attune_llm_model, settings.attune_llm_api_key)
    try:
        result = ask(
            session, shop_id, text, customer_id=customer_id, client_id=client_id,
            search=_search(settings, session, shop_id),
            retrieve=lambda q: answer_question(session, shop_id, q, llm=llm),
        )  # fmt: skip
    except (TooManyQuestions, ValueError) as exc:
        log.info("shop %s: no answer for %s: %s", shop_id, client_id or customer_id, exc)
        return None
    if result["escalated"]:
        tasks.handoff_after_commit(session, settings.redis_url, shop_id, result["message_id"])
    return result


def _compose(settings: Settings, session: Any, shop_id: int, who: tuple[str, str, int | None, str | None],
             text: str, render: Callable[[dict[str, Any], str], str],
             now: datetime | None = None) -> dict[str, Any] | str:  # fmt: skip
    """The answer to keep for ``text`` from ``who`` (thread key, channel, customer id, client id), rendered for
    the channel, or why there is none: the hour's answers to them on that channel used up (a loop?), or no
    answer from the agent."""
    shopper_key, channel, customer_id, client_id = who
    limit, noun = ANSWERS_PER_HOUR[channel], "address" if channel == "email" else "number"
    since = (now or utcnow()) - timedelta(hours=1)
    if answers_since(session, shop_id, shopper_key, channel, since) >= limit:
        return f"skipped: {limit} answers to this {noun} in the last hour (a loop?)"
    result = _ask(settings, session, shop_id, text, customer_id=customer_id, client_id=client_id)
    if result is None:
        return f"skipped: too many questions from this {noun}, or no question"
    domain = session.get(Shop, shop_id).domain  # type: ignore[union-attr]
    return {"text": render(result, domain), "message_id": result["message_id"]}


def _deliver(settings: Settings, key: str, shop_id: int, thread: tuple[str, str, int | None],
             send: Callable[[str], Accepted], text: str) -> str:  # fmt: skip
    """Send the kept answer ``text`` once and record how it went in the shopper's thread."""
    shopper_key, channel, customer_id = thread
    redis = get_redis(settings.redis_url)
    try:
        accepted = send(text)
        status, reason, provider = SENT, "the support agent's answer", accepted.provider_id
    except AmbiguousError as exc:
        status, reason, provider = "unknown", str(exc), None
    except PermanentError as exc:
        status, reason, provider = "failed", str(exc), None
    except SendError:
        raise  # transient: RQ tries again, and the retry sends the kept answer
    redis.set(key, status, ex=KEPT_S)
    with session_scope(settings.database_url) as session:
        record_answer(session, shop_id, shopper_key, channel, text, customer_id=customer_id,
                      reason=reason[:500], status=status, provider_id=provider)  # fmt: skip
    return status if status == SENT else f"{status}: {reason}"


def _kept(settings: Settings, key: str) -> tuple[str | None, dict[str, Any] | None]:
    """What was done for this message before: None, ``sent`` (or another final status), or the kept answer."""
    raw = get_redis(settings.redis_url).get(key)
    if raw is None:
        return None, None
    value = raw.decode() if isinstance(raw, bytes) else str(raw)
    return (None, json.loads(value)) if value.startswith("{") else (value, None)


def answer_meta_message(shop_id: int, message: dict[str, Any], now: datetime | None = None) -> str:
    """RQ job: answer one Messenger or Instagram message (``app.channels.meta_webhook.InboundMessage`` as a
    dict); ``sent``, ``already <status>``, ``not sent: <why>``, ``failed: <why>`` or ``skipped: <why>``."""
    settings = get_settings()
    key = f"attune:support-answer:{shop_id}:{message['mid']}"
    done, kept = _kept(settings, key)
    if done:
        return f"already {done}"
    platform, person = message["platform"], message["sender_id"]
    thread = (f"{platform}:{person}", platform, None)
    with session_scope(settings.database_url) as session:
        try:
            setup = meta_setup(session, TokenCipher(settings.encryption_keys), shop_id)
        except ChannelNotReady as exc:
            return f"skipped: {exc}"
        if kept is None:
            prefix = "fb" if platform == "messenger" else "ig"
            result = _ask(settings, session, shop_id, message["text"], customer_id=None,
                          client_id=f"{prefix}:{person}"[:64])  # fmt: skip
            if result is None:
                return "skipped: too many questions from this person, or no question"
            domain = session.get(Shop, shop_id).domain  # type: ignore[union-attr]
            kept = {"text": channel_text(result, domain), "message_id": result["message_id"]}
        if (now or utcnow()) - datetime.fromisoformat(message["sent_at"]) > META_WINDOW:
            record_answer(session, shop_id, *thread[:2], kept["text"], customer_id=None, status="failed",
                          reason="not sent: more than 24 hours after the person's message (Meta's window)")  # fmt: skip
            get_redis(settings.redis_url).set(key, "failed", ex=KEPT_S)
            return "not sent: outside Meta's 24-hour window"
    get_redis(settings.redis_url).set(key, json.dumps(kept), ex=KEPT_S)
    channel = MetaChannel(setup.page_id, setup.page_token, graph_url=settings.attune_meta_graph_url)
    return _deliver(
        settings, key, shop_id, thread, lambda text: channel.send_text(person, text), kept["text"]
    )


def _email(sender: Sender, smtp_url: str, shop_id: int, to: str, subject: str, text: str, message_id: str,
           headers: dict[str, str], automatic: bool = True) -> Accepted:  # fmt: skip
    data = {"subject": subject, "heading": sender.shop_name, "paragraphs": text.split("\n\n")}
    marks = {**ANSWER_HEADERS, LOOP_HEADER: "1"} if automatic else {}
    message = OutgoingMessage(
        outbox_id=0, shop_id=shop_id, purpose="transactional", template="message", data=data, recipient=to,
        sender=sender, extra={"message_id": message_id, "headers": {**marks, **headers}},
    )  # fmt: skip
    return EmailChannel(SmtpTarget.parse(smtp_url)).send(message)


def answer_email(shop_id: int, mail: dict[str, Any], now: datetime | None = None) -> str:
    """RQ job: answer a shopper's e-mail (``app.channels.inbound_mail.InboundMail`` as a dict, already checked
    for bounces and auto-replies by the webhook); threaded with In-Reply-To and References, marked
    ``Auto-Submitted: auto-replied`` so that another auto-responder does not answer it."""
    settings = get_settings()
    key = f"attune:support-answer:{shop_id}:{mail['message_id']}"
    done, kept = _kept(settings, key)
    if done:
        return f"already {done}"
    with session_scope(settings.database_url) as session:
        try:
            sender, smtp_url = email_setup(session, TokenCipher(settings.encryption_keys), shop_id,
                                           settings.attune_smtp_url)  # fmt: skip
        except ChannelNotReady as exc:
            return f"skipped: {exc}"
        customer_id = customer_by_email(session, shop_id, mail["sender"])
        shopper_key = f"customer:{customer_id}" if customer_id else f"email:{mail['sender'].lower()}"
        if kept is None:
            client_id = None if customer_id else f"email:{mail['sender'].lower()}"[:64]
            who = (shopper_key, "email", customer_id, client_id)
            composed = _compose(settings, session, shop_id, who, mail["text"], channel_text, now)
            if isinstance(composed, str):
                return composed
            kept = composed
    get_redis(settings.redis_url).set(key, json.dumps(kept), ex=KEPT_S)
    subject = mail["subject"] or "Your question"
    subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    domain = sender.from_address.rpartition("@")[2] or "attune.invalid"
    answer_id = f"<support-{kept['message_id']}.shop-{shop_id}@{domain}>"
    earlier = (mail.get("references") or mail.get("in_reply_to") or "").split()[-20:]
    headers = {"In-Reply-To": mail["message_id"], "References": " ".join([*earlier, mail["message_id"]])}
    return _deliver(settings, key, shop_id, (shopper_key, "email", customer_id),
                    lambda text: _email(sender, smtp_url, shop_id, mail["sender"], subject, text, answer_id, headers),
                    kept["text"])  # fmt: skip


def sms_text(result: dict[str, Any], domain: str) -> str:
    """The answer as one SMS of at most Twilio's 1,600 characters: the products go first when it is longer."""
    text = channel_text(result, domain)
    return (
        text
        if len(text) <= MAX_BODY_CHARS
        else channel_text({**result, "products": []}, domain)[:MAX_BODY_CHARS]
    )


def _sms(channel: SmsChannel, shop_id: int, shop_name: str, to: str, text: str) -> Accepted:
    message = OutgoingMessage(
        outbox_id=0, shop_id=shop_id, purpose="transactional", template="message", data={"sms_text": text},
        recipient=to, sender=plain_sender(shop_name),
    )  # fmt: skip
    return channel.send(message)


def answer_sms(shop_id: int, message: dict[str, Any]) -> str:
    """RQ job: answer a shopper's SMS that is no STOP / START / HELP keyword (``{"sid", "number", "text"}``,
    recorded by the Twilio webhook), by SMS from the shop's Twilio sender, in the same thread."""
    settings = get_settings()
    key = f"attune:support-answer:{shop_id}:{message['sid']}"
    done, kept = _kept(settings, key)
    if done:
        return f"already {done}"
    number = message["number"]
    with session_scope(settings.database_url) as session:
        try:
            setup = sms_setup(session, TokenCipher(settings.encryption_keys), shop_id)
        except ValueError as exc:  # not set up any more, or its token cannot be read
            return f"skipped: {exc}"
        customer_id = customer_by_phone(session, shop_id, number)
        shopper_key = f"customer:{customer_id}" if customer_id else f"phone:{number}"
        if kept is None:
            who = (shopper_key, "sms", customer_id, None if customer_id else f"sms:{number}"[:64])
            composed = _compose(settings, session, shop_id, who, message["text"], sms_text)
            if isinstance(composed, str):
                return composed
            kept = composed
    get_redis(settings.redis_url).set(key, json.dumps(kept), ex=KEPT_S)
    send = partial(_sms, sms_channel(settings, setup), shop_id, setup.shop_name, number)
    return _deliver(settings, key, shop_id, (shopper_key, "sms", customer_id), send, kept["text"])


def send_human_reply(shop_id: int, message_id: int, now: datetime | None = None) -> str:
    """RQ job: the merchant's reply note on the resolved hand-off ``message_id``, sent to the shopper on the
    channel they asked on (Messenger and Instagram with the HUMAN_AGENT tag, SMS, e-mail)."""
    settings = get_settings()
    key = f"attune:support-human-reply:{shop_id}:{message_id}"
    done, _ = _kept(settings, key)
    if done:
        return f"already {done}"
    with session_scope(settings.database_url) as session:
        row = session.get(SupportMessage, message_id)
        if row is None or row.shop_id != shop_id or not row.resolution_note or not row.client_id:
            return "skipped: no reply note to send"
        note, client, asked_at = row.resolution_note, row.client_id, row.created_at
        cipher = TokenCipher(settings.encryption_keys)
        try:
            if client.startswith(("fb:", "ig:")):
                setup = meta_setup(session, cipher, shop_id)
            elif client.startswith("sms:"):
                twilio = sms_setup(session, cipher, shop_id)
            else:
                sender, smtp_url = email_setup(session, cipher, shop_id, settings.attune_smtp_url)
        except ValueError as exc:  # ChannelNotReady, or a secret our keys cannot read
            return f"skipped: {exc}"
    person = client.partition(":")[2]
    if client.startswith("sms:"):
        send = partial(_sms, sms_channel(settings, twilio), shop_id, twilio.shop_name, person)
        thread = (f"phone:{person}", "sms", None)
    elif client.startswith(("fb:", "ig:")):
        if (now or utcnow()) - asked_at > HUMAN_AGENT_WINDOW:
            return "not sent: more than seven days after the person's message"
        platform = "messenger" if client.startswith("fb:") else "instagram"
        channel = MetaChannel(setup.page_id, setup.page_token, graph_url=settings.attune_meta_graph_url)
        send = partial(_tagged, channel, person)
        thread = (f"{platform}:{person}", platform, None)
    else:
        domain = sender.from_address.rpartition("@")[2] or "attune.invalid"
        reply_id = f"<support-reply-{message_id}.shop-{shop_id}@{domain}>"
        send = partial(_person_email, sender, smtp_url, shop_id, person, reply_id)
        thread = (f"email:{person}", "email", None)
    return _deliver(settings, key, shop_id, thread, send, note)


def _tagged(channel: MetaChannel, person: str, text: str) -> Accepted:
    return channel.send_text(person, text, tag=HUMAN_AGENT)


def _person_email(sender: Sender, smtp_url: str, shop_id: int, to: str, reply_id: str, text: str) -> Accepted:
    return _email(sender, smtp_url, shop_id, to, "Re: your question", text, reply_id, {}, automatic=False)
