"""The embedded admin's Contact policy, Activity feed and conversation API (session-token auth, every query
scoped by the token's shop):

- ``GET /api/admin/contact-policy``: the contact budget (per day, per week), the hours messages may go out in
  the shopper's local time, the shop's time zone, and each agent's holdout share.
  ``PUT`` the same fields: the hours may only be stricter than 08:00-21:00 (the orchestrator's
  ``ContactPolicy`` decides), holdout shares 0-0.5; 400 names the field otherwise.
- ``GET /api/admin/activity``: every decision (sent, deferred, held out, suppressed), newest first, with agent,
  channel, shopper, reason and its outbox row's status and outcome; filters ``agent``, ``action``, ``channel``,
  ``from`` and ``to`` (dates, inclusive), pages by ``page`` and ``per_page`` (1-100).
- ``GET /api/admin/activity/daily``: decisions per day by action for the same filters (``from``/``to``
  default to the last 30 days; at most 366 days).
- ``GET /api/admin/customers/<id>/conversation``: the customer's whole thread, in and out, every channel.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, g, jsonify, request
from sqlalchemy.exc import IntegrityError

from app.agents.browse_abandonment import AGENT as BROWSE_ABANDONMENT
from app.agents.nudge import AGENT as NUDGE
from app.agents.rescue import AGENT as RESCUE
from app.db import session_scope
from app.models.base import utcnow
from app.orchestrator.proposal import (
    CHANNELS,
    DEFAULT_END,
    DEFAULT_START,
    Action,
    ContactPolicy,
    ProposalError,
)
from app.stores import activity
from app.stores.contact_policy import load_policy, policy_updated_at, save_holdouts, save_policy
from app.web import channel_forms, settings
from app.web.channel_forms import FormError
from app.web.session_auth import require_session_token

bp = Blueprint("admin_activity", __name__)

ACTIONS = tuple(a.value for a in Action)
MESSAGE_AGENTS = (BROWSE_ABANDONMENT, RESCUE, NUDGE)  # agents whose holdout the Contact policy page sets
MAX_PER_PAGE = 100
MAX_DAYS = 366
MAX_ID = 2**63 - 1


def _error(status: int, error: str, message: str, **extra):
    return jsonify(error=error, message=message, **extra), status


@bp.errorhandler(IntegrityError)
def _raced(_exc: IntegrityError):
    """Two first saves of the same shop's row at once: one wins, the other is asked to try again."""
    return _error(
        409, "conflict", "these settings were saved by another request at the same moment; try again"
    )


def _hhmm(t) -> str:
    return t.strftime("%H:%M")


def _policy_body(session, shop_id: int) -> dict:
    policy = load_policy(session, shop_id)
    agents = sorted(
        set(MESSAGE_AGENTS) | set(policy.holdouts) | set(activity.facets(session, shop_id)["agents"])
    )
    return {
        "per_day": policy.per_day,
        "per_week": policy.per_week,
        "allowed_from": _hhmm(policy.quiet_start),
        "allowed_until": _hhmm(policy.quiet_end),
        "timezone": policy.shop_timezone,
        "limits": {"earliest": _hhmm(DEFAULT_START), "latest": _hhmm(DEFAULT_END), "max_holdout": 0.5},
        "holdouts": [
            {"agent": a, "share": policy.holdout_for(a).share, "default": a not in policy.holdouts}
            for a in agents
        ],
        "updated_at": policy_updated_at(session, shop_id),
    }


@bp.get("/api/admin/contact-policy")
@require_session_token
def get_policy():
    with session_scope(settings().database_url) as session:
        return jsonify(_policy_body(session, g.shop.id))


@bp.put("/api/admin/contact-policy")
@require_session_token
def put_policy():
    body = request.get_json(silent=True)
    allowed = {"per_day", "per_week", "allowed_from", "allowed_until", "timezone", "holdouts"}
    try:
        if not isinstance(body, dict):
            raise FormError("body", "send a JSON object")
        if set(body) - allowed:
            field = sorted(set(body) - allowed)[0]
            raise FormError(field, f"unknown field {field!r}; expected some of {', '.join(sorted(allowed))}")
        per_day = channel_forms.whole(body.get("per_day"), "per_day", 0, 24)
        per_week = channel_forms.whole(body.get("per_week"), "per_week", 0, 100)
        start = channel_forms.clock(body.get("allowed_from"), "allowed_from")
        end = channel_forms.clock(body.get("allowed_until"), "allowed_until")
        zone = channel_forms.timezone(body.get("timezone"))
        shares = channel_forms.holdouts(body.get("holdouts"))
    except FormError as exc:
        return _error(400, "invalid_field", str(exc), field=exc.field)
    with session_scope(settings().database_url) as session:
        zone = zone or load_policy(session, g.shop.id).shop_timezone  # left out: the stored zone is kept
        try:
            policy = ContactPolicy(
                per_day=per_day, per_week=per_week, quiet_start=start, quiet_end=end, shop_timezone=zone
            )
        except ProposalError as exc:
            field = "per_day" if "budget" in str(exc) else "allowed_from"
            return _error(400, "invalid_policy", str(exc), field=field)
        save_policy(session, g.shop.id, policy)
        save_holdouts(session, g.shop.id, shares)
    with session_scope(settings().database_url) as session:
        return jsonify(_policy_body(session, g.shop.id))


def _day(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise FormError(name, f"{name} is a date like 2026-05-31") from exc


def _filters(default_days: int | None) -> activity.FeedFilter:
    """The feed's filters from the query string (``FormError`` on a bad one)."""
    agent = request.args.get("agent", "").strip() or None
    action = request.args.get("action", "").strip() or None
    channel = request.args.get("channel", "").strip() or None
    if agent and not channel_forms.AGENT.match(agent):
        raise FormError("agent", "agent is an agent's name like browse_abandonment")
    if action and action not in ACTIONS:
        raise FormError("action", f"action is one of {', '.join(ACTIONS)}")
    if channel and channel not in CHANNELS:
        raise FormError("channel", f"channel is one of {', '.join(CHANNELS)}")
    first, last = _day("from"), _day("to")
    if default_days is not None:
        last = last or utcnow().date()
        first = first or last - timedelta(days=default_days - 1)
    if first and last and first > last:
        raise FormError("from", "from is after to")
    if first and last and (last - first).days >= MAX_DAYS:
        raise FormError("from", f"the dates span at most {MAX_DAYS} days")
    since = datetime.combine(first, datetime.min.time(), UTC) if first else None
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC) if last else None
    return activity.FeedFilter(agent=agent, action=action, channel=channel, since=since, until=until)


def _page_arg(name: str, default: int, high: int) -> int:
    raw = request.args.get(name, str(default)).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise FormError(name, f"{name} is a whole number from 1 to {high}")
    return int(raw)


@bp.get("/api/admin/activity")
@require_session_token
def feed():
    try:
        f = _filters(None)
        page = _page_arg("page", 1, 100_000)
        per_page = _page_arg("per_page", 25, MAX_PER_PAGE)
    except FormError as exc:
        return _error(400, "invalid_filter", str(exc), field=exc.field)
    with session_scope(settings().database_url) as session:
        items, total = activity.feed(session, g.shop.id, f, offset=(page - 1) * per_page, limit=per_page)
        facets = activity.facets(session, g.shop.id)
    return jsonify(
        decisions=items,
        page=page,
        per_page=per_page,
        total=total,
        pages=max(1, -(-total // per_page)),
        facets={**facets, "actions": list(ACTIONS), "all_channels": list(CHANNELS)},
    )


@bp.get("/api/admin/activity/daily")
@require_session_token
def daily():
    try:
        f = _filters(30)
    except FormError as exc:
        return _error(400, "invalid_filter", str(exc), field=exc.field)
    with session_scope(settings().database_url) as session:
        counts = activity.daily_counts(session, g.shop.id, f)
    first, until = f.since or utcnow(), f.until or utcnow()  # _filters(30) sets both
    first_day, days = first.date(), (until - first).days
    rows = []
    for i in range(days):
        d = first_day + timedelta(days=i)
        rows.append({"date": d.isoformat(), **{a: counts.get(d, {}).get(a, 0) for a in ACTIONS}})
    return jsonify(days=rows, actions=list(ACTIONS))


@bp.get("/api/admin/customers/<int:customer_id>/conversation")
@require_session_token
def conversation(customer_id: int):
    if customer_id > MAX_ID:
        return _error(404, "not_found", "no such customer in this shop")
    with session_scope(settings().database_url) as session:
        if not activity.customer_exists(session, g.shop.id, customer_id):
            return _error(404, "not_found", "no such customer in this shop")
        messages = activity.customer_thread(session, g.shop.id, customer_id)
    return jsonify(customer_id=str(customer_id), messages=messages, limit=activity.THREAD_LIMIT)
