"""The app proxy's support endpoints, behind the same Shopify signature check as ``app.web.proxy``:

- ``POST /proxy/support`` (JSON ``{"question", "product_id"?}``): the assistant's question, answered from the shop's
  knowledge, the order asked about, or its search, else handed to a person (``app.stores.support``);
- ``GET /proxy/product-questions?product_id=N``: the questions a product page offers before the shopper asks, each
  one the shop's knowledge answers (cached per app);
- ``POST /proxy/support/feedback`` (``{"message_id", "helpful"}``): the shopper's 👍/👎 on an answer given to them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from app import tasks
from app.db import session_scope
from app.llm.client import client_from
from app.queue import get_redis
from app.storefront import shopper_data
from app.storefront.ttl_cache import TTLCache
from app.stores.conversation import record_assistant_turn
from app.stores.knowledge import answer_question
from app.stores.product_questions import product_questions as questions_for
from app.stores.support import TooManyQuestions, ask, rate_answer, refresh_key
from app.web import settings
from app.web.pixel_limits import RateLimited, check_rate
from app.web.proxy import (
    ProxyError,
    _answer,
    _authenticate,
    _proxy_error,
    _subject,
    _timing,
    int_param,
    store,
)

bp = Blueprint("proxy_support", __name__, url_prefix="/proxy")
bp.before_request(_authenticate)
bp.after_request(_timing)
bp.register_error_handler(ProxyError, _proxy_error)

SUPPORT_MAX_BODY = 8192
SUPPORT_MAX_QUESTION = 2000
QUESTIONS_TTL_S = 600  # a product's offered questions (one app's cache): their answers are reused this long


def client_ip() -> str:
    """The shopper's address: Shopify's app proxy forwards it as the first entry of ``X-Forwarded-For``; a request
    that did not come through a proxy has only its peer's."""
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    return forwarded[:64] or request.remote_addr or "unknown"


def _limit_per_ip(shop_id: int) -> None:
    """Questions per client address and per shop, per minute: a 429 past either. Per shopper the hourly limit in
    ``app.stores.support`` applies too, but an anonymous shopper's client id is theirs to change."""
    cfg = settings()
    if not cfg.redis_url:
        return
    try:
        check_rate(
            get_redis(cfg.redis_url),
            shop_id,
            f"ip:{client_ip()}",
            cost=1,
            per_client=cfg.support_rate_ip_per_min,
            per_shop=cfg.support_rate_shop_per_min,
            prefix="support",
        )
    except RateLimited as exc:
        raise ProxyError(
            429,
            f"too many questions from this {'address' if exc.scope == 'client' else exc.scope}: try again in a minute",
        ) from exc


def _shop_search(shop_id: int) -> Any:
    def search(query: str, limit: int) -> list[dict[str, Any]]:
        return shopper_data.search_products(store(), shop_id, query, limit, sold_out_best=True)

    return search


@bp.post("/support")
def support():
    """The assistant's support question: recorded as a conversation turn with the answer the shop's own data
    gives (a passage of its knowledge with its source, order status for the signed-in customer, in-stock
    products), or an honest escalation. Optional ``product_id``: the product page it was asked on."""
    kind, subject = _subject()
    if not subject:
        raise ProxyError(400, "a signed-in customer or a client_id is required")
    if (request.content_length or 0) > SUPPORT_MAX_BODY:
        raise ProxyError(413, f"the body exceeds {SUPPORT_MAX_BODY} bytes")
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    question = body.get("question") if isinstance(body, dict) else None
    if not isinstance(question, str) or not question.strip():
        raise ProxyError(400, "send a JSON object with a non-empty question")
    if len(question) > SUPPORT_MAX_QUESTION:
        raise ProxyError(413, f"question is longer than {SUPPORT_MAX_QUESTION} characters")
    product_id = body.get("product_id") if isinstance(body, dict) else None
    if product_id in (None, ""):
        product_id = None
    elif isinstance(product_id, bool) or not str(product_id).isdigit() or len(str(product_id)) > 19:
        raise ProxyError(400, "product_id must be a product's numeric id")
    else:
        product_id = int(product_id)
    shop_id, customer_id, client_id = g.shop.id, g.customer_id, g.client_id or None
    _limit_per_ip(shop_id)
    redis_url = settings().redis_url
    cfg = settings()
    llm = client_from(cfg.attune_llm_base_url, cfg.attune_llm_model, cfg.attune_llm_api_key)  # None: off
    with session_scope(settings().database_url) as session:
        try:
            result = ask(
                session,
                shop_id,
                question,
                customer_id=customer_id,
                client_id=client_id,
                search=_shop_search(shop_id),
                retrieve=lambda text: answer_question(session, shop_id, text, product_id=product_id, llm=llm),
                product_id=product_id,
            )
        except TooManyQuestions as exc:
            raise ProxyError(429, str(exc)) from exc
        key = refresh_key(customer_id, client_id)
        record_assistant_turn(  # the shopper's one thread, with their turns on every other channel
            session, shop_id, key, question, result, customer_id=customer_id, client_id=client_id
        )
        tasks.refresh_profile_after_commit(session, redis_url, shop_id, key)
        if result["escalated"]:  # a person must take it: the shop's support address (and help desk) get it
            tasks.handoff_after_commit(session, redis_url, shop_id, result["message_id"])
    response = jsonify(result)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/product-questions")
def product_questions():
    """Questions shoppers ask about this product, each one the shop's knowledge answers (help before it is
    asked): ``?product_id=N``. The same for everyone, so cached publicly for a while."""
    product_id = int_param(request.args.get("product_id"), "product_id")
    if product_id is None:
        raise ProxyError(400, "product_id is required")
    shop_id = g.shop.id

    def load() -> list[dict[str, Any]]:
        with session_scope(settings().database_url) as session:
            return questions_for(session, shop_id, product_id)

    cache = current_app.extensions.setdefault(
        "attune.product_questions", TTLCache(QUESTIONS_TTL_S, maxsize=5_000)
    )
    offered = cache.get_or_load((shop_id, product_id), load)
    return _answer({"product_id": product_id, "questions": offered}, personal=False, max_age=QUESTIONS_TTL_S)


@bp.post("/support/feedback")
def support_feedback():
    """The shopper's 👍/👎 on one of the assistant's answers to them: ``{"message_id": n, "helpful": bool}``."""
    kind, subject = _subject()
    if not subject:
        raise ProxyError(400, "a signed-in customer or a client_id is required")
    if (request.content_length or 0) > SUPPORT_MAX_BODY:
        raise ProxyError(413, f"the body exceeds {SUPPORT_MAX_BODY} bytes")
    body = request.get_json(silent=True)
    message_id = body.get("message_id") if isinstance(body, dict) else None
    helpful = body.get("helpful") if isinstance(body, dict) else None
    if isinstance(message_id, bool) or not isinstance(message_id, int) or not isinstance(helpful, bool):
        raise ProxyError(400, "send a JSON object with message_id (a number) and helpful (true or false)")
    with session_scope(settings().database_url) as session:
        found = rate_answer(
            session, g.shop.id, message_id, helpful, customer_id=g.customer_id, client_id=g.client_id or None
        )
    if not found:
        raise ProxyError(404, "no such answer to you")
    response = jsonify({"message_id": message_id, "helpful": helpful})
    response.headers["Cache-Control"] = "no-store"
    return response
