"""A support hand-off as a ticket in the shop's help desk (issue 18): Gorgias or Zendesk through their REST APIs
(``app.channels.helpdesk``), with the conversation, who the shopper is, why it came to a person and what the
agent tried. Queued with the hand-off e-mail; a shop without a desk connected is skipped and says why.

Idempotent: a Redis key remembers the ticket made for a hand-off, and the desk itself is asked first for a ticket
with the hand-off's ``external_id``, so a retry after a lost answer finds the ticket instead of opening another.
A desk that is down or throttling raises (RQ retries the job); bad credentials fail it with the reason.
"""

from __future__ import annotations

import logging

from app.channels.base import PermanentError, SendError
from app.channels.helpdesk import Ticket, desk_for
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.queue import get_redis
from app.stores.channels import ChannelNotReady
from app.stores.handoff import handoff_context, handoff_summary
from app.stores.support_channels import customer_email, helpdesk_setup

log = logging.getLogger(__name__)
KEPT_S = 30 * 24 * 3600


def ticket_body(context: dict) -> str:
    return "\n".join([*handoff_summary(context), "", "The conversation:", *context["transcript"]])


def open_ticket(shop_id: int, message_id: int) -> str:
    """RQ job: the hand-off ``message_id``'s ticket; ``opened <desk> ticket N``, ``already open: N`` or
    ``skipped: <why>``."""
    settings = get_settings()
    key = f"attune:helpdesk-ticket:{shop_id}:{message_id}"
    redis = get_redis(settings.redis_url)
    known = redis.get(key)
    if known:
        return f"already open: {known.decode() if isinstance(known, bytes) else known}"
    with session_scope(settings.database_url) as session:
        context = handoff_context(session, shop_id, message_id)
        if context is None:
            return "skipped: no such hand-off"
        try:
            setup = helpdesk_setup(session, TokenCipher(settings.encryption_keys), shop_id)
        except ChannelNotReady as exc:
            return f"skipped: {exc}"
        email = context.get("email")
        if email is None and context.get("customer_id"):
            email = customer_email(session, shop_id, int(context["customer_id"]))
    templates = {"zendesk": settings.attune_zendesk_url, "gorgias": settings.attune_gorgias_url}
    ticket = Ticket(
        external_id=f"attune-{shop_id}-{message_id}",
        subject=f"A shopper needs a person: {context['why']}"[:200],
        body=ticket_body(context),
        requester_email=email,
    )
    try:
        desk = desk_for(setup.provider, setup.account, setup.email, setup.api_token, templates)
        ticket_id, created = desk.open_ticket(ticket)
    except PermanentError as exc:
        log.warning("hand-off %s of shop %s: no %s ticket: %s", message_id, shop_id, setup.provider, exc)
        return f"failed: {exc}"
    except SendError:
        raise  # transient or ambiguous: RQ tries again, and the lookup finds a ticket that was made
    redis.set(key, ticket_id, ex=KEPT_S)
    return f"opened {setup.provider} ticket {ticket_id}" if created else f"already open: {ticket_id}"
