"""Signed one-click unsubscribe tokens (RFC 8058): the shop, the customer and the channel, signed with the
app's secret. The URL needs no login; a tampered or expired token is refused."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "attune-unsubscribe"
MAX_AGE_S = 400 * 24 * 3600  # a year's old e-mail still unsubscribes


@dataclass(frozen=True)
class Unsubscribe:
    shop_id: int
    customer_id: int  # 0 for a guest or someone known only by the address they gave (a back-in-stock request)
    channel: str
    address: str | None = None
    guest: str | None = None  # a guest checkout's client id (``guest:<hash>``) instead of a customer


class BadToken(ValueError):
    """The token was tampered with, expired, or is not one of ours."""


def make_token(
    secret: str, shop_id: int, customer_id: int, channel: str = "email", address: str | None = None
) -> str:
    data: dict[str, object] = {"s": shop_id, "c": customer_id, "ch": channel}
    if address:
        data["a"] = address
    return URLSafeTimedSerializer(secret, salt=SALT).dumps(data)


def make_guest_token(secret: str, shop_id: int, guest: str, channel: str = "email") -> str:
    """A guest's token: the shop, the guest's key (no address) and the channel."""
    return URLSafeTimedSerializer(secret, salt=SALT).dumps({"s": shop_id, "c": 0, "g": guest, "ch": channel})


def read_token(secret: str | list[str], token: str, max_age_s: int = MAX_AGE_S) -> Unsubscribe:
    """The unsubscribe a token stands for (``secret`` may list the previous secret during a rotation)."""
    try:
        data = URLSafeTimedSerializer(secret, salt=SALT).loads(token, max_age=max_age_s)
        address = data.get("a")
        guest = data.get("g")
        if guest is not None and (not isinstance(guest, str) or not 0 < len(guest) <= 64):
            raise ValueError("bad guest key")
        return Unsubscribe(
            int(data["s"]), int(data["c"]), str(data["ch"]), str(address) if address else None, guest
        )
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise BadToken("this unsubscribe link is not valid or has expired") from exc


def unsubscribe_url(app_url: str, token: str) -> str:
    return f"{app_url.rstrip('/')}/unsubscribe/{token}"
