"""Meta's and the inbound e-mail provider's requests to Attune for the support agent (issue 18): verify, record
in the shopper's thread, queue the answer, answer 200. Both URLs carry the shop (``?shop=<domain>``).

- ``GET /channels/meta/webhook``: Meta's subscription handshake; the echo of ``hub.challenge`` when
  ``hub.verify_token`` is the shop's, 403 otherwise.
- ``POST /channels/meta/webhook``: Messenger (``object: page``) and Instagram (``object: instagram``)
  messages. ``X-Hub-Signature-256`` must be the HMAC-SHA256 of the raw body with the shop's Meta app secret:
  a forged or missing one gets 403 before anything is read. A signed body that is not a notification gets 400;
  one past MAX_META_BYTES 413. Each new text message (a retried one, by its ``mid``, is not recorded again; one
  for a Page or account that is not the shop's is ignored) is recorded and answered by a job.
- ``POST /channels/email/inbound``: Mailgun's inbound route post (``app.channels.inbound_mail``), signed with
  the shop's webhook signing key (403 otherwise, and for a post older than 15 minutes); malformed 400; past
  MAX_MAIL_BYTES 413. A bounce, an auto-reply, a list message or our own answer coming back is acknowledged and
  not answered; a shopper's message is recorded and answered by a job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from app import tasks
from app.channels import inbound_mail, meta_webhook
from app.crypto import TokenCipher
from app.db import session_scope
from app.stores.channels import ChannelNotReady
from app.stores.conversation import record_incoming
from app.stores.support_channels import (
    customer_by_email,
    mail_in_key,
    meta_setup,
    own_addresses,
    seen,
    shop_id_for_domain,
)
from app.web import settings

log = logging.getLogger(__name__)
bp = Blueprint("support_hooks", __name__)

MAX_META_BYTES = 256 * 1024  # a notification batches at most a few messages of 2,000 characters
MAX_MAIL_BYTES = 10 * 1024 * 1024  # Mailgun forwards attachments too; only the text is read


def _shop(session: Any) -> int | None:
    domain = request.args.get("shop", "")
    return shop_id_for_domain(session, domain) if domain and len(domain) <= 255 else None


def _limit(limit: int) -> None:
    request.max_content_length = limit  # also caps a chunked body while it is read
    if request.content_length is not None and request.content_length > limit:
        abort(413, f"the body exceeds {limit} bytes")


def _meta(session: Any) -> Any:
    """The shop's Messenger setup, or 403 (no such shop, or not connected: nothing to verify against)."""
    shop_id = _shop(session)
    try:
        return meta_setup(session, TokenCipher(settings().encryption_keys), shop_id) if shop_id else None
    except ValueError as exc:  # not connected (ChannelNotReady), or a secret our keys cannot read
        log.warning("meta request for shop %s not verifiable: %s", shop_id, exc)
        return None


@bp.get("/channels/meta/webhook")
def meta_handshake() -> Response:
    with session_scope(settings().database_url) as session:
        setup = _meta(session)
    challenge = meta_webhook.handshake(request.args.to_dict(), setup.verify_token if setup else "")
    if challenge is None:
        abort(403, "the verify token does not match")
    return Response(challenge, status=200, mimetype="text/plain")


@bp.post("/channels/meta/webhook")
def meta_notification():
    _limit(MAX_META_BYTES)
    cfg = settings()
    with session_scope(cfg.database_url) as session:
        setup = _meta(session)
        body = request.get_data(cache=False)  # the raw bytes Meta signed (413 past the limit)
        if setup is None or not meta_webhook.signature_valid(
            setup.app_secret, body, request.headers.get("X-Hub-Signature-256")
        ):
            abort(403, "the X-Hub-Signature-256 signature does not match")
        try:
            found = meta_webhook.messages(body)
        except ValueError as exc:
            abort(400, f"not a Messenger or Instagram notification: {exc}")
        queued = 0
        for message in found:
            if not setup.owns(message.account_id):
                log.info("meta message for account %s is not shop %s's", message.account_id, setup.shop_id)
                continue
            if seen(session, setup.shop_id, message.platform, message.mid):  # Meta retried
                continue
            record_incoming(session, setup.shop_id, f"{message.platform}:{message.sender_id}",
                            message.platform, message.text, provider_id=message.mid)  # fmt: skip
            payload = {**asdict(message), "sent_at": message.sent_at.isoformat()}
            tasks.answer_meta_after_commit(session, cfg.redis_url, setup.shop_id, payload)
            queued += 1
    return jsonify(received=len(found), queued=queued)


@bp.post("/channels/email/inbound")
def email_inbound():
    _limit(MAX_MAIL_BYTES)
    cfg = settings()
    with session_scope(cfg.database_url) as session:
        shop_id = _shop(session)
        try:
            key = mail_in_key(session, TokenCipher(cfg.encryption_keys), shop_id) if shop_id else ""
        except (ChannelNotReady, ValueError) as exc:
            log.warning("inbound mail for shop %s not verifiable: %s", shop_id, exc)
            key = ""
        form = request.form  # may raise 413 for a chunked body past the limit
        if not shop_id or not inbound_mail.signature_valid(key, form, time.time()):
            abort(403, "the inbound mail signature does not match")
        try:
            mail = inbound_mail.parse(form)
        except ValueError as exc:
            abort(400, f"not an inbound message: {exc}")
        why = inbound_mail.automatic(mail, own_addresses(session, shop_id))
        if why is not None:  # a bounce, an auto-reply, a list: never answered, and not the shopper's words
            log.info("inbound mail %s for shop %s not answered: %s", mail.message_id, shop_id, why)
            return jsonify(answered=False, reason=why)
        if seen(session, shop_id, "email", mail.message_id):  # the provider retried
            return jsonify(answered=False, reason="already received")
        customer_id = customer_by_email(session, shop_id, mail.sender)
        key_of = f"customer:{customer_id}" if customer_id else f"email:{mail.sender.lower()}"
        record_incoming(session, shop_id, key_of, "email", mail.text, customer_id=customer_id,
                        provider_id=mail.message_id)  # fmt: skip
        payload = {k: v for k, v in asdict(mail).items() if k != "headers"}
        tasks.answer_email_after_commit(session, cfg.redis_url, shop_id, payload)
    return jsonify(answered=True, reason=None)
