"""The e-mail sink's page, whose URL the demo prints: ``/`` lists what arrived over SMTP (escaped, newest
first, each linked), ``/N`` shows the N-th message's HTML as a mail client would, under a policy that fetches
nothing and runs nothing; a message without HTML shows its text, escaped; anything else is a 404."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import requests

from app.channels.email_loopback import MESSAGE_POLICY, LoopbackSmtp, SmtpInbox


def _send(sink: LoopbackSmtp, subject: str, text: str, html: str | None = None) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Mugs <hello@mugs.test>", "ann@example.com", subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", sink.controller.port) as client:
        client.send_message(message)


def test_the_inbox_lists_each_message_and_shows_it_as_the_shopper_would():
    with LoopbackSmtp() as sink, SmtpInbox(sink) as inbox:
        assert "Nothing received yet" in requests.get(inbox.url + "/", timeout=5).text
        _send(
            sink,
            "Still thinking <b>about</b> it?",
            "plain",
            "<p>Hello <b>Ann</b><img src='https://x.test/a.png'></p>",
        )
        _send(sink, "Your order", "Order <script>1</script> shipped")
        page = requests.get(inbox.url + "/", timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "2 received." in page.text and "ann@example.com" in page.text
        assert "Still thinking &lt;b&gt;about&lt;/b&gt; it?" in page.text and "<b>about" not in page.text
        assert page.text.index("Your order") < page.text.index("Still thinking")  # newest first
        assert '<a href="/1">#1</a>' in page.text and '<a href="/2">#2</a>' in page.text

        first = requests.get(inbox.url + "/1", timeout=5)
        assert first.status_code == 200 and "<p>Hello <b>Ann</b>" in first.text  # the HTML part itself
        assert (
            first.headers["Content-Security-Policy"] == MESSAGE_POLICY
            and "default-src 'none'" in MESSAGE_POLICY
        )
        second = requests.get(inbox.url + "/2", timeout=5)
        assert "<pre>Order &lt;script&gt;1&lt;/script&gt; shipped" in second.text

        for path in ("/3", "/0", "/x", "/1/2"):
            assert requests.get(inbox.url + path, timeout=5).status_code == 404
