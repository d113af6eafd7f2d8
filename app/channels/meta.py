"""Messenger and Instagram direct messages through Meta's Graph API Send API, with ``requests``.

One ``POST /{version}/{page_id}/messages`` per message, the page access token as ``access_token`` (the Messenger
Platform's Instagram messaging goes through the same Page endpoint). A reply to the shopper's own message goes
inside the 24-hour window as ``messaging_type: RESPONSE``; a person's reply after a hand-off may come later, up
to seven days, as ``MESSAGE_TAG`` with the ``HUMAN_AGENT`` tag. Failures are sorted as every channel's are:

- no connection, HTTP 5xx, Graph error codes 1, 2, 4, 17, 32, 613 (unknown, service, rate limits):
  ``TransientError``;
- any other error (190 bad token, 10/2018278 outside the window, 551 person unavailable, 100 bad parameter):
  ``PermanentError``;
- a timeout or a dropped connection after the request went out: ``AmbiguousError``.

``graph_url`` points at another origin (the loopback stand-in, ``app.channels.meta_loopback``).
"""

from __future__ import annotations

import requests

from app.channels.base import Accepted, AmbiguousError, PermanentError, SendError, TransientError

GRAPH_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v21.0"
MAX_TEXT = 2000  # characters of one message's text (Messenger's limit)
TIMEOUT_S = 15.0
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613})
HUMAN_AGENT = "HUMAN_AGENT"


def _graph_error(response: requests.Response) -> SendError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code, sub = error.get("code"), error.get("error_subcode")
    reason = (
        f"Graph API answered {response.status_code} (code {code}/{sub}): {error.get('message', '')}".strip()
    )
    if response.status_code >= 500 or response.status_code == 429 or code in TRANSIENT_CODES:
        return TransientError(reason)
    return PermanentError(reason)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """The text in pieces of at most ``limit`` characters, cut at a space where one is near."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut].strip())
        text = text[cut:].strip()
    return [*parts, text] if text else parts


class MetaChannel:
    """Sends text messages from one Facebook Page (and the Instagram account linked to it)."""

    name = "messenger"

    def __init__(
        self,
        page_id: str,
        page_token: str,
        *,
        graph_url: str | None = None,
        version: str = GRAPH_VERSION,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        if not page_id or not page_token:
            raise ValueError("the Send API needs the Page id and its access token")
        self.page_id = page_id
        self.page_token = page_token
        self.url = f"{(graph_url or GRAPH_URL).rstrip('/')}/{version}/{page_id}/messages"
        self.timeout_s = timeout_s

    def send_text(self, recipient_id: str, text: str, *, tag: str | None = None) -> Accepted:
        """Send ``text`` (in pieces of MAX_TEXT) to the person ``recipient_id`` (their page-scoped id); the last
        piece's message id is the provider's id. ``tag``: ``HUMAN_AGENT`` for a person's reply after the
        24-hour window, else a reply inside it."""
        parts = split_text(text)
        if not parts:
            raise PermanentError("the message has no text")
        if not recipient_id or not recipient_id.isdigit():
            raise PermanentError(f"recipient refused: {recipient_id!r} is no page-scoped id")
        accepted: Accepted | None = None
        for part in parts:
            body: dict[str, object] = {"recipient": {"id": recipient_id}, "message": {"text": part}}
            body.update(
                {"messaging_type": "MESSAGE_TAG", "tag": tag} if tag else {"messaging_type": "RESPONSE"}
            )
            accepted = self._post(body)
        assert accepted is not None
        return accepted

    def _post(self, body: dict[str, object]) -> Accepted:
        try:
            response = requests.post(
                self.url, params={"access_token": self.page_token}, json=body, timeout=self.timeout_s
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError(f"Graph API unreachable: connect timed out ({exc})") from exc
        except requests.exceptions.Timeout as exc:
            raise AmbiguousError(f"no answer from the Graph API after the request was sent: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            if "refused" in str(exc).lower() or "resolve" in str(exc).lower():
                raise TransientError(f"Graph API unreachable: {exc}") from exc
            raise AmbiguousError(
                f"connection to the Graph API lost after the request was sent: {exc}"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise TransientError(f"Graph API request failed before it was sent: {exc}") from exc
        if response.status_code != 200:
            raise _graph_error(response)
        try:
            message_id = response.json().get("message_id")
        except ValueError as exc:
            raise AmbiguousError(f"the Graph API's answer could not be read: {exc}") from exc
        if not message_id:
            raise AmbiguousError("the Graph API accepted the request but returned no message id")
        return Accepted(provider_id=str(message_id))
