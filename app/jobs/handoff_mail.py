"""A hand-off e-mailed to the shop's support address (issue 18): when the support agent hands a conversation to a
person, the shop gets the agent's concrete reason (``app.agents.support_handoff.handoff_detail``: "asked to cancel
an order", "frustration: repeated question" …, in the subject too), the transcript, the shopper's profile summary,
the order and what was tried, besides the admin's waiting list. It goes through the shop's own e-mail channel to
its reply-to address (else its sender address), as the weekly digest does: a message to the merchant, so no outbox
row and no budget. At most once per hand-off (a Redis key), so a retried job sends nothing; a shop without e-mail set up is skipped and says why."""

from __future__ import annotations

import logging

from app.channels.base import SendError
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.merchant_mail import send_to_merchant
from app.queue import get_redis
from app.stores.channels import ChannelNotReady, email_setup
from app.stores.handoff import handoff_context, handoff_summary

log = logging.getLogger(__name__)
SENT_TTL_S = 30 * 24 * 3600


def send_handoff(shop_id: int, message_id: int) -> str:
    """RQ job: e-mail the hand-off of escalated answer ``message_id``; ``sent``, ``already sent`` or
    ``skipped: <why>``."""
    settings = get_settings()
    key = f"attune:handoff-mail:{shop_id}:{message_id}"
    redis = get_redis(settings.redis_url)
    if not redis.set(key, "1", nx=True, ex=SENT_TTL_S):
        return "already sent"
    with session_scope(settings.database_url) as session:
        context = handoff_context(session, shop_id, message_id)
        if context is None:
            return "skipped: no such hand-off"
        try:
            sender, smtp_url = email_setup(
                session, TokenCipher(settings.encryption_keys), shop_id, settings.attune_smtp_url
            )
        except ChannelNotReady as exc:
            redis.delete(key)
            return f"skipped: {exc}"
    details = handoff_summary(context, why="Why it came to you")
    data = {
        "subject": f"A shopper needs a person: {context['why']}",
        "heading": "A shopper needs a person",
        "paragraphs": [*details, "The conversation:", *context["transcript"]],
        "cta_url": f"{settings.app_url}/app",
        "cta_label": "Open the waiting list",
    }
    try:
        send_to_merchant(sender, smtp_url, shop_id, "message", data, f"handoff-{message_id}")
    except SendError as exc:
        redis.delete(key)  # not sent: a retry tries again
        log.warning("hand-off %s of shop %s not e-mailed: %s", message_id, shop_id, exc)
        raise
    return "sent"
