"""One-click unsubscribe (RFC 8058), no login: ``GET /unsubscribe/<token>`` shows a confirmation page and
``POST /unsubscribe/<token>`` with ``List-Unsubscribe=One-Click`` (what mail clients send, and what the page's
button sends) unsubscribes.

The token (``app.channels.unsubscribe``) names the shop, the customer and the channel, signed with the app's
secret (or the previous one during a rotation). A tampered, expired or unknown token gets a 400 page and
changes nothing. The consent mirror becomes UNSUBSCRIBED at once (the relay re-checks consent before every
send, so nothing more goes out), and an e-mail opt-out is queued to be written back to Shopify
(``app.jobs.writeback``). Unsubscribing twice changes nothing the second time.
"""

from __future__ import annotations

from flask import Blueprint, abort, make_response, render_template, request
from sqlmodel import select

from app import tasks
from app.channels.unsubscribe import BadToken, Unsubscribe, read_token
from app.db import session_scope
from app.models.base import utcnow
from app.models.messaging import ChannelConfig, ContactConsent
from app.models.shop import Shop
from app.models.writeback import CONSENT_EMAIL
from app.stores import writeback
from app.stores.back_in_stock import forget_requests, waiting_for
from app.stores.consent import CONSENT_CHANNELS, record_consent
from app.stores.guests import guest_state, unsubscribe_guest
from app.web import settings

bp = Blueprint("unsubscribe", __name__, template_folder="templates")

UNSUBSCRIBED = "UNSUBSCRIBED"
MAX_TOKEN = 1024
MAX_BODY = 4096
CSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"


def _page(state: str, title: str, status: int = 200, shop_name: str = "", message: str = ""):
    response = make_response(
        render_template(
            "unsubscribe/page.html", state=state, title=title, shop_name=shop_name, message=message
        ),
        status,
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL is the credential
    response.headers["Cache-Control"] = "no-store"
    return response


def _invalid(message: str):
    return _page("invalid", "This unsubscribe link does not work", 400, message=message)


def _read(token: str) -> Unsubscribe | None:
    if len(token) > MAX_TOKEN:
        return None
    try:
        found = read_token(settings().api_secrets, token)
    except BadToken:
        return None
    return found if found.channel in CONSENT_CHANNELS else None


def _shop_name(session, shop: Shop, channel: str) -> str:
    config = session.exec(
        select(ChannelConfig).where(ChannelConfig.shop_id == shop.id, ChannelConfig.channel == channel)
    ).first()
    return str(((config.settings or {}) if config else {}).get("shop_name") or shop.domain)


def _state(session, link: Unsubscribe) -> str | None:
    if (
        link.address
    ):  # someone known only by the address they asked a message at: their requests are the state
        return None if waiting_for(session, link.shop_id, link.channel, link.address) else UNSUBSCRIBED
    if link.guest is not None:
        return guest_state(session, link.shop_id, link.guest)
    return session.exec(
        select(ContactConsent.state).where(
            ContactConsent.shop_id == link.shop_id,
            ContactConsent.customer_shopify_id == link.customer_id,
            ContactConsent.channel == link.channel,
        )
    ).first()


BAD_LINK = (
    "The link is incomplete, was changed, or has expired. Use the newest e-mail's link, or contact the shop."
)


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    """The confirmation page (a GET never unsubscribes: link scanners follow links)."""
    link = _read(token)
    if link is None:
        return _invalid(BAD_LINK)
    with session_scope(settings().database_url) as session:
        shop = session.get(Shop, link.shop_id)
        if shop is None:
            return _invalid(BAD_LINK)
        name = _shop_name(session, shop, link.channel)
        if _state(session, link) == UNSUBSCRIBED:
            return _page("already", "You are unsubscribed", shop_name=name)
    return _page("confirm", "Unsubscribe", shop_name=name)


@bp.post("/unsubscribe/<token>")
def one_click(token: str):
    """RFC 8058 one-click: ``List-Unsubscribe=One-Click`` in the form body unsubscribes, idempotently."""
    if (request.content_length or 0) > MAX_BODY:
        abort(413, description="unsubscribe requests are small forms")
    link = _read(token)
    if link is None:
        return _invalid(BAD_LINK)
    if request.form.get("List-Unsubscribe") != "One-Click":
        return _page(
            "invalid", "Not unsubscribed", 400, message="The request did not say List-Unsubscribe=One-Click."
        )
    cfg = settings()
    now = utcnow()
    with session_scope(cfg.database_url) as session:
        shop = session.get(Shop, link.shop_id)
        if shop is None:
            return _invalid(BAD_LINK)
        name = _shop_name(session, shop, link.channel)
        if _state(session, link) == UNSUBSCRIBED:
            return _page("already", "You are unsubscribed", shop_name=name)
        if link.address:  # no customer to record consent for: their requests are cancelled
            forget_requests(session, link.shop_id, link.channel, link.address)
            return _page("done", "You are unsubscribed", shop_name=name)
        if (
            link.guest is not None
        ):  # a guest checkout's address: Attune's own record (no customer to write to)
            if not unsubscribe_guest(session, link.shop_id, link.guest, now):
                return _invalid(BAD_LINK)
            return _page("done", "You are unsubscribed", shop_name=name)
        record_consent(
            session,
            link.shop_id,
            link.customer_id,
            link.channel,
            UNSUBSCRIBED,
            updated_at=now,
            source="attune",
        )
        if link.channel == "email":
            writeback.request(session, link.shop_id, link.customer_id, CONSENT_EMAIL, now)
            tasks.write_back_consent_after_commit(session, link.shop_id, link.customer_id)
    return _page("done", "You are unsubscribed", shop_name=name)
