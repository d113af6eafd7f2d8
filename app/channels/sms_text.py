"""SMS text without the provider: phone numbers in E.164 (``phonenumbers``), segment counting (GSM-7 or UCS-2),
the body of a message (the shop's name and "Reply STOP to opt out" on marketing), and the opt-out keywords.

Pure functions, used by the SMS adapter, the loopback stand-in and the Twilio ingress alike (nothing here sends).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from app.channels.copy import opt_out_line
from app.channels.i18n import SOURCE

# GSM 03.38: the basic character set (one septet each) and its extension table (escape + one septet).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
SINGLE = {"GSM-7": 160, "UCS-2": 70}  # units in a message of one segment
CONCATENATED = {"GSM-7": 153, "UCS-2": 67}  # units per segment once a user-data header is needed
MAX_BODY_CHARS = 1600  # Twilio's limit on a message body
OPT_OUT_LINE = opt_out_line(SOURCE)  # in English; ``copy.opt_out_line(locale)`` in another language

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


class InvalidNumber(ValueError):
    """Not a phone number that can receive an SMS."""


@dataclass(frozen=True)
class Segments:
    encoding: str  # GSM-7 | UCS-2
    units: int  # septets (GSM-7, an extension character counts two) or UTF-16 code units (UCS-2)
    count: int  # segments billed and delivered


def e164(raw: str | None, region: str | None = None) -> str:
    """``raw`` as an E.164 number (``+14155550123``); ``region`` (ISO country code) reads national numbers.
    ``InvalidNumber`` when it is not a valid number."""
    text = (raw or "").strip()
    if not text:
        raise InvalidNumber("no phone number")
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{text!r} is not a phone number ({exc._msg})") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _units(text: str) -> tuple[str, list[int]]:
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        return "GSM-7", [2 if c in GSM7_EXTENDED else 1 for c in text]
    # UCS-2 (UTF-16 on the wire): a character outside the BMP (most emoji) is a surrogate pair, two units
    return "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in text]


def segments(text: str) -> Segments:
    """How many segments ``text`` takes: one up to 160 GSM-7 septets or 70 UCS-2 units; past that, 153 or 67
    per segment, never splitting an escape sequence or a surrogate pair across two segments."""
    encoding, units = _units(text)
    total = sum(units)
    if total == 0:
        return Segments(encoding, 0, 0)
    if total <= SINGLE[encoding]:
        return Segments(encoding, total, 1)
    size, count, used = CONCATENATED[encoding], 1, 0
    for unit in units:
        if used + unit > size:
            count, used = count + 1, 0
        used += unit
    return Segments(encoding, total, count)


def compose(data: Mapping[str, Any], *, marketing: bool, shop_name: str) -> str:
    """The SMS body for an outbox row's content: ``sms_text`` when the agent wrote one, else the heading, the
    first paragraph and the link. Marketing names the shop first and ends with the opt-out line (TCPA, CTIA),
    in the message's language (``data["locale"]``)."""
    text = data.get("sms_text")
    if not isinstance(text, str) or not text.strip():
        paragraphs = data.get("paragraphs") or []
        first = paragraphs[0] if isinstance(paragraphs, list) and paragraphs else None
        link = data.get("cta_url")
        text = " ".join(str(p).strip() for p in (data.get("heading"), first, link) if p and str(p).strip())
    text = " ".join(text.split()) if text else ""
    if not text:
        raise ValueError("the message has no text for an SMS")
    if marketing:
        if shop_name and not text.startswith(shop_name):
            text = f"{shop_name}: {text}"
        text = f"{text}\n{opt_out_line(data.get('locale'))}"
    return text


def keyword(body: str | None) -> str | None:
    """``stop``, ``start`` or ``help`` when the whole message is one of the carriers' keywords (any case,
    surrounding spaces and punctuation ignored), else None: "stop sending me those" is an ordinary reply."""
    word = (body or "").strip().strip(".!?,;:'\"").strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
