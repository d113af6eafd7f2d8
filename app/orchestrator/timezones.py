"""The recipient's time zone: from the customer's address, else the pixel's browser time zone, else the shop's.

A country whose IANA zones (``zone.tab`` of the ``tzdata`` package) all keep one clock gives its first zone; the United States,
Canada, Australia, Mexico and Brazil are resolved by state or province. An address that does not pin one zone
(another multi-zone country, an unknown province) falls through to the next source.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_US = {
    "America/New_York": "CT DE DC FL GA IN KY ME MD MA MI NH NJ NY NC OH PA RI SC VT VA WV",
    "America/Chicago": "AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI",
    "America/Denver": "CO MT NM UT WY ID",
    "America/Phoenix": "AZ",
    "America/Los_Angeles": "CA NV OR WA",
    "America/Anchorage": "AK",
    "Pacific/Honolulu": "HI",
    "America/Puerto_Rico": "PR VI",
    "Pacific/Guam": "GU MP",
    "Pacific/Pago_Pago": "AS",
}
_CA = {
    "America/St_Johns": "NL",
    "America/Halifax": "NS NB PE",
    "America/Toronto": "ON QC NU",
    "America/Winnipeg": "MB",
    "America/Regina": "SK",
    "America/Edmonton": "AB NT",
    "America/Vancouver": "BC",
    "America/Whitehorse": "YT",
}
_AU = {
    "Australia/Sydney": "NSW ACT",
    "Australia/Melbourne": "VIC",
    "Australia/Brisbane": "QLD",
    "Australia/Adelaide": "SA",
    "Australia/Darwin": "NT",
    "Australia/Perth": "WA",
    "Australia/Hobart": "TAS",
}
_MX = {
    "America/Tijuana": "BC",
    "America/Hermosillo": "SON",
    "America/Mazatlan": "BCS SIN NAY",
    "America/Chihuahua": "CHIH",
    "America/Cancun": "ROO",
}
_BR = {
    "America/Manaus": "AM RR RO",
    "America/Cuiaba": "MT MS",
    "America/Rio_Branco": "AC",
    "America/Belem": "PA AP",
    "America/Fortaleza": "CE MA PI RN PB",
    "America/Recife": "PE AL SE",
    "America/Bahia": "BA",
    "America/Araguaina": "TO",
}
_DEFAULT = {"MX": "America/Mexico_City", "BR": "America/Sao_Paulo"}  # the rest of the country


def _invert(table: dict[str, str]) -> dict[str, str]:
    return {code: zone for zone, codes in table.items() for code in codes.split()}


_BY_PROVINCE = {
    "US": _invert(_US),
    "CA": _invert(_CA),
    "AU": _invert(_AU),
    "MX": _invert(_MX),
    "BR": _invert(_BR),
}


@lru_cache(maxsize=1)
def _single_zone_countries() -> dict[str, str]:
    zones: dict[str, list[str]] = defaultdict(list)
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            zones[parts[0]].append(parts[2])
    return {country: names[0] for country, names in zones.items() if _same_clock(names)}


def _same_clock(names: list[str]) -> bool:
    """Whether every zone keeps the same UTC offsets in winter and summer (Germany's Busingen keeps Berlin's)."""
    probes = [datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC)]
    return len({tuple(p.astimezone(ZoneInfo(n)).utcoffset() for p in probes) for n in names}) == 1


def valid_zone(name: str | None) -> str | None:
    """``name`` when it is an IANA time zone, else None."""
    if not name or not isinstance(name, str) or len(name) > 64:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def address_timezone(country: str | None, province: str | None) -> str | None:
    """The zone an address pins down, or None."""
    country = (country or "").strip().upper()
    if not country:
        return None
    by_province = _BY_PROVINCE.get(country)
    if by_province is not None:
        code = (province or "").strip().upper().removeprefix(f"{country}-")
        return by_province.get(code) or (_DEFAULT.get(country) if code else None)
    return _single_zone_countries().get(country)


def recipient_timezone(
    country: str | None, province: str | None, browser_timezone: str | None, shop_timezone: str
) -> tuple[str, str]:
    """The recipient's zone and where it came from (``address``, ``browser`` or ``shop``)."""
    zone = address_timezone(country, province)
    if zone:
        return zone, "address"
    zone = valid_zone(browser_timezone)
    if zone:
        return zone, "browser"
    return valid_zone(shop_timezone) or "UTC", "shop"
