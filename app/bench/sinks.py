"""The outbox bench's message sinks in a process of their own: the loopback SMTP server (aiosmtpd) and the
loopback Twilio Messages endpoint, so neither the senders measured nor the bench's own submitting share
their interpreter with the servers they send to.

Each accepted message is reported by its outbox id (the Message-ID ``<outbox-ID.shop-…>`` of an e-mail, the
``outbox=ID`` of an SMS's status callback), so the bench can check that every message arrived exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import signal
from collections import Counter
from typing import Any

from app.bench.servers import _default_signals

MESSAGE_ID = re.compile(rb"^Message-ID:\s*<outbox-(-?\d+)\.", re.IGNORECASE | re.MULTILINE)
CALLBACK_ID = re.compile(r"[?&]outbox=(-?\d+)")


def email_key(raw: bytes) -> int | None:
    found = MESSAGE_ID.search(raw)
    return int(found.group(1)) if found else None


def sms_key(status_callback: str | None) -> int | None:
    found = CALLBACK_ID.search(status_callback or "")
    return int(found.group(1)) if found else None


def _serve(conn: Any, accounts: dict[str, str]) -> None:  # noqa: ANN401 - a multiprocessing Connection
    from app.channels.email_loopback import LoopbackSmtp  # heavy: aiosmtpd, only in the sink process
    from app.channels.sms_loopback import LoopbackTwilio  # heavy: the loopback HTTP server and twilio

    _default_signals()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench's Ctrl-C is the parent's to handle
    with LoopbackSmtp() as smtp, LoopbackTwilio(accounts) as twilio:
        conn.send((smtp.url, twilio.url))
        while True:
            command = conn.recv()
            if command == "count":
                conn.send(len(smtp.messages) + len(twilio.messages))
            elif command == "keys":
                conn.send(
                    (
                        [email_key(m.raw) for m in smtp.messages],
                        [sms_key(m.status_callback) for m in twilio.messages],
                    )
                )
            elif command == "clear":
                smtp.messages.clear()
                twilio.messages.clear()
                conn.send(True)
            else:
                conn.send(True)
                return


class Sinks:
    """``with Sinks(accounts) as sinks:`` serves SMTP on ``sinks.smtp_url`` and Twilio on ``sinks.twilio_url``."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts
        self._conn: Any = None
        self._proc: Any = None
        self.smtp_url = self.twilio_url = ""

    def __enter__(self) -> Sinks:
        parent, child = mp.get_context("fork").Pipe()
        self._proc = mp.get_context("fork").Process(target=_serve, args=(child, self.accounts), daemon=True)
        self._proc.start()
        if not parent.poll(30):
            raise RuntimeError("the loopback sinks did not start")
        self._conn = parent
        self.smtp_url, self.twilio_url = parent.recv()
        return self

    def _ask(self, command: str) -> Any:  # noqa: ANN401
        self._conn.send(command)
        return self._conn.recv()

    def count(self) -> int:
        """Messages accepted so far, both channels."""
        return self._ask("count")

    def keys(self) -> tuple[Counter[int | None], Counter[int | None]]:
        """How many times each outbox id arrived: (e-mail, SMS)."""
        email, sms = self._ask("keys")
        return Counter(email), Counter(sms)

    def clear(self) -> None:
        self._ask("clear")

    def __exit__(self, *exc: object) -> None:
        try:
            self._ask("stop")
        finally:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.terminate()
