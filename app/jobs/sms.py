"""SMS jobs: the relay's SMS adapter for an outbox row, and writing an SMS consent change (a STOP or START
texted to the shop) back to Shopify.

``write_back_sms_consent(shop_id, customer_id)`` writes the consent mirror's current state, whatever it is by
the time the job runs, so a duplicate or late job is harmless. A shop that has not granted ``write_customers``
is skipped (the mirror keeps the change; the admin prompts for the scope), never an error.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from urllib.parse import urlencode

from sqlmodel import Session

from app.channels.base import Channel, OutgoingMessage, PermanentError
from app.config import Settings, get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.outgoing import BatchMemo, outgoing, plain_sender, sms_channel
from app.shopify.admin import AdminClient, AdminUserError
from app.shopify.oauth import missing_scopes, parse_scopes
from app.shopify.sms_consent import SCOPE, WRITABLE, update_sms_marketing_consent
from app.stores import sms as sms_store
from app.stores.channels import ChannelNotReady
from app.stores.outbox_rows import RelayRow
from app.stores.sms import SmsSetup

log = logging.getLogger(__name__)


def status_callback_url(app_url: str, shop_domain: str, outbox_id: int) -> str:
    """Where Twilio reports this message's delivery (the ingress in ``app/web/sms_hooks.py``)."""
    return _status_callback_base(app_url, shop_domain) + str(int(outbox_id))


@lru_cache(maxsize=1024)
def _status_callback_base(app_url: str, shop_domain: str) -> str:
    """The shop's callback URL up to the outbox id (encoded once, not for every message of a batch)."""
    return f"{app_url}/channels/twilio/status?{urlencode({'shop': shop_domain})}&outbox="


def prepare_sms(
    session: Session, settings: Settings, row: RelayRow, memo: BatchMemo | None = None
) -> tuple[Channel, OutgoingMessage]:
    """The SMS adapter and the message for an outbox row (``PermanentError`` when either cannot be had); the
    rows of one batch share the shop's client through ``memo``."""
    memo = memo or BatchMemo(session, [row])

    def load() -> tuple[SmsSetup, Channel]:
        setup = sms_store.sms_setup(session, TokenCipher(settings.encryption_keys), row.shop_id)
        return setup, sms_channel(settings, setup)

    try:
        setup, channel = memo.setup(("sms", row.shop_id), load)
    except (ChannelNotReady, ValueError) as exc:
        raise PermanentError(str(exc)) from exc
    phone = memo.address(row)
    if not phone:
        raise PermanentError("the shopper has no phone number")
    message = outgoing(
        row,
        phone,
        plain_sender(setup.shop_name),
        extra={"status_callback": status_callback_url(settings.app_url, setup.shop_domain, row.id)},
    )
    return channel, message


def write_back_sms_consent(shop_id: int, customer_id: int) -> str:
    """RQ job: the customer's SMS marketing consent, as the mirror now holds it, written to Shopify; returns
    what happened (``written SUBSCRIBED``, ``skipped: …``, ``refused: …``). Admin API outages raise (RQ retries)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        consent = sms_store.sms_consent(session, shop_id, customer_id)
        granted = parse_scopes(sms_store.shop_scopes(session, shop_id))
    if consent is None or consent[0] not in WRITABLE:
        return "skipped: nothing to write"
    if missing_scopes(granted, frozenset({SCOPE})):
        log.info("shop %s: SMS consent of customer %s not written back (no %s)", shop_id, customer_id, SCOPE)
        return f"skipped: {SCOPE} not granted"
    state, at = consent
    try:
        written = update_sms_marketing_consent(
            AdminClient.for_shop(settings, shop_id), customer_id, state, at
        )
    except AdminUserError as exc:  # Shopify will not take it (the customer has no phone number, …): final
        log.warning("shop %s: SMS consent of customer %s refused: %s", shop_id, customer_id, exc)
        return f"refused: {exc}"
    return f"written {written}"
