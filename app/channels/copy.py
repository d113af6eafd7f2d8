"""What Attune's messages say, written in the recipient's language (``app.channels.i18n``).

An agent's content names the words it needs (``data["copy"]``, with the facts they speak of) rather than
writing English itself; ``localize`` fills in the text the channels read (``subject``, ``heading``,
``paragraphs``, ``cta_label``) and the products' prices in the chosen locale, and records that ``locale`` on
the data so the templates' own words (the e-mail footer, the SMS opt-out line) follow it at send time. The
Channels page's test messages and the SMS replies (HELP) are written here too. Every msgid is English; the
catalogues under ``locales/`` translate them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from app.channels.i18n import day, gettext_for, money
from app.orchestrator.variants import fill


def N_(msgid: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction, translate later")
    return msgid


CHANNEL_NAMES = {"email": N_("e-mail"), "sms": N_("SMS"), "push": N_("web push"), "flow": N_("Shopify Flow")}
Writer = Callable[[Mapping[str, Any], Callable[[str], str]], dict[str, Any]]


def _browse_reminder(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    facts = {"product": data["product_title"], "shop": data["shop_name"]}
    paragraphs = [
        _("You looked at %(product)s a few times this week. It is still available at %(shop)s.") % facts
    ]
    title = _("Still thinking about %(product)s?") % facts
    words = {
        "subject": title,
        "heading": title,
        "paragraphs": paragraphs,
        "cta_label": _("See %(product)s") % facts,
    }
    if len(data.get("products") or []) > 1:  # the viewed product comes first; this heads the ones after it
        words["more_heading"] = _("A couple of things that go well with it:")
    return words


def _checkout_rescue(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    facts = {"item": data["first_item"], "more": int(data.get("more") or 0), "shop": data["shop_name"]}
    step = int(data.get("step") or 1)
    if step == 1:
        title = (
            _("You left %(item)s and %(more)d more in your cart") % facts
            if facts["more"]
            else _("You left %(item)s in your cart") % facts
        )
    elif step == 2:
        title = _("Your cart at %(shop)s is still saved") % facts
    else:
        title = _("Last reminder: your cart at %(shop)s is waiting") % facts
    paragraphs = [_("Your cart at %(shop)s is saved just as you left it. Pick up where you stopped:") % facts]
    offer = data.get("offer")
    if isinstance(offer, Mapping) and offer.get("code"):
        paragraphs.append(_offer_line(offer, data.get("locale"), _))
    return {
        "subject": title,
        "heading": title,
        "paragraphs": paragraphs,
        "cta_label": _("Return to your cart"),
    }


def _interest_checklist(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    facts = {"interest": data["interest"], "shop": data["shop_name"]}
    title = _("For your next %(interest)s order") % facts
    return {
        "subject": title,
        "heading": title,
        "paragraphs": [_("A few %(interest)s things you do not have yet, picked at %(shop)s:") % facts],
        "cta_label": _("See them"),
    }


def _win_back(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    facts = {"shop": data["shop_name"], "incentive": data.get("incentive") or ""}
    title = _("We miss you at %(shop)s") % facts
    paragraphs = [_("It has been a while. Here is what is new at %(shop)s.") % facts]
    offer = data.get("offer")
    if isinstance(offer, Mapping) and offer.get("code"):
        paragraphs.append(_offer_line(offer, data.get("locale"), _))
    elif data.get("incentive"):
        paragraphs.append(_("As a welcome back: %(incentive)s") % facts)
    return {"subject": title, "heading": title, "paragraphs": paragraphs, "cta_label": _("Visit the shop")}


def _nudge_offer(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    """The in-session incentive, delivered on site once its code exists (``app.jobs.nudge_offer``)."""
    title = _("A little something to help you decide")
    offer = data.get("offer")
    line = (
        _offer_line(offer, data.get("locale"), _) if isinstance(offer, Mapping) and offer.get("code") else ""
    )
    out = {"subject": title, "heading": title, "paragraphs": [line] if line else [], "onsite_text": line}
    if line:  # Shopify's shareable discount link: applies the code, then opens the cart
        out["cta_url"] = f"/discount/{offer['code']}?redirect=%2Fcart"  # type: ignore[index]
    return out


def _welcome(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    facts = {"shop": data["shop_name"]}
    step = int(data.get("step") or 1)
    if step == 1:
        title = _("Welcome to %(shop)s") % facts
        text = _("Thank you for subscribing. Here is what people love most at %(shop)s.") % facts
    elif step == 2:
        title = _("Our best sellers at %(shop)s") % facts
        text = _("The products our customers come back for.")
    else:
        title = _("Anything we can help you find?")
        text = _("Reply to this message: a person at %(shop)s reads every answer.") % facts
    return {"subject": title, "heading": title, "paragraphs": [text], "cta_label": _("Visit the shop")}


def _vip_thanks(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    facts = {"shop": data["shop_name"], "orders": int(data.get("orders") or 0)}
    title = _("Thank you from %(shop)s") % facts
    return {
        "subject": title,
        "heading": title,
        "paragraphs": [_("You are one of our most loyal customers (%(orders)d orders). Thank you.") % facts],
        "cta_label": _("Visit the shop"),
    }


def _back_in_stock(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    facts = {"product": data["product_title"], "shop": data["shop_name"]}
    title = _("%(product)s is back in stock") % facts
    return {
        "subject": title,
        "heading": title,
        "paragraphs": [
            _("You asked %(shop)s to tell you when %(product)s was back. It is, while stock lasts.") % facts,
            _("This is the one message you asked for: we will not write to you about it again."),
        ],
        "cta_label": _("See %(product)s") % facts,
    }


def _newsletter(data: Mapping[str, Any], _: Callable[[str], str]) -> dict[str, Any]:
    """The merchant's newsletter, personalised: their subject and text with the recipient's name, the shop and
    the interest filled in, and a line leading into the recipient's own products."""
    facts = {
        "first_name": data.get("first_name"),
        "shop": data["shop_name"],
        "interest": data.get("interest"),
    }
    title = fill(str(data["subject_template"]), facts)
    paragraphs = [fill(str(data["body"]), facts)]
    if data.get("block") == "recommended":
        paragraphs.append(_("Picked for you at %(shop)s:") % facts)
    elif data.get("block") == "interest":
        paragraphs.append(_("For your %(interest)s, a few things you do not have yet:") % facts)
    return {"subject": title, "heading": title, "paragraphs": paragraphs, "cta_label": _("Visit the shop")}


def _offer_line(offer: Mapping[str, Any], locale: Any, _: Callable[[str], str]) -> str:
    """The pricing agent's code, when the asking agent attached one (``offer``: code, kind, value, until)."""
    what = (
        _("free shipping")
        if offer.get("kind") == "free_shipping"
        else _("%(percent)s%% off your order") % {"percent": f"{float(offer.get('value') or 0):g}"}
    )
    until = str(offer.get("until") or "")
    with contextlib.suppress(ValueError):
        until = day(date.fromisoformat(until[:10]), locale if isinstance(locale, str) else None)
    return _(
        "With the code %(code)s you get %(what)s until %(until)s. It is for you alone and works once."
    ) % {"code": offer["code"], "what": what, "until": until}


def offer_text(offer: Mapping[str, Any], locale: str | None) -> str:
    """The offer line in ``locale``, for a message that writes its own words (the replenishment reminder)."""
    return _offer_line(offer, locale, gettext_for(locale))


WRITERS: dict[str, Writer] = {
    "browse_reminder": _browse_reminder,
    "checkout_rescue": _checkout_rescue,
    "interest_checklist": _interest_checklist,
    "win_back": _win_back,
    "welcome": _welcome,
    "vip_thanks": _vip_thanks,
    "back_in_stock": _back_in_stock,
    "newsletter": _newsletter,
    "nudge_offer": _nudge_offer,
}


def _priced(product: Mapping[str, Any], locale: str) -> dict[str, Any]:
    out = dict(product)
    if out.get("amount") and out.get("currency"):
        out["price"] = money(out["amount"], out["currency"], locale)
    return out


def localize(data: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """``data`` with its words (``data["copy"]``) and prices written for ``locale``, and ``locale`` recorded.
    ``ValueError`` for copy Attune does not know; data without ``copy`` keeps its own words."""
    out = {**data, "locale": locale}
    if isinstance(out.get("products"), list):
        out["products"] = [_priced(p, locale) if isinstance(p, dict) else p for p in out["products"]]
    kind = data.get("copy")
    if kind is not None:
        writer = WRITERS.get(str(kind))
        if writer is None:
            raise ValueError(f"no message copy {kind!r}")
        out.update(writer(data, gettext_for(locale)))
    return out


def opt_out_line(locale: str | None) -> str:
    """The SMS marketing opt-out line (the keyword stays STOP: carriers act on it in every language)."""
    _ = gettext_for(locale)
    return _("Reply STOP to opt out.")


def sms_help(shop_name: str, locale: str | None) -> str:
    """The answer to HELP when the merchant wrote none."""
    _ = gettext_for(locale)
    return (
        _("%(shop)s: for help, reply here and we will get back to you. Msg&data rates may apply.")
        % {"shop": shop_name}
        + " "
        + opt_out_line(locale)
    )


def test_text(channel: str, locale: str | None) -> str:
    """The body of the Channels page's test message on ``channel``."""
    _ = gettext_for(locale)
    name = _(CHANNEL_NAMES.get(channel, channel))
    return _("This is a test message from Attune: your %(channel)s settings work.") % {"channel": name}


def test_email(
    shop: str, from_name: str, from_address: str, sent_on: date, locale: str | None
) -> dict[str, Any]:
    """The test e-mail's words (subject, heading, paragraphs)."""
    _ = gettext_for(locale)
    return {
        "subject": _("Test e-mail from %(shop)s") % {"shop": shop},
        "heading": _("Your e-mail channel works"),
        "paragraphs": [
            test_text("email", locale),
            _("Sent on %(date)s as %(name)s <%(address)s>.")
            % {"date": day(sent_on, locale), "name": from_name, "address": from_address},
        ],
        "locale": locale,
    }


def test_push_title(shop: str, locale: str | None) -> str:
    _ = gettext_for(locale)
    return _("Test from %(shop)s") % {"shop": shop}
