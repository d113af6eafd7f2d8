"""What a "send a test message" request names, checked before a test is queued: the recipient of each channel's
test and what its job needs beyond it. E-mail and SMS send to the address typed (``{"to": …}``); web push to
one of the shop's subscribed browsers (``{"subscription_id": id}``, or ``{}`` for the newest); Shopify Flow
fires one of the app's triggers (``{"trigger": handle}``) naming the shop's newest customer (and product,
for a trigger with a product reference) with the trigger's sample values.

``FormError`` is a bad body (400), ``NotReady`` a channel that cannot send yet (409), ``NotFound`` a
subscription id that is not this shop's (404).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.channels.flow import TRIGGERS, needs_product
from app.config import Settings
from app.crypto import TokenCipher
from app.stores import channel_settings
from app.stores import push as push_store
from app.web import channel_forms
from app.web.channel_forms import FormError

TESTABLE = ("email", "sms", "push", "flow")
BODIES = {
    "email": '{"to": "the address to send the test to"}',
    "sms": '{"to": "the number to send the test to"}',
    "push": '{"subscription_id": id} or {} for the newest subscription',
    "flow": '{"trigger": "the trigger handle"}',
}


class NotReady(Exception):
    """The channel cannot send a test yet; the message says what to do first."""


class NotFound(Exception):
    """The body names something that is not this shop's."""


def _body(channel: str, body: Any, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(body, dict) or not required <= set(body) or not set(body) <= required | optional:
        raise FormError("body", f"send a JSON object {BODIES[channel]}")
    return body


def _ready(view: dict[str, Any]) -> None:
    if not view["ready"]:
        raise NotReady(f"Save the settings first: {view['missing']}.")


def _push(session: Session, shop_id: int, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if not channel_settings.push_view(session, shop_id)["ready"]:
        raise NotReady("Web push is not set up: the key pair is made when a shopper first opts in.")
    wanted = body.get("subscription_id")
    if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1):
        raise FormError("subscription_id", "a subscription id is a positive whole number")
    row = push_store.for_test(session, shop_id, wanted)
    if row is None:
        if wanted is not None:
            raise NotFound(f"this shop has no push subscription {wanted}")
        raise NotReady("No browser has subscribed to web push yet: opt in from the storefront's assistant.")
    return str(row.id), {"shopper": row.shopper_key}


def _flow(session: Session, shop_id: int, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    handle = body["trigger"]
    if not isinstance(handle, str) or handle not in TRIGGERS:
        raise FormError("trigger", f"not one of this app's Flow triggers: {', '.join(sorted(TRIGGERS))}")
    customer, product = channel_settings.flow_test_refs(session, shop_id)
    if customer is None:
        raise NotReady("A test trigger names a customer, and none is synced from Shopify yet.")
    if needs_product(handle) and product is None:
        raise NotReady("This trigger names a product, and none is synced from Shopify yet.")
    details: dict[str, Any] = {"customer_id": customer}
    if needs_product(handle) and product is not None:
        details["product_id"], details["product_title"] = product
    return handle, details


def test_target(
    session: Session, cfg: Settings, cipher: TokenCipher, shop_id: int, channel: str, body: Any
) -> tuple[str, dict[str, Any]]:
    """The test's recipient and details, or ``FormError`` / ``NotReady`` / ``NotFound``."""
    if channel == "email":
        to = channel_forms.email_address(_body(channel, body, {"to"})["to"])
        _ready(channel_settings.email_view(session, cipher, shop_id, cfg.attune_smtp_url))
        return to, {}
    if channel == "sms":
        to = channel_forms.phone(
            _body(channel, body, {"to"})["to"], channel_settings.sms_region(session, shop_id)
        )
        _ready(channel_settings.sms_view(session, cipher, shop_id))
        return to, {}
    if channel == "push":
        return _push(session, shop_id, _body(channel, body, set(), {"subscription_id"}))
    return _flow(session, shop_id, _body(channel, body, {"trigger"}))
