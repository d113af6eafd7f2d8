"""The e-mail channel's loopback stand-in: a real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every
message it accepts, for tests and the demo. ``hold`` makes it keep the connection after storing a message and
before answering 250 (a relay killed then has handed the message over, but never heard it was accepted);
``refuse`` answers every message with that SMTP reply instead; ``connections`` counts the SMTP connections
that greeted it. ``SmtpInbox`` shows a sink's messages to a browser (the demo prints its URL): the list, and
each message's HTML as the shopper's mail client would show it."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.channels.loopback_http import (
    JsonHandler,
    LoopbackHttpServer,
    StartStop,
    free_port,
    inbox_page,
    send_html,
)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    hold: threading.Event | None = None  # while set to an unset Event, answers wait for it
    refuse: str | None = None
    queue_id: int = 0
    connections: int = 0  # EHLO/HELO greetings: one per SMTP connection

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return self.refuse
        self.messages.append(
            Received(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
            )
        )  # type: ignore[arg-type]
        self.arrived.set()
        if self.hold is not None:
            await server.loop.run_in_executor(None, self.hold.wait, 30)
        self.queue_id += 1
        return f"250 2.0.0 Ok: queued as LOOP{self.queue_id}"


class LoopbackSmtp(StartStop):
    """``with LoopbackSmtp() as sink: …`` serves SMTP on ``sink.url`` and keeps ``sink.messages``."""

    def __init__(self, port: int = 0) -> None:
        self.handler = _Handler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port or free_port())
        self._running = False

    @property
    def url(self) -> str:
        return f"smtp+plain://127.0.0.1:{self.controller.port}"

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def start(self) -> LoopbackSmtp:
        self.controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop serving (the port then refuses connections); stopping twice is harmless."""
        if self.handler.hold is not None:
            self.handler.hold.set()
        if self._running:
            self._running = False
            self.controller.stop()


# A message's own page: its inline styles and embedded images, nothing fetched from elsewhere, no script.
MESSAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class _InboxHandler(JsonHandler):
    server_version = "LoopbackSmtpInbox/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        sink: LoopbackSmtp = self.server.state
        received = list(sink.messages)
        path = self.path.split("?")[0]
        if path == "/":
            rows = [
                (f"#{n}", r.message["From"], ", ".join(r.rcpt_tos), r.message["Subject"])
                for n, r in enumerate(received, 1)
            ]
            links = [f"/{n}" for n in range(1, len(received) + 1)]
            page = inbox_page(
                "E-mail sink (what arrived over SMTP)", ("Message", "From", "To", "Subject"), rows, links
            )
            send_html(self, page)
            return
        n = int(path[1:]) if path[1:].isdigit() else 0
        if not 1 <= n <= len(received):
            self._answer(404, {"status": 404, "message": "no such message"})
            return
        message = received[n - 1].message
        part = message.get_body(("html", "plain"))
        content = part.get_content() if part is not None else ""
        if part is None or part.get_content_type() != "text/html":
            content = f"<!doctype html><meta charset=utf-8><pre>{html.escape(content)}</pre>"
        send_html(self, content.encode(), policy=MESSAGE_POLICY)


class SmtpInbox(LoopbackHttpServer):
    """``with SmtpInbox(sink) as inbox: …`` serves ``sink``'s messages on ``inbox.url``: ``/`` lists them
    (newest first), ``/N`` is the N-th as its HTML part shows it (the plain text where it has none)."""

    handler = _InboxHandler
