"""A support hand-off as a ticket in the shop's help desk, Gorgias or Zendesk, through their REST APIs with
``requests``. One interface (``HelpDesk.open_ticket``), two adapters; ``app.channels.helpdesk_loopback``
serves both APIs on 127.0.0.1 for the tests and the demo.

Idempotent, so a retried job never opens a second ticket: every ticket carries ``external_id``
(``attune-<shop>-<hand-off>``), and ``open_ticket`` first looks for a ticket with it (Zendesk
``GET /api/v2/tickets.json?external_id=``, Gorgias ``GET /api/tickets?external_id=``); Zendesk's create also
sends the ``Idempotency-Key`` header. Only when none exists is one created. Failures are sorted as every
channel's are: no connection, 429 or 5xx is ``TransientError``; another 4xx (bad credentials, refused fields) is
``PermanentError``; a timeout after the request went out is ``AmbiguousError`` (the next try's lookup finds the
ticket if it was made).

Origins come from templates in the settings (``https://{account}.zendesk.com``,
``https://{account}.gorgias.com``), never from a merchant's free text: a shop names its account, not a host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from app.channels.base import AmbiguousError, PermanentError, SendError, TransientError

ZENDESK_URL = "https://{account}.zendesk.com"
GORGIAS_URL = "https://{account}.gorgias.com"
ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Ticket:
    external_id: str  # attune-<shop>-<hand-off message>: the same hand-off, the same ticket
    subject: str
    body: str  # the conversation and its context, plain text
    requester_email: str | None = None  # the shopper's, when known
    requester_name: str | None = None
    tags: tuple[str, ...] = field(default=("attune", "handoff"))


class HelpDesk(Protocol):
    name: str

    def open_ticket(self, ticket: Ticket) -> tuple[str, bool]:
        """The ticket's id in the desk, and whether this call created it (False: it was already there)."""
        ...


def origin(template: str, account: str) -> str:
    if not ACCOUNT.match(account or ""):
        raise PermanentError(f"help desk account {account!r} is not a subdomain name")
    return template.format(account=account).rstrip("/")


def _call(method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
    try:
        response = requests.request(method, url, timeout=TIMEOUT_S, **kwargs)
    except requests.exceptions.ConnectTimeout as exc:
        raise TransientError(f"{what} unreachable: connect timed out") from exc
    except requests.exceptions.Timeout as exc:
        raise AmbiguousError(f"no answer from {what} after the request was sent: {exc}") from exc
    except requests.exceptions.ConnectionError as exc:
        if method == "GET" or "refused" in str(exc).lower() or "resolve" in str(exc).lower():
            raise TransientError(f"{what} unreachable: {exc}") from exc
        raise AmbiguousError(f"connection to {what} lost after the request was sent: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise TransientError(f"{what} request failed before it was sent: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(f"{what} answered {response.status_code}")
    if response.status_code >= 400:
        raise PermanentError(f"{what} answered {response.status_code}: {response.text[:300]}")
    return response


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise AmbiguousError(f"{what}'s answer could not be read") from exc
    if not isinstance(data, dict):
        raise AmbiguousError(f"{what}'s answer is not an object")
    return data


class ZendeskDesk:
    """Zendesk Support's Tickets API, as the API user ``email`` with an API token."""

    name = "zendesk"

    def __init__(self, account: str, email: str, api_token: str, url_template: str | None = None) -> None:
        self.base = origin(url_template or ZENDESK_URL, account) + "/api/v2"
        self.auth = (f"{email}/token", api_token)

    def find(self, external_id: str) -> str | None:
        data = _json(_call("GET", f"{self.base}/tickets.json", "Zendesk", params={"external_id": external_id},
                           auth=self.auth), "Zendesk")  # fmt: skip
        tickets = data.get("tickets") or []
        return str(tickets[0]["id"]) if tickets else None

    def open_ticket(self, ticket: Ticket) -> tuple[str, bool]:
        found = self.find(ticket.external_id)
        if found:
            return found, False
        body: dict[str, Any] = {
            "subject": ticket.subject,
            "comment": {"body": ticket.body, "public": False},  # an internal note: the shopper sees nothing
            "external_id": ticket.external_id,
            "tags": list(ticket.tags),
        }
        if ticket.requester_email:
            body["requester"] = {
                "email": ticket.requester_email,
                "name": ticket.requester_name or ticket.requester_email,
            }
        response = _call("POST", f"{self.base}/tickets.json", "Zendesk", json={"ticket": body}, auth=self.auth,
                         headers={"Idempotency-Key": ticket.external_id})  # fmt: skip
        created = (_json(response, "Zendesk").get("ticket") or {}).get("id")
        if created is None:
            raise AmbiguousError("Zendesk accepted the ticket but returned no id")
        return str(created), True


class GorgiasDesk:
    """Gorgias's REST API, as the user ``email`` with its API key (HTTP basic auth)."""

    name = "gorgias"

    def __init__(self, account: str, email: str, api_token: str, url_template: str | None = None) -> None:
        self.base = origin(url_template or GORGIAS_URL, account) + "/api"
        self.auth = (email, api_token)
        self.email = email

    def find(self, external_id: str) -> str | None:
        data = _json(_call("GET", f"{self.base}/tickets", "Gorgias", params={"external_id": external_id},
                           auth=self.auth), "Gorgias")  # fmt: skip
        found = [t for t in data.get("data") or [] if t.get("external_id") == external_id]
        return str(found[0]["id"]) if found else None

    def open_ticket(self, ticket: Ticket) -> tuple[str, bool]:
        found = self.find(ticket.external_id)
        if found:
            return found, False
        shopper = ticket.requester_email
        sender = {"email": shopper} if shopper else {"email": self.email}
        body = {
            "channel": "api",
            "via": "api",
            "subject": ticket.subject,
            "external_id": ticket.external_id,
            "tags": [{"name": t} for t in ticket.tags],
            "customer": {"email": shopper} if shopper else None,
            "messages": [
                {
                    "channel": "api",
                    "via": "api",
                    "from_agent": not shopper,  # no address: the note comes from the API user
                    "sender": sender,
                    "subject": ticket.subject,
                    "body_text": ticket.body,
                }
            ],
        }
        if body["customer"] is None:
            del body["customer"]
        response = _call("POST", f"{self.base}/tickets", "Gorgias", json=body, auth=self.auth)
        created = _json(response, "Gorgias").get("id")
        if created is None:
            raise AmbiguousError("Gorgias accepted the ticket but returned no id")
        return str(created), True


def desk_for(
    provider: str, account: str, email: str, api_token: str, templates: dict[str, str | None]
) -> HelpDesk:
    if provider == "zendesk":
        return ZendeskDesk(account, email, api_token, templates.get("zendesk"))
    if provider == "gorgias":
        return GorgiasDesk(account, email, api_token, templates.get("gorgias"))
    raise PermanentError(f"unknown help desk {provider!r}")


__all__ = ["GorgiasDesk", "HelpDesk", "SendError", "Ticket", "ZendeskDesk", "desk_for"]
