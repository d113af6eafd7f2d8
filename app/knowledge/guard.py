"""The guard that keeps answers grounded: an answer may state an amount, a percentage, a date, a number or a
promise (refund, free shipping, discount …) only when its source passage states it too.

The extractive answer is the passage itself, so it passes by construction; the guard is what any other
wording (a template around the passage, a language model's rephrasing) must pass before it is shown.
Pure: two strings in, the unsupported claims out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    "|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_CURRENCY_WORDS = "usd|eur|gbp|cad|aud|dollars?|euros?|pounds?|bucks"
_AMOUNT = re.compile(
    rf"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?)|(?:\d[\d,]*(?:\.\d+)?\s?(?:{_CURRENCY_WORDS})\b)", re.I
)
_PERCENT = re.compile(r"\d+(?:\.\d+)?\s?(?:%|per ?cent\b)", re.I)
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s+(?:{_MONTHS})\b(?:\s+\d{{4}})?|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?|{_WEEKDAYS}|today|tomorrow|tonight)",
    re.I,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|fifteen|twenty|thirty|forty"
    "|fifty|sixty|ninety|hundred"
)
_NUMBER_WORD = re.compile(rf"\b(?:{_NUMBER_WORDS})\b", re.I)
# promises a shop is held to: each is a set of phrasings of one commitment
PROMISES: dict[str, re.Pattern[str]] = {
    "refund": re.compile(r"\b(refund\w*|money[- ]back|reimburs\w*)\b", re.I),
    "free shipping": re.compile(r"\bfree\s+(?:standard\s+|express\s+)?(shipping|delivery|postage)\b", re.I),
    "free returns": re.compile(r"\bfree\s+returns?\b|\breturns?\s+(?:are|is)\s+free\b", re.I),
    "discount": re.compile(
        r"\b(discount\w*|coupon\w*|promo(?:tion|tional)?\s*codes?|\d+\s?% off|on sale)\b", re.I
    ),
    "exchange": re.compile(r"\bexchang\w*\b", re.I),
    "guarantee": re.compile(r"\b(guarantee\w*|warrant(?:y|ies|ied))\b", re.I),
    "price match": re.compile(r"\bprice[- ]match\w*\b", re.I),
    "compensation": re.compile(r"\b(compensat\w*|store credit|gift card|voucher)\b", re.I),
    "replacement": re.compile(r"\b(replace(?:ment)?s?|re-?ship\w*)\b", re.I),
    "cancellation": re.compile(r"\bcancel\w*\b", re.I),
}


def _norm_number(text: str) -> str:
    digits = re.sub(r"[^\d.]", "", text.replace(",", ""))
    try:
        value = float(digits)
    except ValueError:
        return digits
    return f"{value:g}"


def _amounts(text: str) -> set[str]:
    return {_norm_number(m) for m in _AMOUNT.findall(text)}


def _percents(text: str) -> set[str]:
    return {_norm_number(m) for m in _PERCENT.findall(text)}


def _dates(text: str) -> set[str]:
    return {" ".join(m.lower().replace(",", " ").replace(".", " ").split()) for m in _DATE.findall(text)}


def _numbers(text: str) -> set[str]:
    found = {_norm_number(m) for m in _NUMBER.findall(text)}
    return found | {m.lower() for m in _NUMBER_WORD.findall(text)}


def _promises(text: str) -> set[str]:
    return {name for name, pattern in PROMISES.items() if pattern.search(text)}


def unsupported_claims(answer: str, sources: str | Iterable[str]) -> list[str]:
    """The claims of ``answer`` that none of ``sources`` makes: ``amount 10``, ``percent 15``,
    ``date 12 may``, ``number 30``, ``promise refund``. Empty: the answer is grounded."""
    source = sources if isinstance(sources, str) else "\n".join(sources)
    missing: list[str] = []
    checks = (
        ("amount", _amounts),
        ("percent", _percents),
        ("date", _dates),
        ("number", _numbers),
        ("promise", _promises),
    )
    for label, extract in checks:
        have = extract(source)
        missing.extend(f"{label} {claim}" for claim in sorted(extract(answer) - have))
    return missing


def is_grounded(answer: str, sources: str | Iterable[str]) -> bool:
    return not unsupported_claims(answer, sources)
