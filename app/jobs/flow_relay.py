"""The outbox relay's side of the Flow channel: the ``FlowChannel`` for a row, firing through the shop's Admin
API client, with the client's failures turned into the channel errors the relay understands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from app.channels.base import AmbiguousError, OutgoingMessage, PermanentError, Sender, TransientError
from app.channels.flow import FlowChannel
from app.config import Settings
from app.jobs.outgoing import outgoing
from app.models.shop import Shop
from app.shopify.admin import AdminAPIError, AdminAuthError, AdminClient, AdminThrottledError, AdminUserError
from app.shopify.tokens import ReauthorizationRequired
from app.shopify.writes import ScopeDenied, flow_trigger_receive
from app.stores.outbox_rows import RelayRow


def firer(settings: Settings, shop_id: int) -> Callable[[str, dict[str, Any]], None]:
    """Fire a trigger of the shop through its Admin API client, the client's failures as channel errors."""

    def fire(handle: str, payload: dict[str, Any]) -> None:
        try:
            flow_trigger_receive(AdminClient.for_shop(settings, shop_id), handle, payload)
        except AdminThrottledError as exc:
            raise TransientError(f"Shopify throttled the Flow trigger: {exc}") from exc
        except (AdminUserError, ScopeDenied, AdminAuthError, ReauthorizationRequired) as exc:
            raise PermanentError(f"Shopify refused the Flow trigger: {exc}") from exc
        except AdminAPIError as exc:
            if exc.status is not None:  # 5xx still, after the client's retries: not taken
                raise TransientError(f"Shopify answered {exc.status} to the Flow trigger") from exc
            if exc.errors:
                raise PermanentError(f"Shopify refused the Flow trigger: {exc}") from exc
            raise AmbiguousError(f"the Flow trigger may or may not have reached Shopify: {exc}") from exc

    return fire


def prepare_flow(session: Session, settings: Settings, row: RelayRow) -> tuple[FlowChannel, OutgoingMessage]:
    """The Flow channel and the message for an outbox row on channel ``flow``."""
    shop = session.get(Shop, row.shop_id)
    if shop is None or not shop.is_installed:
        raise PermanentError("the shop is not installed")
    if not row.customer_shopify_id:
        raise PermanentError("a Flow trigger needs a known Shopify customer")
    message = outgoing(
        row, str(row.customer_shopify_id), Sender(shop_name=shop.domain, from_name="Attune", from_address="")
    )
    return FlowChannel(firer(settings, row.shop_id)), message
