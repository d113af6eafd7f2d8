"""The app proxy's "notify me" (issue 19), behind the same Shopify signature check as ``app.web.proxy``:

``POST /proxy/back-in-stock`` (JSON or form: ``variant_id``, ``channel`` email | sms | push, ``email`` or
``phone``, optional ``country`` for a national phone number, ``locale``, ``source`` theme | assistant) records
the shopper's request to be told once when the sold-out variant is back (``app.stores.back_in_stock``): their
request is the consent for that one message. Idempotent (asking again answers 200 with the same request; a new
one is 201). A bad address, channel or variant is a 400 with a message to show, an unknown variant a 404, an
in-stock variant a 409, a flood a 429; a forged or stale signature is 401 and an unknown shop 403 (the
blueprint's check), never a 500.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from app.db import session_scope
from app.models.base import utcnow
from app.stores.back_in_stock import RequestRefused, record_request
from app.web import settings
from app.web.proxy import ProxyError, _authenticate, _proxy_error, _timing, int_param

bp = Blueprint("proxy_back_in_stock", __name__, url_prefix="/proxy")
bp.before_request(_authenticate)
bp.after_request(_timing)
bp.register_error_handler(ProxyError, _proxy_error)

MAX_BODY = 2048
SOURCES = ("theme", "assistant")


def _text(body: dict, name: str, limit: int) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > limit:
        raise ProxyError(400, f"{name} must be text of at most {limit} characters")
    return str(value).strip()


@bp.post("/back-in-stock")
def back_in_stock():
    if (request.content_length or 0) > MAX_BODY:
        raise ProxyError(413, f"the body exceeds {MAX_BODY} bytes")
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):
        raise ProxyError(400, "send a JSON object with variant_id, channel and email or phone")
    variant_id = int_param(_text(body, "variant_id", 19) or None, "variant_id")
    if variant_id is None:
        raise ProxyError(400, "variant_id is required")
    channel = _text(body, "channel", 8) or "email"
    address = _text(body, "phone", 40) if channel == "sms" else _text(body, "email", 320)
    country = _text(body, "country", 2).upper() or None
    source = _text(body, "source", 16) or "theme"
    if source not in SOURCES:
        raise ProxyError(400, f"source must be one of {', '.join(SOURCES)}")
    with session_scope(settings().database_url) as session:
        try:
            asked = record_request(
                session,
                g.shop.id,
                variant_id,
                channel,
                address,
                utcnow(),
                customer_id=g.customer_id,
                client_id=g.client_id or None,
                region=country,
                source=source,
                locale=_text(body, "locale", 16) or None,
            )
        except RequestRefused as exc:
            raise ProxyError(exc.status, str(exc)) from exc
        answer = {"requested": True, "created": asked.created, "variant_id": variant_id, "channel": channel}
    response = jsonify(answer)
    response.status_code = 201 if answer["created"] else 200
    response.headers["Cache-Control"] = "no-store"
    return response
