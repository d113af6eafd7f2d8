"""Mailgun's inbound routing, as a stand-in for tests and the demo: ``MailgunRoute(key).post(url, message)``
turns a real MIME message into the multipart form a route's ``forward()`` action posts (``recipient``,
``sender``, ``from``, ``subject``, ``body-plain``, ``stripped-text``, ``message-headers`` and the signature
fields) and posts it over HTTP to the app, signed with the domain's webhook signing key, as Mailgun does.
"""

from __future__ import annotations

import json
import secrets
import time
from email.message import EmailMessage
from email.utils import parseaddr

import requests

from app.channels.inbound_mail import sign, strip_quoted


class MailgunRoute:
    def __init__(self, signing_key: str) -> None:
        self.signing_key = signing_key

    def form(
        self, message: EmailMessage, *, envelope_from: str | None = None, timestamp: int | None = None
    ) -> dict[str, str]:
        """The form Mailgun posts for ``message`` (``envelope_from``: the SMTP MAIL FROM, "" for a bounce;
        by default the From address)."""
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        stamp = int(time.time()) if timestamp is None else timestamp
        token = secrets.token_hex(25)
        sender = parseaddr(str(message["From"] or ""))[1] if envelope_from is None else envelope_from
        return {
            "recipient": parseaddr(str(message["To"] or ""))[1],
            "sender": sender,
            "from": str(message["From"] or ""),
            "subject": str(message["Subject"] or ""),
            "body-plain": text,
            "stripped-text": strip_quoted(text),
            "message-headers": json.dumps([[k, str(v)] for k, v in message.items()]),
            "timestamp": str(stamp),
            "token": token,
            "signature": sign(self.signing_key, stamp, token),
        }

    def post(self, url: str, message: EmailMessage, **kwargs: object) -> requests.Response:
        """POST the form as multipart/form-data, as Mailgun's forward does."""
        fields = {k: (None, v) for k, v in self.form(message, **kwargs).items()}  # type: ignore[arg-type]
        return requests.post(url, files=fields, timeout=10)
