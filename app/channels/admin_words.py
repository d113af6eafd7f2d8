"""The control room's words in the shop's language: a gettext catalogue per language
(``app/channels/admin_locales/<lang>/LC_MESSAGES/admin.po``, compiled in memory like the messages'), plurals through
``ngettext`` and numbers, percentages and money through Babel. English is the source language.

``WORDS`` lists every msgid the control room shows (``tests/test_control_room.py`` fails while a catalogue
misses one); ``PLURALS`` the singular/plural pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.numbers import format_currency, format_decimal, format_percent

from app.channels.i18n import compile_catalogue

LOCALES = Path(__file__).resolve().parent / "admin_locales"
DOMAIN = "admin"
LANGUAGES = ("en", "fr")

METRIC_LABELS = {
    "conversion_rate": "Conversion rate",
    "cart_recovery": "Abandoned-cart recovery",
    "cross_sell_rate": "Cross-sell rate",
    "repeat_purchase_rate": "Repeat purchase rate",
    "support_deflection": "Support deflection",
    "average_order_value": "Average order value",
}
AGENT_LABELS = {
    "recommendations": "Recommendations",
    "browse_abandonment": "Browse abandonment",
    "rescue": "Checkout rescue",
    "replenishment": "Replenishment",
    "support": "Support assistant",
    "cross_sell": "Cross-sell at the right time",
    "win_back": "Win-back",
    "welcome": "Welcome series",
    "vip": "VIP recognition",
    "back_in_stock": "Back in stock",
    "nudge": "In-session help",
}
SETUP_LABELS = {
    "theme_embed": "Theme embed enabled",
    "pixel": "Pixel connected",
    "channels": "Channels configured",
    "first_sync": "First sync done",
}
UI = {
    "title": "Control room",
    "intro": "Shoppers under the agents against the global holdout, shoppers no agent ever touches. "
    "The intervals stay valid however often you look.",
    "metric": "Metric",
    "treated": "With agents",
    "holdout": "Global holdout",
    "difference": "Incremental difference",
    "interval": "Always-valid 95% interval",
    "traditional": "Traditional (seed's reference)",
    "with_agents": "With AI agents (seed's reference)",
    "revenue": "Incremental revenue, net of discounts",
    "collecting": "collecting data",
    "agents": "Agents",
    "setup": "Setup guide",
    "done": "Done",
    "todo": "To do",
    "on": "On",
    "off": "Off",
    "status": "Status",
    "today": "Today",
    "volume": "Volume",
    "lift": "Lift",
    "settings": "Settings",
    "channels": "Channels",
    "holdout_share": "Holdout share",
    "weekly_budget": "Weekly budget",
    "quiet_hours": "Allowed hours",
    "save": "Save",
    "saved": "Saved",
    "enabled": "Agent on",
    "no_budget": "only the shop's contact budget",
    "simulated": "Simulated: in this demo each agent's lift comes from its simulator (synthetic shoppers with a known effect), not from real shoppers.",
    "chart": "Treated and holdout values per metric",
    "references_note": "References are the seed's figures as the issues quote them (— where none is quoted), not measurements of this shop.",
    "srm": "Sample-ratio mismatch",
    "shrunk": "pooled with other shops",
    "activity": "Activity",
    "all_agents": "All agents",
    "all_actions": "All actions",
    "filter": "Filter",
    "digest_subject": "Your week with Attune: %(shop)s",
    "digest_heading": "What the agents added",
    "digest_intro": "Shoppers under the agents against the global holdout over the last %(days)s days.",
    "references": "References (seed)",
    "open": "Open the control room",
    "simulated_short": "simulated",
}
CHANNELS_UI = {  # the admin's support-channels section (app/static/admin/admin_support_channels.js)
    "title": "Support channels",
    "intro": "Connect the assistant to Messenger, Instagram, e-mail replies and your help desk. "
    "Secrets are stored encrypted and never shown again.",
    "messenger": "Messenger and Instagram",
    "email": "E-mail replies",
    "helpdesk": "Help desk",
    "page_id": "Facebook Page id",
    "instagram_id": "Instagram account id (optional)",
    "page_token": "Page access token",
    "app_secret": "App secret",
    "verify_token": "Verify token",
    "address": "Inbound address",
    "signing_key": "Mailgun webhook signing key",
    "provider": "Provider",
    "account": "Account (the subdomain)",
    "desk_email": "API user's e-mail",
    "api_token": "API token",
    "callback": "Callback URL to paste into Meta",
    "route": "Inbound route URL to give Mailgun",
    "copy": "Copy",
    "copied": "Copied",
    "copy_failed": "Select the address and copy it",
    "set": "set",
    "not_set": "not set",
    "keep": "Leave empty to keep the stored one.",
    "save": "Save",
    "saved": "Saved",
    "saving": "Saving…",
    "disconnect": "Disconnect",
    "disconnected": "Disconnected",
    "connected": "Connected",
    "not_connected": "Not connected",
    "incomplete": "Incomplete",
    "load_failed": "Could not load the support channels",
    "save_failed": "Could not save",
}
PLURALS = {
    "customers": ("%(num)s customer", "%(num)s customers"),
    "actions_today": ("%(num)s action today", "%(num)s actions today"),
    "decisions": ("%(num)s decision in the period", "%(num)s decisions in the period"),
}
WORDS = (
    *METRIC_LABELS.values(),
    *AGENT_LABELS.values(),
    *SETUP_LABELS.values(),
    *UI.values(),
    *CHANNELS_UI.values(),
)


def negotiate(tag: str | None) -> str:
    """``fr``, ``fr-CA`` … → ``fr``; anything else → ``en``."""
    lang = (tag or "").replace("_", "-").split("-")[0].lower()
    return lang if lang in LANGUAGES else "en"


@lru_cache(maxsize=len(LANGUAGES))
def _catalogue(lang: str):
    return compile_catalogue(LOCALES, DOMAIN, lang)


@dataclass(frozen=True)
class Words:
    """Translations, plurals and numbers for one language."""

    lang: str

    @property
    def _locale(self) -> Locale:
        return Locale.parse(self.lang)

    def __call__(self, msgid: str) -> str:
        return _catalogue(self.lang).gettext(msgid)

    def plural(self, key: str, n: int) -> str:
        one, many = PLURALS[key]
        return _catalogue(self.lang).ngettext(one, many, n) % {"num": self.number(n)}

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self._locale)

    def percent(self, value: float | None) -> str:
        return "—" if value is None else format_percent(value, format="#,##0.0 %", locale=self._locale)

    def points(self, value: float) -> str:
        """A difference of rates in percentage points, signed."""
        text = format_decimal(abs(value) * 100, format="#,##0.0", locale=self._locale)
        return ("+" if value >= 0 else "−") + text + " pts"

    def money(self, value: float | None, currency: str) -> str:
        if value is None:
            return "—"
        text = format_currency(abs(value), currency, locale=self._locale)
        return ("−" + text) if value < 0 else text

    def ui(self) -> dict[str, str]:
        return {k: self(v) for k, v in UI.items()}

    def channels_ui(self) -> dict[str, str]:
        return {k: self(v) for k, v in CHANNELS_UI.items()}

    def write_table(self, table: dict[str, Any], currency: str) -> dict[str, Any]:
        """Add to the success table (``app.measurement.control_room.success_table``) each row's figures and the
        revenue line written in this language (``text``), for the page and the digest alike."""
        for row in table["rows"]:
            row["text"] = self._row_text(row, currency)
        rev = table["revenue"]
        total = rev["total"]
        rev["text"] = {
            "total": self.money(total["estimate"], currency) if total else self(UI["collecting"]),
            "interval": (
                f"{self.money(total['low'], currency)} … {self.money(total['high'], currency)}"
                if total
                else ""
            ),
            "discounts": self.money(rev["discounts"], currency),
        }
        return table

    def _row_text(self, row: dict[str, Any], currency: str) -> dict[str, str]:
        def value(v: float | None) -> str:
            return self.percent(v) if row["rate"] else self.money(v, currency)

        diff = row["difference"]
        if diff is None:
            difference = interval = self(UI["collecting"])
        elif row["rate"]:
            difference = self.points(diff["estimate"])
            interval = f"{self.points(diff['low'])} … {self.points(diff['high'])}"
        else:
            difference = self.money(diff["estimate"], currency)
            interval = f"{self.money(diff['low'], currency)} … {self.money(diff['high'], currency)}"
        return {
            "label": self(METRIC_LABELS[row["metric"]]),
            "treated": value(row["treated"]["value"]),
            "holdout": value(row["holdout"]["value"]),
            "treated_customers": self.plural("customers", row["treated"]["customers"]),
            "holdout_customers": self.plural("customers", row["holdout"]["customers"]),
            "difference": difference,
            "interval": interval,
        }
