"""``POST /proxy/nudge`` (``/apps/attune/nudge`` on the shop's domain, app-proxy signed): the theme embed's
hesitation signals for one browser session, answered with the in-session nudge decided for it, if any.

Behind the same signature, shop and customer checks as ``app.web.proxy`` (unsigned or forged: 401). The body is
JSON ``{"session", "signals": [{"id", "kind", …}], "cart": {"token", "total", "currency", "product_ids"},
"product_id", "country", "locale"}``; the embed sends it only after the shopper's consent (Customer Privacy
API). The shopper is the signed ``logged_in_customer_id`` or the browser's ``client_id``: the session is keyed
under that shopper, so another shopper's session id or cart token opens nothing of theirs. The session's fold
lives in Redis between requests (``app.stores.nudge_live``); only a decision writes the database on the way. The answer holds only
the shop's facts and catalogue (never a customer's data) in the shopper's language: ``{"nudge": card | null,
"risk", "why"}``, plus ``pending`` (the card's frame) for an approved incentive whose code a job is making
after the commit (the embed picks the code up from ``GET /proxy/nudges`` once it is delivered on site).
Signals are rate-limited per shopper (429). Bad input is a 4xx, never a 500.

Ordinary requests are answered by the WSGI fast path in front of Flask (``app.web.proxy_fast``) with this module's
``checked_request`` and ``respond``; the route below answers what it hands over (every refusal and bad input) and
gives the same bytes when it answers an ordinary one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, jsonify, request
from redis.exceptions import RedisError

from app import tasks
from app.channels.i18n import negotiate
from app.channels.nudge_copy import card, pending
from app.config import Settings
from app.db import retry_lost_race, session_scope
from app.modelling.hesitation import INFO_TOPICS, SIGNAL_KINDS
from app.models.base import utcnow
from app.queue import get_redis
from app.stores import nudge as nudge_store
from app.stores import nudge_live
from app.stores.nudge_step import CHECKOUT_LOOKBACK, NudgeRequest, Preloaded, step
from app.web import settings
from app.web.pixel_limits import RateLimited, check_rate
from app.web.proxy import ProxyError, _authenticate, _proxy_error, _timing

bp = Blueprint("proxy_nudge", __name__, url_prefix="/proxy")
bp.before_request(_authenticate)
bp.after_request(_timing)
bp.register_error_handler(ProxyError, _proxy_error)

MAX_BODY = 16_384
MAX_SIGNALS = 20
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
CART_TOKEN_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}(\?key=[A-Za-z0-9]{1,64})?$")
COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _number(value: Any, name: str, *, low: float = 0, high: float = 1e9) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ProxyError(422, f"{name} must be a number from {low:g} to {high:g}")
    return float(value)


def _id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ProxyError(422, f"{name} must be a positive integer id")
    return value


def clean_signal(raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ProxyError(422, f"signals[{index}] must be an object")
    sid, kind = raw.get("id"), raw.get("kind")
    if not isinstance(sid, str) or not ID_RE.fullmatch(sid):
        raise ProxyError(422, f"signals[{index}].id must be 1-64 letters, digits or ._:-")
    if kind not in SIGNAL_KINDS:
        raise ProxyError(422, f"signals[{index}].kind must be one of {', '.join(SIGNAL_KINDS)}")
    out: dict[str, Any] = {"id": sid, "kind": kind}
    if kind in ("cart_add", "cart_remove", "cart_qty"):
        out["variant"] = _id(raw.get("variant"), f"signals[{index}].variant")
        if kind != "cart_remove":
            out["qty"] = int(_number(raw.get("qty", 1), f"signals[{index}].qty", high=999))
    elif kind in ("cart_idle", "tab_hidden"):
        out["seconds"] = _number(raw.get("seconds"), f"signals[{index}].seconds", high=86_400)
    elif kind == "info_view":
        if raw.get("topic") not in INFO_TOPICS:
            raise ProxyError(422, f"signals[{index}].topic must be one of {', '.join(INFO_TOPICS)}")
        out["topic"] = raw["topic"]
    return out


def parse(body: Any, customer_id: int | None, client_id: str | None) -> tuple[NudgeRequest, str | None]:
    if not isinstance(body, dict):
        raise ProxyError(400, "send a JSON object")
    sid = body.get("session")
    if not isinstance(sid, str) or not SESSION_RE.fullmatch(sid):
        raise ProxyError(422, "session must be 8-64 letters, digits, _ or -")
    signals = body.get("signals", [])
    if not isinstance(signals, list):
        raise ProxyError(422, "signals must be a list")
    if len(signals) > MAX_SIGNALS:
        raise ProxyError(413, f"at most {MAX_SIGNALS} signals per request")
    cleaned = [clean_signal(s, i) for i, s in enumerate(signals)]
    cart = body.get("cart") or {}
    if not isinstance(cart, dict):
        raise ProxyError(422, "cart must be an object")
    token = cart.get("token")
    if token is not None and (not isinstance(token, str) or not CART_TOKEN_RE.fullmatch(token)):
        raise ProxyError(422, "cart.token must be a cart token")
    if token:
        token = token.split("?", 1)[0]  # /cart.js adds "?key=…"; orders carry the token without it
    ids = cart.get("product_ids", [])
    if not isinstance(ids, list) or len(ids) > 50:
        raise ProxyError(422, "cart.product_ids must be a list of at most 50 ids")
    currency = cart.get("currency") or "USD"
    if not isinstance(currency, str) or not CURRENCY_RE.fullmatch(currency):
        raise ProxyError(422, "cart.currency must be a 3-letter currency code")
    product_id = body.get("product_id")
    country, locale = body.get("country"), body.get("locale")
    if country is not None and (not isinstance(country, str) or not COUNTRY_RE.fullmatch(country)):
        raise ProxyError(422, "country must be a 2-letter country code")
    if locale is not None and (not isinstance(locale, str) or not LOCALE_RE.fullmatch(locale)):
        raise ProxyError(422, "locale must be a language tag")
    req = NudgeRequest(
        sid=sid,
        customer_id=customer_id,
        client_id=client_id,
        signals=cleaned,
        cart_token=token,
        cart_value=_number(cart.get("total", 0), "cart.total"),
        currency=currency,
        product_ids=tuple(dict.fromkeys(_id(p, "cart.product_ids[]") for p in ids)),
        product_id=None if product_id is None else _id(product_id, "product_id"),
        country=country.upper() if country else None,
    )
    return req, locale


@dataclass(frozen=True, slots=True)
class Answer:
    """The endpoint's answer, as both ways in send it (the Flask route below and the WSGI fast path,
    ``app.web.proxy_fast``): status, JSON payload, headers after Content-Type and Content-Length."""

    status: int
    payload: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = (("Cache-Control", "no-store"),)


def checked_request(
    customer_id: int | None,
    client_id: str | None,
    content_length: int | None,
    is_json: bool,
    body: Callable[[], Any],
) -> tuple[NudgeRequest, str | None]:
    """The request's checks in order (400 nobody to key the session on, 413, 415, then ``parse`` of the JSON
    ``body()`` gives, None when it is not JSON); ``ProxyError`` for the first that fails, before anything is
    counted or written."""
    if customer_id is None and client_id is None:
        raise ProxyError(400, "a signed-in customer or a client_id is required")
    if (content_length or 0) > MAX_BODY:
        raise ProxyError(413, f"the body exceeds {MAX_BODY} bytes")
    if not is_json:
        raise ProxyError(415, "send a JSON POST (Content-Type: application/json)")
    return parse(body(), customer_id, client_id)


def respond(cfg: Settings, shop_id: int, req: NudgeRequest, locale: str | None) -> Answer:
    """One checked request: the rate limit (429) with the session's live fold in one Redis round trip, the step
    in one transaction, the fold saved after the commit, an approved incentive's code queued, the card."""
    customer_id, client_id = req.customer_id, req.client_id
    key = nudge_store.session_key(shop_id, customer_id, client_id, req.sid)
    try:  # one round trip: the rate limit, and the session's live fold and cached reads
        found = check_rate(
            get_redis(cfg.redis_url),
            shop_id,
            f"customer:{customer_id}" if customer_id else f"client:{client_id}",
            cost=max(len(req.signals), 1),
            per_client=cfg.nudge_rate_client_per_min,
            per_shop=cfg.nudge_rate_shop_per_min,
            prefix="nudge",
            also_get=_facts_keys(shop_id, key, client_id) if cfg.redis_url else (),
        )
    except RateLimited as exc:
        return Answer(
            429,
            {"error": f"too many hesitation signals for this {exc.scope}"},
            (("Retry-After", str(exc.retry_after)), ("Cache-Control", "no-store")),
        )
    live = get_redis(cfg.redis_url) if cfg.redis_url and found is not None else None
    pre = None
    if found is not None and len(found) >= 2:
        cutoff = time.time() - CHECKOUT_LOOKBACK.total_seconds()
        steps = nudge_live.parse_steps(found[2], found[3], cutoff) if len(found) == 4 else None
        pre = Preloaded(nudge_live.parse(shop_id, key, found[0]), nudge_live.parse_reads(found[1]), steps)

    def work() -> Any:
        with session_scope(cfg.database_url) as session:
            return step(session, shop_id, req, utcnow(), live, pre)

    try:
        result = retry_lost_race(work)
        if live is not None:
            nudge_live.save(live, result.row, result.reads)  # after the commit
    except RedisError:  # Redis down: the session's fold lives on its database row meanwhile
        live = None
        result = retry_lost_race(work)
    if result.offer_key is not None:  # after the commit: the code is made and delivered by a job
        tasks.deliver_nudge_offer(cfg.redis_url, shop_id, result.offer_key)
    lang = negotiate(locale)
    shown = card(result.decision, lang)
    why = [s.text for s in result.risk.explanation.signals if s.contribution > 0 and s.name != "intent_prior"]
    answer: dict[str, Any] = {"nudge": shown, "risk": round(result.risk.probability, 3), "why": why}
    waiting = pending(result.decision, lang)
    if waiting is not None:
        answer["pending"] = waiting
    return Answer(200, answer)


def _facts_keys(shop_id: int, key: str, client_id: str | None) -> tuple[str, ...]:
    """Read in the rate limit's round trip: the session's live fold and cached reads, and the browser's checkout
    steps as the pixel wrote them (with the facts' start marker)."""
    live = nudge_live.keys(shop_id, key)
    return (*live, *nudge_live.steps_keys(shop_id, client_id)) if client_id else live


@bp.post("/nudge")
def nudge() -> Any:
    req, locale = checked_request(
        g.customer_id,
        g.client_id or None,
        request.content_length,
        request.is_json,
        lambda: request.get_json(silent=True),
    )
    found = respond(settings(), g.shop.id, req, locale)
    response = jsonify(found.payload)
    response.status_code = found.status
    for name, value in found.headers:
        response.headers[name] = value
    return response
