"""The e-mail channel over SMTP (any relay: Postmark, SES, SendGrid, a local sink), with smtplib.

``smtp://user:password@host:587`` uses STARTTLS when the server offers it (``smtp+plain://`` never does,
``smtps://`` is TLS from the start). Failures are sorted for the relay: no connection, a 4xx reply or a
refusal before the DATA body went out is ``TransientError``; a 5xx reply is ``PermanentError``; a connection
that breaks while the body is being handed over is ``AmbiguousError`` (it may have been accepted).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.policy import SMTP as SMTP_POLICY
from urllib.parse import unquote, urlsplit

from app.channels.base import (
    Accepted,
    AmbiguousError,
    OutgoingMessage,
    PermanentError,
    SendError,
    TransientError,
)
from app.channels.email_render import render

QUEUED_AS = re.compile(r"queued as ([A-Za-z0-9._@<>-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: str  # starttls (when offered) | tls | plain
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """``smtp[s]://[user:password@]host[:port]`` or ``smtp+plain://…`` (a clear ``ValueError`` otherwise)."""
        parts = urlsplit(url)
        security = {"smtp": "starttls", "smtps": "tls", "smtp+plain": "plain"}.get(parts.scheme)
        if security is None or not parts.hostname:
            raise ValueError(
                "an SMTP URL looks like smtp://user:password@host:587 (or smtps://, smtp+plain://)"
            )
        port = parts.port or (465 if security == "tls" else 587)
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, port, security, user, password)


def message_id(outbox_id: int, shop_id: int, from_address: str) -> str:
    """One Message-ID per outbox row: a re-send of a transactional message carries the same one."""
    domain = from_address.rpartition("@")[2] or "attune.invalid"
    return f"<outbox-{outbox_id}.shop-{shop_id}@{domain}>"


def _classify(exc: smtplib.SMTPResponseException, what: str) -> SendError:
    reply = (
        exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    )
    reason = f"{what}: {exc.smtp_code} {reply}".strip()
    return TransientError(reason) if 400 <= exc.smtp_code < 500 else PermanentError(reason)


class EmailChannel:
    """Sends one rendered e-mail per call over a fresh SMTP connection."""

    name = "email"

    def __init__(self, target: SmtpTarget, timeout_s: float = 30.0) -> None:
        self.target = target
        self.timeout_s = timeout_s

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        if t.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                t.host, t.port, timeout=self.timeout_s, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(t.host, t.port, timeout=self.timeout_s)
        smtp.ehlo()
        if t.security == "starttls" and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if t.username:
            smtp.login(t.username, t.password or "")
        return smtp

    def send(self, message: OutgoingMessage) -> Accepted:
        msg_id = message.extra.get("message_id") or message_id(
            message.outbox_id, message.shop_id, message.sender.from_address
        )
        mime = render(message, msg_id)
        envelope_from = message.sender.from_address
        try:
            smtp = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP login refused: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc, "SMTP server refused the connection") from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, unreachable, timed out, TLS failed
            raise TransientError(f"SMTP server unreachable: {exc or type(exc).__name__}") from exc
        try:
            try:
                code, reply = smtp.mail(envelope_from)
                if code != 250:
                    raise _classify(smtplib.SMTPResponseException(code, reply), "sender refused")
                code, reply = smtp.rcpt(message.recipient)
                if code not in (250, 251):
                    raise _classify(smtplib.SMTPResponseException(code, reply), "recipient refused")
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                raise TransientError(f"SMTP connection lost before the message: {exc}") from exc
            try:
                code, reply = smtp.data(mime.as_bytes(policy=SMTP_POLICY))
            except smtplib.SMTPDataError as exc:  # a definite answer: not accepted
                raise _classify(exc, "message refused") from exc
            except (TimeoutError, OSError, smtplib.SMTPServerDisconnected) as exc:
                raise AmbiguousError(f"SMTP connection lost while handing the message over: {exc}") from exc
            if code != 250:  # smtplib returns the final reply to DATA without raising
                raise _classify(smtplib.SMTPResponseException(code, reply), "message refused")
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        queued = QUEUED_AS.search(text)
        return Accepted(provider_id=queued.group(1) if queued else msg_id)
