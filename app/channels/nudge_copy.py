"""The words of an in-session nudge card, in the shopper's language (the gettext catalogues of this package).

A card is ``{"rung", "title", "lines": [...], "items": [...], "reason"}``: plain text only (the embed sets it as
text, never HTML). Facts come from ``app.agents.nudge`` decisions; nothing here decides anything.
"""

from __future__ import annotations

from typing import Any

from app.agents.nudge import Alternative, HelpAnswer, IncentiveOffer, NudgeDecision
from app.channels.i18n import gettext_for, money

MAX_POLICY = 280


def _days(low: Any, high: Any, _: Any) -> str | None:
    if not isinstance(low, int):
        return None
    if isinstance(high, int) and high != low:
        return _("Delivery in %(low)d–%(high)d days.") % {"low": low, "high": high}
    return _("Delivery in %(days)d days.") % {"days": low}


def help_lines(answer: HelpAnswer, locale: str | None) -> tuple[str, list[str]]:
    _ = gettext_for(locale)
    f = answer.facts
    lines: list[str] = []
    if answer.topic == "shipping":
        title = _("Shipping to you")
        currency = str(f.get("currency") or "USD")
        if f.get("cost") is not None:
            cost = float(f["cost"])
            if cost == 0:
                lines.append(_("Shipping is free."))
            else:
                lines.append(_("Shipping costs %(cost)s.") % {"cost": money(cost, currency, locale)})
        days = _days(f.get("min_days"), f.get("max_days"), _)
        if days:
            lines.append(days)
        gap = f.get("free_gap")
        if isinstance(gap, (int, float)) and gap > 0:
            lines.append(_("Add %(gap)s more for free shipping.") % {"gap": money(gap, currency, locale)})
        elif gap == 0:
            lines.append(_("Your cart ships free."))
    elif answer.topic == "returns":
        title = _("Returns")
    else:
        title = _("About this product")
    text = f.get("text")
    if isinstance(text, str) and text:
        lines.append(text[:MAX_POLICY])
    return title, lines


def _why(a: Alternative, _: Any, locale: str | None) -> str:
    if a.reason == "cheaper":
        return _("Cheaper than %(title)s") % {"title": a.instead_of}
    return _("Better rated than %(title)s (%(rating).1f of 5)") % {
        "title": a.instead_of,
        "rating": a.rating or 0,
    }


def card(decision: NudgeDecision, locale: str | None) -> dict[str, Any] | None:
    """The card for a shown decision (None for anything else)."""
    if decision.action != "show" or decision.rung is None:
        return None
    _ = gettext_for(locale)
    out: dict[str, Any] = {"rung": decision.rung, "lines": [], "items": [], "reason": decision.reason}
    if decision.rung == "help" and decision.help is not None:
        out["title"], out["lines"] = help_lines(decision.help, locale)
        out["source"] = decision.help.source
        if decision.help.url:
            out["url"] = decision.help.url
    elif decision.rung == "compare":
        out["title"] = _("You might also like")
        out["items"] = [
            {
                "product_id": a.product_id,
                "title": a.title,
                "url": a.url,
                "price": money(a.price, a.currency, locale),
                "why": _why(a, _, locale),
            }
            for a in decision.alternatives
        ]
    elif decision.rung == "incentive" and decision.incentive is not None and decision.incentive.code:
        offer: IncentiveOffer = decision.incentive
        out["title"] = _("A little something to help you decide")
        out["lines"] = [_("Use code %(code)s: %(label)s.") % {"code": offer.code, "label": offer.label}]
        out["code"] = offer.code
    else:
        return None
    out["close"] = _("Close")
    return out


def pending(decision: NudgeDecision, locale: str | None) -> dict[str, Any] | None:
    """A shown incentive whose code is still being made: the card's frame (rung, title, close) for the embed,
    which fills it with the on-site message that delivers the code (``GET /proxy/nudges``, kind ``offer``) and
    shows nothing if none comes (an Admin API error is never the shopper's)."""
    offer = decision.incentive
    if decision.action != "show" or decision.rung != "incentive" or offer is None or offer.code:
        return None
    _ = gettext_for(locale)
    return {"rung": "incentive", "title": _("A little something to help you decide"), "close": _("Close")}
