"""Twilio's requests to Attune: message status callbacks and incoming SMS. Verify, record, enqueue, answer.

Both URLs carry the shop (``?shop=<domain>``; status callbacks also the outbox row, ``&outbox=<id>``), and every
request must carry a valid ``X-Twilio-Signature`` computed with that shop's auth token over the public URL
(``APP_URL`` + path + query) and the form: a forged or missing one gets 403 before anything is read or written.
Bodies past ``MAX_BODY_BYTES`` get 413.

- ``POST /channels/twilio/status``: the outbox row's delivery status (delivered, undelivered, failed …).
- ``POST /channels/twilio/inbound``: STOP (and STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) makes the shopper's SMS
  consent UNSUBSCRIBED, START / UNSTOP makes it SUBSCRIBED, each written back to Shopify by a job queued after
  the commit, and the same for every guest checkout with that number (``guest_contact``, Attune's own record);
  HELP is answered in the response (TwiML); any other message is a question for the support agent, answered by
  SMS by a job queued after the commit (``app.jobs.support_channels.answer_sms``); everything is recorded in the
  shopper's thread. A number that is no customer's is recorded under ``phone:<number>`` and answered 200.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from app import tasks
from app.channels.sms_text import MAX_BODY_CHARS, InvalidNumber, e164, keyword
from app.crypto import TokenCipher
from app.db import session_scope
from app.models.base import utcnow
from app.stores import sms as sms_store
from app.stores.consent import record_consent
from app.stores.conversation import record_incoming
from app.stores.guests import stop_or_start_guests
from app.web import settings

log = logging.getLogger(__name__)
bp = Blueprint("sms_hooks", __name__)

MAX_BODY_BYTES = 64 * 1024  # an SMS is at most 1600 characters; Twilio's form around it is small
CONSENT = {"stop": "UNSUBSCRIBED", "start": "SUBSCRIBED"}


def _limit_body() -> None:
    request.max_content_length = MAX_BODY_BYTES  # also caps chunked bodies while the form is read
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        abort(413, f"a Twilio request is at most {MAX_BODY_BYTES} bytes")


def _public_url() -> str:
    """The URL Twilio requested and signed: the app's public origin, the path and the raw query."""
    query = request.query_string.decode("latin-1")
    url = settings().app_url + request.path
    return f"{url}?{query}" if query else url


def _verified(session: Any) -> sms_store.SmsSetup:
    """The shop's SMS setup, once the request's signature is proven with its auth token (403 otherwise)."""
    _limit_body()
    signature = request.headers.get("X-Twilio-Signature", "")
    domain = request.args.get("shop", "")
    if not signature or not domain or len(domain) > 255:
        abort(403, "missing Twilio signature or shop")
    shop_id = sms_store.shop_id_for_domain(session, domain)
    try:
        setup = (
            sms_store.sms_setup(session, TokenCipher(settings().encryption_keys), shop_id)
            if shop_id
            else None
        )
    except ValueError as exc:  # not set up (ChannelNotReady), or the token cannot be decrypted with our keys
        log.warning("twilio request for %s not verifiable: %s", domain, exc)
        setup = None
    form = request.form  # may raise 413 for a chunked body past the limit
    if setup is None or not RequestValidator(setup.auth_token).validate(_public_url(), form, signature):
        abort(403, "the Twilio signature does not match")
    if form.get("AccountSid") != setup.account_sid:
        abort(403, "the request is for another Twilio account")
    return setup


@bp.route("/channels/twilio/status", methods=["POST"])
def status() -> tuple[str, int]:
    with session_scope(settings().database_url) as session:
        setup = _verified(session)
        form = request.form
        sid, state = form.get("MessageSid", ""), (form.get("MessageStatus") or "").lower()
        try:
            outbox_id = int(request.args.get("outbox", ""))
        except ValueError:
            abort(400, "the status callback URL names no outbox row")
        if not sid or not state:
            abort(400, "MessageSid and MessageStatus are required")
        error = form.get("ErrorCode") or None
        if not sms_store.record_delivery(session, setup.shop_id, outbox_id, sid, state, error):
            log.info("twilio status %s for outbox %s of shop %s ignored", state, outbox_id, setup.shop_id)
    return "", 204


def _twiml(reply: str | None = None) -> Response:
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return Response(str(twiml), status=200, mimetype="text/xml")


def _consent_keyword(session: Any, shop_id: int, number: str, customer_id: int | None, state: str) -> None:
    """STOP or START from ``number``: the customer's SMS consent (written back to Shopify by a job after the
    commit) and every guest checkout's with that number (Attune's own record: a guest has no customer)."""
    now = utcnow()
    if customer_id:
        opt_in = "SINGLE_OPT_IN" if state == "SUBSCRIBED" else None
        if record_consent(
            session, shop_id, customer_id, "sms", state, updated_at=now, opt_in_level=opt_in, source="attune"
        ):
            tasks.sms_consent_after_commit(session, shop_id, customer_id)
    stop_or_start_guests(session, shop_id, number, state, now)


@bp.route("/channels/twilio/inbound", methods=["POST"])
def inbound() -> Response:
    with session_scope(settings().database_url) as session:
        setup = _verified(session)
        form = request.form
        sid, sender, body = form.get("MessageSid", ""), form.get("From", "").strip(), form.get("Body", "")
        if not sid or not sender:
            abort(400, "MessageSid and From are required")
        if sms_store.inbound_seen(session, setup.shop_id, sid):  # Twilio retried: already handled
            return _twiml()
        try:
            number = e164(sender, setup.default_region)
        except InvalidNumber:  # a short code or an alphanumeric sender: kept as it came
            number = sender[:64]
        customer_id = sms_store.customer_by_phone(session, setup.shop_id, number)
        shopper_key = f"customer:{customer_id}" if customer_id else f"phone:{number}"
        record_incoming(
            session, setup.shop_id, shopper_key, "sms", body, customer_id=customer_id, provider_id=sid[:255]
        )
        word = keyword(body)
        if word in CONSENT:
            _consent_keyword(session, setup.shop_id, number, customer_id, CONSENT[word])
        reply = setup.help_text if word == "help" else None
        if reply:
            sms_store.record_reply(session, setup.shop_id, shopper_key, customer_id, reply)
        elif word is None and body.strip():  # a question: the support agent answers it by SMS
            message = {"sid": sid[:64], "number": number, "text": body[:MAX_BODY_CHARS]}
            tasks.answer_sms_after_commit(session, settings().redis_url, setup.shop_id, message)
    return _twiml(reply)
