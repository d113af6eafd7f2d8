"""The control room, the embedded admin's home page (session-token auth, every read the token's shop's):

- ``GET /api/admin/control-room?days=30&locale=fr``: the seed's success table (shoppers under the agents against
  the global holdout, each row with an always-valid interval, CUPED on pre-period spend, the seed's ranges as
  labelled references), incremental revenue net of discounts, the sample-ratio check, one card per agent
  (status, today's actions, volume, lift with its always-valid interval, shrunk toward the agent's pooled effect
  across shops where this shop's data is thin, and its settings) and the setup guide; every label and number
  written in the shop's language (``locale``: English or French).
- ``PUT /api/admin/agents/<agent>/settings``: a card's settings (``enabled``, ``channels``, ``holdout_share``
  0–0.5, ``weekly_budget`` ≥ 0 or null, ``quiet_hours`` ``"HH:MM-HH:MM"`` inside 08:00–21:00); 422 names the
  field otherwise.
- ``PUT /api/admin/global-holdout``: ``{"share": 0.05}`` (0–0.5; 422 names the field).
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

from flask import Blueprint, g, jsonify, request

from app.channels.admin_words import AGENT_LABELS, SETUP_LABELS, Words, negotiate
from app.db import session_scope
from app.measurement.holdout import GLOBAL
from app.measurement.lift import DEFAULT_WINDOW_DAYS
from app.measurement.nudge import in_session_readout
from app.measurement.sequential import RateDifference, interval_from_summary, rate_difference, shrink
from app.models.base import utcnow
from app.orchestrator.proposal import CHANNELS, DEFAULT_END, DEFAULT_START, MAX_GLOBAL_HOLDOUT
from app.stores import control_room as store
from app.stores.catalog import shop_currency
from app.stores.contact_policy import load_policy, save_holdouts
from app.stores.control_room_cache import cached_table
from app.stores.nudge_outcomes import in_session_exposures
from app.web import settings
from app.web.admin_lift import shop_lift
from app.web.session_auth import require_session_token

bp = Blueprint("admin_control_room", __name__)

AGENTS = tuple(AGENT_LABELS)
DEFAULT_DAYS = 30
MAX_DAYS = 365
MAX_HOLDOUT = 0.5
MAX_WEEKLY_BUDGET = 100_000
THIN = 200  # fewer held-out shoppers than this: the card shows the shrunk estimate first
HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
FIELDS = {"enabled", "channels", "holdout_share", "weekly_budget", "quiet_hours"}


class Invalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _unprocessable(exc: Invalid):
    return jsonify(error="invalid_field", field=exc.field, message=str(exc)), 422


def _days() -> int | None:
    raw = (request.args.get("days") or str(DEFAULT_DAYS)).strip()
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_DAYS else None


def _agent_lifts(session, shop_id: int, days: int, now) -> dict[str, dict[str, Any]]:
    """Each agent's conversion lift against its own holdout, as an always-valid interval from the counts."""
    body = shop_lift(session, shop_id, window_days=DEFAULT_WINDOW_DAYS, days=days, now=now)
    out = {}
    for lift in body["agents"]:
        t, h = lift["treatment"], lift["holdout"]
        found = rate_difference(t["converters"], t["shoppers"], h["converters"], h["shoppers"])
        out[lift["agent"]] = {"treated": t["shoppers"], "holdout": h["shoppers"], "found": found}
    sessions, bought = in_session_exposures(session, shop_id, now - timedelta(days=days))
    overall = in_session_readout(sessions, bought, window_days=7, now=now)["overall"]
    if overall is not None:  # in-session help: at-risk sessions decided on, against the held-out ones
        t, h = overall["treated"], overall["holdout"]
        found = rate_difference(t["recovered"], t["sessions"], h["recovered"], h["sessions"])
        out["nudge"] = {"treated": t["sessions"], "holdout": h["sessions"], "found": found}
    return out


def _simulated_lifts(rows: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for agent, row in rows.items():
        if row.simulated:
            interval = interval_from_summary(row.estimate, row.standard_error, row.shoppers)
            found = RateDifference(interval, row.standard_error)
            # the snapshot keeps the simulated shoppers in all, not the arms: no count is claimed per arm
            out[agent] = {"treated": None, "holdout": None, "found": found, "simulated": True}
    return out


def _card(
    agent: str,
    activity: dict[str, Any],
    lift: dict[str, Any] | None,
    prior: tuple[Any, int] | None,
    row: Any,
    policy: Any,
    w: Words,
) -> dict[str, Any]:
    today = sum(activity.get("today", {}).values())
    volume = sum(activity.get("period", {}).values())
    switch = policy.switch_for(agent)
    found = lift["found"] if lift else None
    lift_body: dict[str, Any] | None = None
    if found is not None:
        d = found.interval
        lift_body = {
            "conversion": d.as_dict(),
            "text": f"{w.points(d.estimate)} ({w.points(d.low)} … {w.points(d.high)})",
            "treated": lift["treated"],
            "holdout": lift["holdout"],
            "thin": not lift.get("simulated") and lift["holdout"] < THIN,
            "simulated": bool(lift.get("simulated")),
        }
        if prior is not None:
            post = shrink(d.estimate, found.standard_error, prior[0])
            lift_body["shrunk"] = {**post.as_dict(), "shops": prior[1], "text": w.points(post.estimate)}
    enabled = switch.enabled
    return {
        "agent": agent,
        "label": w(AGENT_LABELS[agent]),
        "status": "on" if enabled else "off",
        "status_text": w.ui()["on" if enabled else "off"],
        "today": activity.get("today", {}),
        "today_text": w.plural("actions_today", today),
        "volume": volume,
        "volume_text": w.plural("decisions", volume),
        "last_at": activity.get("last_at"),
        "lift": lift_body,
        "settings": {
            "enabled": enabled,
            "channels": list(switch.channels),
            "holdout_share": policy.holdout_for(agent).share,
            "weekly_budget": switch.weekly_budget,
            "quiet_hours": (
                f"{policy.window_for(agent)[0]:%H:%M}-{policy.window_for(agent)[1]:%H:%M}"
                if row is not None and row.quiet_start_minute is not None
                else None
            ),
        },
    }


@bp.get("/api/admin/control-room")
@require_session_token
def control_room() -> Any:
    days = _days()
    if days is None:
        return jsonify(
            error="invalid_days", field="days", message=f"days is a whole number 1..{MAX_DAYS}"
        ), 400
    w = Words(negotiate(request.args.get("locale")))
    now = utcnow()
    since = now - timedelta(days=days)
    shop_id = g.shop.id
    with session_scope(settings().database_url) as session:
        share, salt = store.global_share(session, shop_id)
        # the table reads every customer: cached per shop until its data changes (``control_room_cache``)
        table = cached_table(session, shop_id, days, now, share, salt)
        currency = shop_currency(session, shop_id)
        activity = store.agent_activity(session, shop_id, since, now)
        lifts = _agent_lifts(session, shop_id, days, now)
        simulated = store.is_simulated(session, shop_id)
        if simulated:  # the demo: each agent's lift from its simulator, never mixed with the shop's own
            lifts = _simulated_lifts(store.snapshots(session, shop_id, "conversion_rate"))
        else:  # this shop's latest lift per agent joins the pool thin shops are shrunk toward
            for agent, lift in lifts.items():
                if lift["found"] is not None:
                    est, se = lift["found"].interval.estimate, lift["found"].standard_error
                    n = lift["treated"] + lift["holdout"]
                    store.save_snapshot(session, shop_id, agent, "conversion_rate", est, se, n)
        priors = store.pooled_priors(session, "conversion_rate", simulated=simulated)
        policy = load_policy(session, shop_id)
        rows = store.cards(session, shop_id)
        setup = store.setup_steps(session, shop_id, now)
    ui = w.ui()
    if table is not None:
        w.write_table(table, currency)
    return jsonify(
        {
            "locale": w.lang,
            "days": days,
            "currency": currency,
            "simulated": simulated,
            "global_holdout": {"share": share, "text": w.percent(share)},
            "labels": ui,
            "table": table,
            "agents": [
                _card(a, activity.get(a, {}), lifts.get(a), priors.get(a), rows.get(a), policy, w)
                for a in AGENTS
            ],
            "setup": [{**s, "label": w(SETUP_LABELS[s["step"]])} for s in setup],
        }
    )


def _share(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_HOLDOUT:
        raise Invalid(field, f"{field} is a number from 0 to {MAX_HOLDOUT:g}")
    return float(value)


def _hours(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    m = HOURS.match(value) if isinstance(value, str) else None
    if m is None:
        raise Invalid("quiet_hours", 'quiet_hours is "HH:MM-HH:MM", like "09:00-20:00"')
    start, end = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
    if start < DEFAULT_START or end > DEFAULT_END or start >= end:
        raise Invalid("quiet_hours", "quiet_hours must start before it ends, inside 08:00-21:00")
    return start.hour * 60 + start.minute, end.hour * 60 + end.minute


def card_values(body: Any) -> tuple[dict[str, Any], float | None]:
    """The card's validated fields as ``agent_setting`` columns, and the holdout share if given."""
    if not isinstance(body, dict):
        raise Invalid("body", "send a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Invalid(
            unknown[0], f"unknown field {unknown[0]!r}; expected some of {', '.join(sorted(FIELDS))}"
        )
    values: dict[str, Any] = {}
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise Invalid("enabled", "enabled is true or false")
        values["enabled"] = body["enabled"]
    if "channels" in body:
        chans = body["channels"]
        if not isinstance(chans, list) or any(c not in CHANNELS for c in chans):
            raise Invalid("channels", f"channels is a list of {', '.join(CHANNELS)}")
        values["channels"] = ",".join(dict.fromkeys(chans))
    if "weekly_budget" in body:
        budget = body["weekly_budget"]
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int) or not 0 <= budget <= MAX_WEEKLY_BUDGET
        ):
            raise Invalid(
                "weekly_budget", f"weekly_budget is null or a whole number from 0 to {MAX_WEEKLY_BUDGET}"
            )
        values["weekly_budget"] = budget
    if "quiet_hours" in body:
        hours = _hours(body["quiet_hours"])
        values["quiet_start_minute"], values["quiet_end_minute"] = hours or (None, None)
    share = _share(body["holdout_share"], "holdout_share") if "holdout_share" in body else None
    return values, share


@bp.put("/api/admin/agents/<agent>/settings")
@require_session_token
def save_settings(agent: str) -> Any:
    if agent not in AGENTS:
        return jsonify(error="not_found", message="no such agent"), 404
    try:
        values, share = card_values(request.get_json(silent=True))
    except Invalid as exc:
        return _unprocessable(exc)
    with session_scope(settings().database_url) as session:
        if values:
            store.save_card(session, g.shop.id, agent, values)
        if share is not None:
            save_holdouts(session, g.shop.id, {agent: share})
    with session_scope(settings().database_url) as session:
        policy = load_policy(session, g.shop.id)
        row = store.cards(session, g.shop.id).get(agent)
        w = Words(negotiate(request.args.get("locale")))
        return jsonify(_card(agent, {}, None, None, row, policy, w)["settings"])


@bp.put("/api/admin/global-holdout")
@require_session_token
def save_global() -> Any:
    body = request.get_json(silent=True)
    try:
        if not isinstance(body, dict) or set(body) != {"share"}:
            raise Invalid("share", 'send {"share": 0.05}')
        share = _share(body["share"], "share")
        if share > MAX_GLOBAL_HOLDOUT:
            raise Invalid("share", f"share is at most {MAX_GLOBAL_HOLDOUT:g}")
    except Invalid as exc:
        return _unprocessable(exc)
    with session_scope(settings().database_url) as session:
        save_holdouts(session, g.shop.id, {GLOBAL: share})
    return jsonify(share=share)
