"""An e-mail from a template: subject, plain text and HTML (Jinja, autoescaped, CSS inlined by css-inline),
the merchant's sender and postal address, and for marketing the one-click unsubscribe headers (RFC 8058). The
templates' own words are in the message's language (``data["locale"]``, Jinja's i18n extension over
``app.channels.i18n``'s catalogues), as is ``<html lang>``.

Template data is escaped in the HTML part; a name, address or subject that would inject a header (CR, LF or
other control characters) is refused with ``HeaderInjection``.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr
from functools import lru_cache
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    UndefinedError,
    select_autoescape,
)

from app.channels.base import OutgoingMessage, PermanentError
from app.channels.i18n import SOURCE, language, languages, translations

TEMPLATES = Path(__file__).resolve().parent / "templates" / "email"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SUBJECT = 200
# headers an answer to a shopper's e-mail may carry (``OutgoingMessage.extra["headers"]``)
REPLY_HEADERS = frozenset(
    {"In-Reply-To", "References", "Auto-Submitted", "X-Auto-Response-Suppress", "X-Attune-Loop"}
)


class HeaderInjection(PermanentError):
    """A header value with a line break or another control character."""


@lru_cache(maxsize=8)
def _env(lang: str = SOURCE) -> Environment:
    """The templates with their words in ``lang`` (Jinja's i18n extension over the language's catalogue)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


@lru_cache(maxsize=1)
def _inliner() -> css_inline.CSSInliner:
    return css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def preload() -> None:
    """Worker start-up (``app.worker.PRELOADS``): compile the templates and build the inliner once, so the work
    horses forked per job inherit them instead of compiling them again for every message."""
    for lang in languages():
        env = _env(lang)
        for name in env.list_templates():
            env.get_template(name)
    _inliner()


def clean_header(name: str, value: Any, limit: int = 320) -> str:
    """``value`` as a header-safe string, or ``HeaderInjection`` naming the header."""
    text = "" if value is None else str(value)
    if CONTROL.search(text):
        raise HeaderInjection(f"{name} contains a line break or a control character")
    if len(text) > limit:
        raise HeaderInjection(f"{name} is longer than {limit} characters")
    return text


def _address(name: str, value: str) -> str:
    value = clean_header(name, value)
    try:
        Address(addr_spec=value)
    except (ValueError, IndexError) as exc:
        raise PermanentError(f"{name} {value!r} is not an e-mail address") from exc
    if "@" not in value:
        raise PermanentError(f"{name} {value!r} is not an e-mail address")
    return value


def render(message: OutgoingMessage, message_id: str) -> EmailMessage:
    """The MIME message for ``message`` (multipart/alternative: text, then HTML)."""
    sender = message.sender
    marketing = message.purpose == "marketing"
    if marketing and not sender.postal_address.strip():
        raise PermanentError("marketing e-mail needs the merchant's postal address (CAN-SPAM)")
    if marketing and not message.unsubscribe_url:
        raise PermanentError("marketing e-mail needs an unsubscribe link")
    context = {
        **dict(message.data),
        "sender": sender,
        "unsubscribe_url": message.unsubscribe_url if marketing else None,
        "language": language(message.data.get("locale")),
    }
    try:
        env = _env(context["language"])
        subject = env.get_template(f"{message.template}.subject.txt").render(context).strip()
        text = env.get_template(f"{message.template}.txt").render(context)
        html = _inliner().inline(env.get_template(f"{message.template}.html").render(context))
    except TemplateNotFound as exc:
        raise PermanentError(f"no e-mail template {message.template!r}") from exc
    except UndefinedError as exc:
        raise PermanentError(f"template {message.template!r}: {exc.message}") from exc
    msg = EmailMessage()
    msg["Subject"] = clean_header("subject", subject, MAX_SUBJECT)
    msg["From"] = formataddr(
        (clean_header("sender name", sender.from_name, 120), _address("sender address", sender.from_address))
    )
    msg["To"] = _address("recipient", message.recipient)
    if sender.reply_to:
        msg["Reply-To"] = _address("reply-to address", sender.reply_to)
    msg["Message-ID"] = message_id
    for name, value in dict(message.extra.get("headers") or {}).items():  # a reply's threading, RFC 3834
        if name in REPLY_HEADERS:
            msg[name] = clean_header(name, value, 2000)
    if marketing:
        msg["List-Unsubscribe"] = f"<{clean_header('unsubscribe URL', message.unsubscribe_url, 2000)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg
