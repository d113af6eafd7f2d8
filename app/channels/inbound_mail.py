"""E-mail a shopper sends to the shop (a reply to an Attune e-mail, or a message to the support address), as
Mailgun's inbound routing posts it (a route's ``forward()`` action): a form with ``sender``, ``recipient``,
``subject``, ``body-plain``, ``stripped-text`` (the reply without the quoted message), ``message-headers``
(JSON ``[[name, value], …]``) and the signature fields ``timestamp``, ``token``, ``signature`` (HMAC-SHA256 of
timestamp + token with the domain's webhook signing key). Pure: the form in, plain data or ``ValueError`` out.

``automatic`` says why a message must get no answer: a bounce (a delivery status report, a mailer daemon, an
empty return path, ``X-Failed-Recipients``), an auto-reply (``Auto-Submitted`` other than ``no``,
``X-Autoreply``, ``X-Autorespond``, ``Precedence: bulk | junk | list | auto_reply``), a mailing list, or a
message from the shop's own addresses or carrying our loop marker (RFC 3834: an automatic reply never answers
another automatic message, so two auto-responders cannot ping-pong).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr

MAX_AGE_S = 15 * 60  # a signed post older (or newer) than this is refused: no replay of an old one
LOOP_HEADER = "X-Attune-Loop"  # our replies carry it; a message that comes back with it is a loop
ANSWER_HEADERS = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
_DAEMON = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)([+-].*)?@", re.IGNORECASE
)
_WROTE = re.compile(
    r"^(on .{4,200} wrote:|le .{4,200} a écrit ?:|am .{4,200} schrieb .{0,80}:)\s*$", re.IGNORECASE
)
_ADDRESS = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]{1,255}$")
MAX_TEXT = 4000


@dataclass(frozen=True)
class InboundMail:
    sender: str  # the From address (the one the answer goes to: never a Reply-To, which anyone may set)
    return_path: str  # the envelope sender ("" for a bounce)
    recipient: str
    subject: str
    message_id: str
    in_reply_to: str | None
    references: str | None
    text: str  # the new words, quoted text removed
    headers: dict[str, str]  # lower-cased names, the first value of each


def signature_valid(signing_key: str, form: Mapping[str, str], now: float) -> bool:
    """Mailgun's webhook signature over ``timestamp`` + ``token``, and a timestamp within MAX_AGE_S."""
    stamp, token, signature = form.get("timestamp", ""), form.get("token", ""), form.get("signature", "")
    if not signing_key or not stamp.isdigit() or not token or not signature or len(token) > 200:
        return False
    if abs(now - int(stamp)) > MAX_AGE_S:
        return False
    expected = hmac.new(signing_key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def sign(signing_key: str, timestamp: int, token: str) -> str:
    return hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def strip_quoted(text: str) -> str:
    """The reply's own words: quoted lines (``>``), the "On … wrote:" line and what follows it, and a
    signature after ``-- `` are dropped."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _WROTE.match(line.strip()) or line.rstrip() == "--" or line.startswith("-----Original Message"):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _address(value: str) -> str:
    address = parseaddr(value)[1].strip()
    return address if _ADDRESS.match(address) else ""


def parse(form: Mapping[str, str]) -> InboundMail:
    """The message in a Mailgun inbound post (``ValueError`` naming what is missing or malformed)."""
    try:
        pairs = json.loads(form.get("message-headers") or "[]")
    except ValueError as exc:
        raise ValueError("message-headers is not JSON") from exc
    if not isinstance(pairs, list):
        raise ValueError("message-headers must be a list of [name, value] pairs")
    headers: dict[str, str] = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise ValueError("message-headers must be a list of [name, value] pairs")
        headers.setdefault(pair[0].lower(), pair[1])
    sender = _address(form.get("from") or headers.get("from", ""))
    if not sender:
        raise ValueError("the message has no From address")
    message_id = (headers.get("message-id") or form.get("Message-Id") or "").strip()
    if not message_id or len(message_id) > 255:
        raise ValueError("the message has no Message-Id")
    body = form.get("stripped-text")
    text = body if body is not None and body.strip() else strip_quoted(form.get("body-plain") or "")
    return InboundMail(
        sender=sender,
        return_path=_address(form.get("sender") or headers.get("return-path", "")),
        recipient=_address(form.get("recipient") or headers.get("to", "")),
        subject=" ".join((form.get("subject") or headers.get("subject") or "").split())[:200],
        message_id=message_id,
        in_reply_to=headers.get("in-reply-to"),
        references=headers.get("references"),
        text=" ".join(text.split())[:MAX_TEXT],
        headers=headers,
    )


def automatic(mail: InboundMail, own: tuple[str, ...] = ()) -> str | None:
    """Why ``mail`` must not be answered (see the module docstring), or None for a person's message."""
    h = mail.headers
    if "multipart/report" in h.get("content-type", "").lower() or "x-failed-recipients" in h:
        return "a bounce"
    if not mail.return_path or _DAEMON.match(mail.sender) or _DAEMON.match(mail.return_path):
        return "a bounce or an automatic sender"
    if h.get("auto-submitted", "no").strip().lower() != "no":
        return "an automatic reply (Auto-Submitted)"
    if "x-autoreply" in h or "x-autorespond" in h or "x-autoresponder" in h:
        return "an automatic reply"
    if h.get("precedence", "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "bulk or list mail (Precedence)"
    if "list-id" in h or "list-unsubscribe" in h:
        return "a mailing list"
    if LOOP_HEADER.lower() in h:
        return "our own answer came back (a loop)"
    mine = {a.lower() for a in own if a}
    if mail.sender.lower() in mine:
        return "sent from the shop's own address"
    if not mail.text:
        return "no text"
    return None


def references(mail: InboundMail) -> str:
    """The References header of the answer: the thread so far, then this message (RFC 5322 3.6.4)."""
    earlier = (mail.references or mail.in_reply_to or "").split()
    return " ".join([*earlier[-20:], mail.message_id])
