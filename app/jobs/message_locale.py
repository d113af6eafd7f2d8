"""The locale a shopper's message is written in: the customer's own (Shopify's ``customer.locale``) when known,
else the shop's primary locale, else English (``app.channels.i18n.negotiate``: the first of these Attune has a
catalogue for). The shop's primary locale is read from Shopify (``shopLocales``) the first time it is needed
once the shop has granted ``read_locales``; without the scope, or while Shopify cannot be reached, messages fall
back to the customer's locale or English, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from sqlmodel import Session

from app.channels.copy import localize
from app.channels.i18n import negotiate
from app.config import Settings
from app.db import session_scope
from app.models.shop import Shop
from app.orchestrator.proposal import Content, Proposal
from app.shopify.admin import AdminAPIError, AdminClient
from app.shopify.scopes import READ_LOCALES, has_scope
from app.shopify.tokens import ReauthorizationRequired
from app.shopify.writes import primary_locale
from app.stores import locales

log = logging.getLogger(__name__)


def ensure_shop_locale(settings: Settings, shop_id: int) -> str | None:
    """The shop's primary locale, read from Shopify and stored the first time (None when it cannot be had)."""
    with session_scope(settings.database_url) as session:
        shop = session.get(Shop, shop_id)
        if shop is None or shop.primary_locale or not shop.is_installed or not has_scope(shop, READ_LOCALES):
            return shop.primary_locale if shop is not None else None
    try:
        found = primary_locale(AdminClient.for_shop(settings, shop_id))
    except (AdminAPIError, ReauthorizationRequired) as exc:  # ScopeDenied is one: revoked since
        log.info("shop %s: primary locale not read (%s); messages use English", shop_id, exc)
        return None
    if found:
        with session_scope(settings.database_url) as session:
            locales.save_shop_locale(session, shop_id, found)
    return found


def localized(session: Session, shop_id: int, proposals: Iterable[Proposal]) -> list[Proposal]:
    """The proposals with their words written in each shopper's locale (``app.channels.copy.localize``)."""
    proposals = list(proposals)
    customers = [p.shopper.customer_id for p in proposals if p.shopper.customer_id is not None]
    theirs = locales.customer_locales(session, shop_id, customers)
    shop = locales.shop_locale(session, shop_id)
    out = []
    for p in proposals:
        own = theirs.get(p.shopper.customer_id) if p.shopper.customer_id is not None else None
        locale = negotiate(own, shop)
        out.append(replace(p, content=Content(p.content.template, localize(p.content.data, locale))))
    return out
