"""Embedded-admin journey: ``GET /api/admin/journey?days=30`` for the authenticated shop only.

How many shoppers are in each stage now, how they moved between stages over the last ``days`` (a table of
moves, most frequent first), a one-paragraph text summary and the same figures as an inline SVG bar chart
(each bar labelled with its stage and count: nothing is told by colour alone). Every query is scoped by
``g.shop.id``.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import Any

from flask import Blueprint, g, jsonify, request

from app.db import session_scope
from app.models.base import utcnow
from app.profiles.journey import LABELS, STAGES
from app.stores.journey import flow_counts, stage_counts
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_journey", __name__)

DEFAULT_DAYS, MAX_DAYS = 30, 365
TOP_FLOWS = 20


def chart_svg(counts: dict[str, int]) -> str:
    """Horizontal bars, one per stage in journey order, each labelled with its name and count."""
    bar_h, gap, label_w, bar_w = 22, 6, 140, 320
    top = max(counts.values(), default=0) or 1
    height = len(STAGES) * (bar_h + gap) + gap
    total = sum(counts.values())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="journey-title journey-desc" '
        f'width="{label_w + bar_w + 80}" height="{height}" viewBox="0 0 {label_w + bar_w + 80} {height}">',
        '<title id="journey-title">Shoppers per journey stage</title>',
        f'<desc id="journey-desc">{total} shoppers; '
        + "; ".join(f"{LABELS[s]}: {counts.get(s, 0)}" for s in STAGES)
        + "</desc>",
    ]
    for i, stage in enumerate(STAGES):
        y = gap + i * (bar_h + gap)
        n = counts.get(stage, 0)
        w = round(bar_w * n / top)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.0f}" text-anchor="end" font-size="13">'
            f"{escape(LABELS[stage])}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#5c6ac4" stroke="#202e78">'
            f"<title>{escape(LABELS[stage])}: {n}</title></rect>"
            f'<text x="{label_w + w + 6}" y="{y + bar_h * 0.7:.0f}" font-size="13">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def summary(counts: dict[str, int], flows: list[dict[str, Any]], days: int) -> str:
    total = sum(counts.values())
    if not total:
        return (
            "No shopper has a journey stage yet: stages appear with the first storefront events and orders."
        )
    biggest = max(STAGES, key=lambda s: (counts.get(s, 0), -STAGES.index(s)))
    moves = [f for f in flows if f["from"]]
    text = f"{total} shoppers; the largest stage is {LABELS[biggest].lower()} ({counts[biggest]})."
    if moves:
        m = moves[0]
        text += (
            f" In the last {days} days the most common move was {m['from_label'].lower()} → "
            f"{m['to_label'].lower()} ({m['count']})."
        )
    at_risk = counts.get("lapsing", 0)
    if at_risk:
        text += f" {at_risk} buyer{'s' if at_risk != 1 else ''} lapsing."
    return text


@bp.get("/api/admin/journey")
@require_session_token
def journey() -> Any:
    """Stage counts, the moves between stages over ``days`` (1–365, default 30), a summary and a chart."""
    raw = (request.args.get("days") or str(DEFAULT_DAYS)).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        return jsonify(
            error="invalid_days", field="days", message=f"days is a whole number 1..{MAX_DAYS}"
        ), 422
    days = int(raw)
    with session_scope(settings().database_url) as session:
        counts = stage_counts(session, g.shop.id)
        moves = flow_counts(session, g.shop.id, utcnow() - timedelta(days=days))
    flows = [
        {
            "from": a,
            "to": b,
            "from_label": LABELS.get(a, "(first seen)") if a else "(first seen)",
            "to_label": LABELS.get(b, b),
            "count": n,
        }
        for (a, b), n in sorted(moves.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_FLOWS]
    ]
    stages = [{"stage": s, "label": LABELS[s], "count": counts.get(s, 0)} for s in STAGES]
    return jsonify(
        days=days,
        stages=stages,
        flows=flows,
        summary=summary(counts, flows, days),
        chart_svg=chart_svg(counts),
    )
