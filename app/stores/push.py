"""Web push for one shop: its VAPID key pair (made once per installation, the private key encrypted in
``channel_config``) and its shoppers' push subscriptions. A subscription is the shopper's opt-in to push (they
pressed the assistant's button and granted notifications); deleting it withdraws it. No commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import delete, func
from sqlmodel import Session, select

from app.channels.vapid import VapidKeys, generate, public_key_of
from app.crypto import TokenCipher
from app.models.base import utcnow
from app.models.messaging import ChannelConfig, PushSubscription
from app.stores.channels import ChannelNotReady

CHANNEL = "push"


def _config(session: Session, shop_id: int) -> ChannelConfig | None:
    return session.exec(
        select(ChannelConfig).where(ChannelConfig.shop_id == shop_id, ChannelConfig.channel == CHANNEL)
    ).first()


def public_key(session: Session, shop_id: int) -> str | None:
    """The shop's VAPID public key (base64url), or None before one is made."""
    row = _config(session, shop_id)
    return (row.settings or {}).get("vapid_public_key") if row is not None else None


def ensure_vapid(session: Session, cipher: TokenCipher, shop_id: int) -> str:
    """The shop's VAPID public key, making the key pair on first use (flushed; a concurrent maker's row wins
    through the unique ``(shop_id, channel)``: the caller retries its read after an ``IntegrityError``)."""
    row = _config(session, shop_id)
    if row is not None and row.secret_enc and (row.settings or {}).get("vapid_public_key"):
        return row.settings["vapid_public_key"]
    keys = generate()
    row = row or ChannelConfig(shop_id=shop_id, channel=CHANNEL)
    row.settings = {**(row.settings or {}), "vapid_public_key": keys.public_key}
    row.secret_enc = cipher.encrypt(keys.private_pem)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return keys.public_key


def vapid_keys(session: Session, cipher: TokenCipher, shop_id: int) -> VapidKeys:
    """The shop's key pair for signing (``ChannelNotReady`` when push is off or has no keys yet)."""
    row = _config(session, shop_id)
    if row is None or not row.secret_enc:
        raise ChannelNotReady("web push has no VAPID keys for this shop yet")
    if not row.enabled:
        raise ChannelNotReady("web push is turned off for this shop")
    pem = cipher.decrypt(row.secret_enc)
    return VapidKeys(private_pem=pem, public_key=public_key_of(pem))


def subscribe(
    session: Session,
    shop_id: int,
    endpoint: str,
    p256dh: str,
    auth: str,
    *,
    customer_id: int | None,
    client_id: str | None,
) -> tuple[PushSubscription, bool]:
    """Record this browser's subscription for the shopper (the customer when signed in, else the client);
    the endpoint is the browser's own secret, so a known endpoint moves to whoever presents it. Returns the
    row and whether it is new."""
    if customer_id is None and not client_id:
        raise ValueError("a signed-in customer or a client id is required")
    key = f"customer:{customer_id}" if customer_id is not None else f"client:{client_id}"
    row = session.exec(
        select(PushSubscription).where(
            PushSubscription.shop_id == shop_id, PushSubscription.endpoint == endpoint
        )
    ).first()
    created = row is None
    row = row or PushSubscription(shop_id=shop_id, endpoint=endpoint, shopper_key=key, p256dh="", auth="")
    row.shopper_key, row.customer_shopify_id, row.client_id = key, customer_id, client_id or None
    row.p256dh, row.auth, row.updated_at = p256dh, auth, utcnow()
    session.add(row)
    session.flush()
    return row, created


def unsubscribe(session: Session, shop_id: int, endpoint: str) -> bool:
    """Forget this browser's subscription; True when there was one."""
    result = session.exec(  # type: ignore[call-overload]
        delete(PushSubscription).where(
            PushSubscription.shop_id == shop_id, PushSubscription.endpoint == endpoint
        )
    )
    return result.rowcount > 0


def subscriptions_for(session: Session, shop_id: int, shopper_key: str) -> list[PushSubscription]:
    """The shopper's browsers, newest first."""
    return list(
        session.exec(
            select(PushSubscription)
            .where(PushSubscription.shop_id == shop_id, PushSubscription.shopper_key == shopper_key)
            .order_by(PushSubscription.updated_at.desc(), PushSubscription.id.desc())
        ).all()
    )


def for_test(session: Session, shop_id: int, subscription_id: int | None = None) -> PushSubscription | None:
    """The subscription a test push goes to: the one named (this shop's only), else the shop's newest."""
    query = select(PushSubscription).where(PushSubscription.shop_id == shop_id)
    if subscription_id is not None:
        query = query.where(PushSubscription.id == subscription_id)
    return session.exec(
        query.order_by(PushSubscription.updated_at.desc(), PushSubscription.id.desc()).limit(1)
    ).first()


def count(session: Session, shop_id: int) -> int:
    """How many browsers of the shop's shoppers are subscribed."""
    return int(
        session.exec(
            select(func.count()).select_from(PushSubscription).where(PushSubscription.shop_id == shop_id)
        ).one()
    )


def subscribed_keys(session: Session, shop_id: int, shopper_keys: Sequence[str]) -> set[str]:
    """Which of these shoppers have at least one push subscription (their push opt-in)."""
    if not shopper_keys:
        return set()
    return set(
        session.exec(
            select(PushSubscription.shopper_key)
            .where(
                PushSubscription.shop_id == shop_id,
                PushSubscription.shopper_key.in_(sorted(set(shopper_keys))),
            )
            .distinct()
        ).all()
    )


def forget(session: Session, shop_id: int, subscription_ids: Iterable[int]) -> int:
    """Delete subscriptions the push service says are gone (404/410)."""
    ids = sorted({int(i) for i in subscription_ids})
    if not ids:
        return 0
    result = session.exec(  # type: ignore[call-overload]
        delete(PushSubscription).where(PushSubscription.shop_id == shop_id, PushSubscription.id.in_(ids))
    )
    return result.rowcount


def vapid_subject(session: Session, shop_id: int, app_url: str) -> str:
    """Who push services may contact about this shop's messages (RFC 8292 ``sub``): the shop's e-mail
    sender when it has one, else the app's https URL."""
    email = session.exec(
        select(ChannelConfig).where(ChannelConfig.shop_id == shop_id, ChannelConfig.channel == "email")
    ).first()
    address = (email.settings or {}).get("from_address") if email is not None else None
    if isinstance(address, str) and "@" in address:
        return f"mailto:{address}"
    if app_url.startswith("https://"):
        return app_url.rstrip("/")
    host = urlsplit(app_url).hostname or "attune.invalid"
    return f"mailto:webpush@{host}"
