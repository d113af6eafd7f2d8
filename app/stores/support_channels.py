"""The support agent's other channels, per shop: the Facebook Page (and linked Instagram account) it answers
for, the signed inbound e-mail webhook, and the help desk (Gorgias or Zendesk) a hand-off opens a ticket in.
Each is a ``ChannelConfig`` row: plain ``settings`` and the secrets Fernet-encrypted together in ``secret_enc``
(``app.crypto``), never shown again in full. And the shopper's turns on those channels in their one thread
(``ConversationMessage``). No commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.crypto import TokenCipher
from app.models.base import utcnow
from app.models.commerce import Customer
from app.models.messaging import ChannelConfig, ConversationMessage
from app.models.shop import Shop
from app.stores.channels import ChannelNotReady

META, MAIL_IN, HELPDESK = "meta", "email_in", "helpdesk"
DESKS = ("gorgias", "zendesk")


@dataclass(frozen=True)
class MetaSetup:
    shop_id: int
    page_id: str
    instagram_id: str | None
    page_token: str
    app_secret: str
    verify_token: str

    def owns(self, account_id: str) -> bool:
        """Whether a webhook entry for ``account_id`` (a Page or Instagram account) is this shop's."""
        return account_id in (self.page_id, self.instagram_id)


@dataclass(frozen=True)
class HelpdeskSetup:
    shop_id: int
    provider: str  # gorgias | zendesk
    account: str  # the Zendesk subdomain or the Gorgias domain (acme for acme.zendesk.com)
    email: str  # the API user
    api_token: str


def _row(session: Session, shop_id: int, channel: str) -> ChannelConfig | None:
    return session.exec(
        select(ChannelConfig).where(ChannelConfig.shop_id == shop_id, ChannelConfig.channel == channel)
    ).first()


def _save(
    session: Session, cipher: TokenCipher, shop_id: int, channel: str, settings: dict[str, Any],
    secrets: dict[str, str] | None,
) -> ChannelConfig:  # fmt: skip
    row = _row(session, shop_id, channel) or ChannelConfig(shop_id=shop_id, channel=channel)
    row.settings = {k: str(v).strip() for k, v in settings.items() if v not in (None, "")}
    if secrets is not None:  # None keeps the stored ones
        old = _secrets(cipher, row)
        merged = {**old, **{k: v for k, v in secrets.items() if v}}
        row.secret_enc = cipher.encrypt(json.dumps(merged)) if merged else None
    row.enabled = True
    row.updated_at = utcnow()
    session.add(row)
    return row


def _secrets(cipher: TokenCipher, row: ChannelConfig | None) -> dict[str, str]:
    if row is None or not row.secret_enc:
        return {}
    value = json.loads(cipher.decrypt(row.secret_enc))
    return value if isinstance(value, dict) else {}


def save_meta_settings(
    session: Session, cipher: TokenCipher, shop_id: int, page_id: str, instagram_id: str | None,
    secrets: dict[str, str] | None = None,
) -> ChannelConfig:  # fmt: skip
    """Connect a Facebook Page (and its Instagram account): ``secrets`` holds ``page_token``, ``app_secret``
    and ``verify_token``; one left out keeps the stored one."""
    return _save(session, cipher, shop_id, META, {"page_id": page_id, "instagram_id": instagram_id}, secrets)


def meta_setup(session: Session, cipher: TokenCipher, shop_id: int) -> MetaSetup:
    row = _row(session, shop_id, META)
    if row is None or not row.enabled:
        raise ChannelNotReady("Messenger is not connected for this shop")
    s, secret = row.settings or {}, _secrets(cipher, row)
    if not s.get("page_id") or not all(secret.get(k) for k in ("page_token", "app_secret", "verify_token")):
        raise ChannelNotReady(
            "Messenger needs the Page id, its access token, the app secret and a verify token"
        )
    return MetaSetup(shop_id, s["page_id"], s.get("instagram_id"), secret["page_token"],
                     secret["app_secret"], secret["verify_token"])  # fmt: skip


def save_mail_in_settings(
    session: Session, cipher: TokenCipher, shop_id: int, address: str | None, signing_key: str | None = None
) -> ChannelConfig:
    """The inbound e-mail webhook: the support address mail arrives at, and the provider's signing key."""
    secrets = {"signing_key": signing_key} if signing_key else None
    return _save(session, cipher, shop_id, MAIL_IN, {"address": address}, secrets)


def mail_in_key(session: Session, cipher: TokenCipher, shop_id: int) -> str:
    key = _secrets(cipher, _row(session, shop_id, MAIL_IN)).get("signing_key")
    if not key:
        raise ChannelNotReady("inbound e-mail has no signing key")
    return key


def save_helpdesk_settings(
    session: Session, cipher: TokenCipher, shop_id: int, provider: str, account: str, email: str,
    api_token: str | None = None,
) -> ChannelConfig:  # fmt: skip
    if provider not in DESKS:
        raise ValueError(f"the help desk is one of {', '.join(DESKS)}")
    secrets = {"api_token": api_token} if api_token else None
    return _save(session, cipher, shop_id, HELPDESK, {"provider": provider, "account": account, "email": email},
                 secrets)  # fmt: skip


def helpdesk_setup(session: Session, cipher: TokenCipher, shop_id: int) -> HelpdeskSetup:
    row = _row(session, shop_id, HELPDESK)
    if row is None or not row.enabled:
        raise ChannelNotReady("no help desk is connected")
    s, token = row.settings or {}, _secrets(cipher, row).get("api_token")
    if s.get("provider") not in DESKS or not s.get("account") or not s.get("email") or not token:
        raise ChannelNotReady("the help desk needs its provider, account, API user and token")
    return HelpdeskSetup(shop_id, s["provider"], s["account"], s["email"], token)


def shop_id_for_domain(session: Session, domain: str) -> int | None:
    return session.exec(select(Shop.id).where(Shop.domain == domain)).first()


def customer_by_email(session: Session, shop_id: int, email: str) -> int | None:
    """The Shopify id of the shop's (not deleted) customer with this e-mail address, or None."""
    return session.exec(
        select(Customer.shopify_id).where(
            Customer.shop_id == shop_id,
            func.lower(Customer.email) == email.lower(),
            Customer.deleted_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()


def customer_email(session: Session, shop_id: int, customer_id: int) -> str | None:
    return session.exec(
        select(Customer.email).where(Customer.shop_id == shop_id, Customer.shopify_id == customer_id)
    ).first()


def seen(session: Session, shop_id: int, channel: str, provider_id: str) -> bool:
    """A provider retries a webhook it did not get a 2xx for: a message already recorded is not again."""
    return (
        session.exec(
            select(ConversationMessage.id).where(
                ConversationMessage.shop_id == shop_id,
                ConversationMessage.channel == channel,
                ConversationMessage.direction == "in",
                ConversationMessage.provider_id == provider_id,
            )
        ).first()
        is not None
    )


def record_answer(
    session: Session, shop_id: int, shopper_key: str, channel: str, text: str, *, customer_id: int | None,
    reason: str, status: str, provider_id: str | None = None, client_id: str | None = None,
) -> ConversationMessage:  # fmt: skip
    """The support agent's answer on ``channel``, in the shopper's thread (sent, or failed with the reason)."""
    entry = ConversationMessage(
        shop_id=shop_id, shopper_key=shopper_key, customer_shopify_id=customer_id, client_id=client_id,
        direction="out", agent="support", channel=channel, reason=reason, summary=text[:512], status=status,
        provider_id=provider_id,
    )  # fmt: skip
    session.add(entry)
    return entry


def answers_since(session: Session, shop_id: int, shopper_key: str, channel: str, since: datetime) -> int:
    """How many answers the agent sent this shopper on ``channel`` since ``since`` (a loop guard)."""
    return session.exec(
        select(func.count())
        .select_from(ConversationMessage)
        .where(
            ConversationMessage.shop_id == shop_id,
            ConversationMessage.shopper_key == shopper_key,
            ConversationMessage.channel == channel,
            ConversationMessage.direction == "out",
            ConversationMessage.agent == "support",
            ConversationMessage.created_at > since,
        )
    ).one()


def own_addresses(session: Session, shop_id: int) -> tuple[str, ...]:
    """The shop's own addresses (sender, reply-to, support inbox): mail from them is never answered (a loop)."""
    rows = session.exec(
        select(ChannelConfig.settings).where(
            ChannelConfig.shop_id == shop_id,
            ChannelConfig.channel.in_(("email", MAIL_IN)),  # type: ignore[attr-defined]
        )
    ).all()
    found = [s.get(k) for s in rows if s for k in ("from_address", "reply_to", "address")]
    return tuple(a for a in found if a)


CHANNEL_NAMES = {"messenger": META, "email": MAIL_IN, "helpdesk": HELPDESK}  # the admin's names


def disconnect(session: Session, shop_id: int, name: str) -> bool:
    """Forget one support channel of this shop, its settings and secrets with it; False when none was stored."""
    row = _row(session, shop_id, CHANNEL_NAMES[name])
    if row is None:
        return False
    session.delete(row)
    return True


def _ready(check: Any) -> str | None:
    try:
        check()
        return None
    except ValueError as exc:  # ChannelNotReady, or a secret the configured keys cannot read
        return str(exc)


def view(session: Session, cipher: TokenCipher, shop_id: int, app_url: str, domain: str) -> dict[str, Any]:
    """What the admin shows of the support channels: plain settings, which secrets are stored (never their
    values), the webhook URLs to give Meta and the mail provider, and whether each is ready or what is missing."""
    out: dict[str, Any] = {}
    for name, channel, check, hook in (
        ("messenger", META, lambda: meta_setup(session, cipher, shop_id), "/channels/meta/webhook"),
        ("email", MAIL_IN, lambda: mail_in_key(session, cipher, shop_id), "/channels/email/inbound"),
        ("helpdesk", HELPDESK, lambda: helpdesk_setup(session, cipher, shop_id), None),
    ):
        row = _row(session, shop_id, channel)
        try:
            stored = sorted(_secrets(cipher, row))
        except ValueError:
            stored = []
        missing = _ready(check)
        out[name] = {
            "connected": row is not None and bool(row.enabled),
            "settings": dict(row.settings or {}) if row else {},
            "secrets_stored": stored,
            "ready": missing is None,
            "missing": missing,
            "webhook_url": f"{app_url}{hook}?shop={domain}" if hook else None,
        }
    return out
