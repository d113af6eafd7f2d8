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
from collections.abc import Iterator
from contextlib import contextmanager
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
    """Sends one rendered e-mail per call: over a fresh SMTP connection, or, inside ``hold()``, over one
    connection kept open for every send until the block ends (the relay's batches)."""

    name = "email"

    def __init__(self, target: SmtpTarget, timeout_s: float = 30.0) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.key = ("email", target, timeout_s)  # equal keys: interchangeable clients (the relay keeps one)
        self._holding = False
        self._held: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        try:
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
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP login refused: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc, "SMTP server refused the connection") from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, unreachable, timed out, TLS failed
            raise TransientError(f"SMTP server unreachable: {exc or type(exc).__name__}") from exc
        return smtp

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep one connection open for the sends inside the block (opened at the first, closed at the end;
        a connection an error left unusable is replaced at the next send)."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            if self._held is not None:
                _close(self._held)
                self._held = None

    def send(self, message: OutgoingMessage) -> Accepted:
        msg_id = message.extra.get("message_id") or message_id(
            message.outbox_id, message.shop_id, message.sender.from_address
        )
        body = render(message, msg_id).as_bytes(policy=SMTP_POLICY)
        envelope = (message.sender.from_address, message.recipient, body)
        if not self._holding:
            smtp = self._connect()
            try:
                reply = _transact(smtp, *envelope)
            except _Stale as exc:
                raise TransientError(f"SMTP connection lost before the message: {exc}") from exc
            finally:
                _close(smtp)
        else:
            reply = self._send_held(envelope)
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        queued = QUEUED_AS.search(text)
        return Accepted(provider_id=queued.group(1) if queued else msg_id)

    def _send_held(self, envelope: tuple[str, str, bytes]) -> bytes | str:
        """One message over the kept connection. A kept connection the server has closed since the last
        message is replaced once (nothing of this message went out); any other failure closes it."""
        fresh = self._held is None
        if self._held is None:
            self._held = self._connect()
        try:
            return _transact(self._held, *envelope)
        except _Stale as exc:
            _close(self._held)
            self._held = None
            if fresh:
                raise TransientError(f"SMTP connection lost before the message: {exc}") from exc
            return self._send_held(envelope)
        except SendError:
            _close(self._held)
            self._held = None
            raise


class _Stale(Exception):
    """The connection was gone before any of the message went out (safe to try again)."""


def _transact(smtp: smtplib.SMTP, envelope_from: str, recipient: str, body: bytes) -> bytes | str:
    """MAIL, RCPT, DATA for one message on an open connection; the final reply to DATA."""
    try:
        code, reply = smtp.mail(envelope_from)
        if code != 250:
            raise _classify(smtplib.SMTPResponseException(code, reply), "sender refused")
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise _classify(smtplib.SMTPResponseException(code, reply), "recipient refused")
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise _Stale(str(exc) or type(exc).__name__) from exc
    try:
        code, reply = smtp.data(body)
    except smtplib.SMTPDataError as exc:  # a definite answer: not accepted
        raise _classify(exc, "message refused") from exc
    except (TimeoutError, OSError, smtplib.SMTPServerDisconnected) as exc:
        raise AmbiguousError(f"SMTP connection lost while handing the message over: {exc}") from exc
    if code != 250:  # smtplib returns the final reply to DATA without raising
        raise _classify(smtplib.SMTPResponseException(code, reply), "message refused")
    return reply


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
