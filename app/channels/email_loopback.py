"""The e-mail channel's loopback stand-in: a real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every
message it accepts, for tests and the demo. ``hold`` makes it keep the connection after storing a message and
before answering 250 (a relay killed then has handed the message over, but never heard it was accepted);
``refuse`` answers every message with that SMTP reply instead; ``connections`` counts the SMTP connections
that greeted it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.channels.loopback_http import StartStop, free_port


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
