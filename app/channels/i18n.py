"""The language of Attune's messages: gettext catalogues (Babel) per language, the choice of the recipient's
locale, and dates and money written the way that locale writes them.

Catalogues live as ``locales/<language>/LC_MESSAGES/messages.po`` beside this module and are compiled in
memory on first use (Babel's ``read_po`` and ``write_mo``): a fresh clone needs no build step, and no binary
``.mo`` is committed. English is the source language: its text is the msgids themselves. ``make i18n``
re-extracts the msgids (``babel.cfg``: this package's Python and templates) and updates every catalogue;
``tests/test_i18n.py`` fails while a catalogue misses or leaves untranslated any of them.

A locale is chosen from candidates in order (the shopper's ``customer.locale``, then the shop's primary
locale), the first whose language has a catalogue; none of them (or none given) is English.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
SOURCE = "en"


@lru_cache(maxsize=1)
def languages() -> frozenset[str]:
    """The languages messages can be written in: English and every catalogue shipped."""
    found = {p.parent.parent.name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return frozenset({SOURCE, *found})


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def negotiate(*candidates: str | None) -> str:
    """The first candidate (``de``, ``de-CH``, ``pt_BR`` …) whose language has a catalogue, as Babel's locale
    identifier (``de_CH``); English when none has."""
    for tag in candidates:
        locale = _parse(tag) if tag else None
        if locale is not None and locale.language in languages():
            return str(locale)
    return SOURCE


def language(locale: str | None) -> str:
    parsed = _parse(locale) if locale else None
    return parsed.language if parsed is not None and parsed.language in languages() else SOURCE


@lru_cache(maxsize=16)
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (a language code); English and unknown languages translate nothing."""
    return compile_catalogue(LOCALES, DOMAIN, lang)


def compile_catalogue(root: Path, domain: str, lang: str) -> gettext.NullTranslations:
    """``root/<lang>/LC_MESSAGES/<domain>.po`` compiled in memory (the admin's words use it too)."""
    po = root / lang / "LC_MESSAGES" / f"{domain}.po"
    if lang == SOURCE or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=domain)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=domain)


def gettext_for(locale: str | None) -> Callable[[str], str]:
    """``_`` for ``locale``: the translation of a msgid (the msgid itself in English)."""
    return translations(language(locale)).gettext


def money(amount: float | Decimal | str, currency: str, locale: str | None) -> str:
    """``€4.50`` in English, ``4,50 €`` in German, for ``locale``'s conventions."""
    return format_currency(Decimal(str(amount)), currency.upper(), locale=_babel(locale))


def day(value: date | datetime, locale: str | None) -> str:
    """A date in ``locale``'s long form: ``December 6, 2026``, ``6. Dezember 2026``."""
    return format_date(value, format="long", locale=_babel(locale))


def _babel(locale: str | None) -> Locale:
    parsed = _parse(locale) if locale else None
    return parsed if parsed is not None and parsed.language in languages() else Locale.parse(SOURCE)
