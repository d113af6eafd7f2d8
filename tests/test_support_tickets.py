"""Support hand-offs as help-desk tickets (issue 18): the Gorgias and Zendesk adapters against their loopback
stand-ins (real HTTP servers), never a second ticket for the same hand-off (a retry after a lost answer finds the
first by its external id), the job from a storefront hand-off with the conversation, and the admin's settings
for the support channels (secrets stored encrypted, never sent back)."""

from __future__ import annotations

import pytest
from redis import Redis
from sqlmodel import Session, select

from app.channels.base import AmbiguousError, PermanentError, TransientError
from app.channels.helpdesk import GorgiasDesk, Ticket, ZendeskDesk
from app.channels.helpdesk_loopback import LoopbackHelpDesk
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import get_engine, session_scope
from app.jobs.support_tickets import open_ticket
from app.models.messaging import ChannelConfig
from app.storefront.demo_data import DEMO_CUSTOMER
from app.stores.support_channels import save_helpdesk_settings
from tests import test_support
from tests.fixtures_shopify import make_session_token
from tests.support_channels_support import DESK_TOKEN, DESK_USER
from tests.test_support import SHOP_A, ask

shops = test_support.shops  # fixtures
TICKET = Ticket("attune-1-99", "A shopper needs a person", "Shopper: where is my parcel?", "jo@example.com")


@pytest.mark.parametrize("provider", ["zendesk", "gorgias"])
def test_a_ticket_is_opened_once_even_when_the_answer_is_lost(provider):
    with LoopbackHelpDesk(provider, {"mugs": (DESK_USER, DESK_TOKEN)}) as desk:
        kind = ZendeskDesk if provider == "zendesk" else GorgiasDesk
        adapter = kind("mugs", DESK_USER, DESK_TOKEN, desk.url_template)
        ticket_id, created = adapter.open_ticket(TICKET)
        assert created and adapter.open_ticket(TICKET) == (ticket_id, False)
        other = Ticket("attune-1-100", "Another", "Shopper: hello")
        desk.drop_next_answer()  # made, but the answer never comes back
        with pytest.raises(AmbiguousError):
            adapter.open_ticket(other)
        again, created = adapter.open_ticket(other)  # the retry finds it
        assert not created and len(desk.tickets) == 2
        desk.fail_next(503)
        with pytest.raises(TransientError):
            adapter.open_ticket(Ticket("attune-1-101", "Third", "Shopper: hi"))
        with pytest.raises(PermanentError):
            kind("mugs", DESK_USER, "wrong-token-123", desk.url_template).open_ticket(TICKET)
        with pytest.raises(PermanentError):
            kind("evil.example.com/", DESK_USER, DESK_TOKEN, desk.url_template)  # an account, never a host
        made = desk.tickets[0]
        if provider == "zendesk":
            assert made["requester"]["email"] == "jo@example.com" and made["comment"]["public"] is False
        else:
            assert made["customer"]["email"] == "jo@example.com"
            assert made["messages"][0]["body_text"] == "Shopper: where is my parcel?"


def test_a_storefront_hand_off_opens_one_ticket_with_the_conversation(client, shops, jobs_env, monkeypatch):
    a, _ = shops
    with LoopbackHelpDesk("gorgias", {"mugs": (DESK_USER, DESK_TOKEN)}) as desk:
        monkeypatch.setenv("ATTUNE_GORGIAS_URL", desk.url_template)
        get_settings.cache_clear()
        handed = ask(client, "I want to return the socks", customer=DEMO_CUSTOMER).json
        assert open_ticket(a.shop_id, handed["message_id"]).startswith("skipped: ")  # no desk connected yet
        with session_scope(jobs_env.database_url) as s:
            save_helpdesk_settings(s, TokenCipher(jobs_env.encryption_keys), a.shop_id, "gorgias", "mugs",
                                   DESK_USER, DESK_TOKEN)  # fmt: skip
        assert open_ticket(a.shop_id, handed["message_id"]).startswith("opened gorgias ticket")
        assert open_ticket(a.shop_id, handed["message_id"]).startswith("already open")
        Redis.from_url(jobs_env.redis_url).flushdb()  # the job's memory gone: the desk's lookup still holds
        assert open_ticket(a.shop_id, handed["message_id"]).startswith("already open")
        (ticket,) = desk.tickets
        body = ticket["messages"][0]["body_text"]
        assert f"customer {DEMO_CUSTOMER}" in body and "Shopper: I want to return the socks" in body
        assert ticket["external_id"] == f"attune-{a.shop_id}-{handed['message_id']}"
    get_settings.cache_clear()


def test_the_admin_saves_support_channels_and_never_sends_secrets_back(client, shops, jobs_env):
    a, _ = shops
    headers = {"Authorization": f"Bearer {make_session_token(SHOP_A)}"}
    saved = client.put("/api/admin/support/channels/messenger", headers=headers,
                       json={"page_id": "1122", "page_token": "EAApage-token-123", "app_secret": "app-secret-123",
                             "verify_token": "verify-token-1"})  # fmt: skip
    assert saved.status_code == 200, saved.json
    messenger = saved.json["messenger"]
    assert messenger["ready"] and messenger["secrets_stored"] == ["app_secret", "page_token", "verify_token"]
    assert messenger["webhook_url"].endswith(f"/channels/meta/webhook?shop={SHOP_A}")
    assert "EAApage-token-123" not in saved.get_data(as_text=True)
    with Session(get_engine(jobs_env.database_url)) as s:
        row = s.exec(
            select(ChannelConfig).where(ChannelConfig.shop_id == a.shop_id, ChannelConfig.channel == "meta")
        ).one()
    assert "EAApage-token-123" not in (row.secret_enc or "")  # encrypted at rest
    kept = client.put("/api/admin/support/channels/messenger", headers=headers, json={"page_id": "1122"})
    assert kept.json["messenger"]["ready"]  # secrets left out are kept
    desk = client.put("/api/admin/support/channels/helpdesk", headers=headers,
                      json={"provider": "zendesk", "account": "mugs", "email": DESK_USER})  # fmt: skip
    assert desk.json["helpdesk"]["ready"] is False and "token" in desk.json["helpdesk"]["missing"]
    for name, body, field in (
        ("messenger", {"page_id": "abc"}, "page_id"),
        ("helpdesk", {"provider": "freshdesk"}, "provider"),
        ("helpdesk", {"provider": "zendesk", "account": "https://evil", "email": DESK_USER}, "account"),
        ("email", {"signing_key": "short"}, "signing_key"),
    ):
        bad = client.put(f"/api/admin/support/channels/{name}", headers=headers, json=body)
        assert bad.status_code == 422 and bad.json["field"] == field
    assert client.put("/api/admin/support/channels/fax", headers=headers, json={}).status_code == 404
    assert client.put("/api/admin/support/channels/email", headers=headers, data="x").status_code == 400
    assert client.get("/api/admin/support/channels").status_code == 401


def test_the_admin_disconnects_a_support_channel_of_its_own_shop_only(client, shops, jobs_env):
    a, b = shops
    cipher = TokenCipher(jobs_env.encryption_keys)
    with session_scope(jobs_env.database_url) as s:
        for shop in (a, b):
            save_helpdesk_settings(s, cipher, shop.shop_id, "zendesk", "mugs", DESK_USER, DESK_TOKEN)
    headers = {"Authorization": f"Bearer {make_session_token(SHOP_A)}"}
    gone = client.delete("/api/admin/support/channels/helpdesk?locale=fr", headers=headers)
    assert gone.status_code == 200
    assert gone.json["helpdesk"] == {
        **gone.json["helpdesk"],
        "connected": False,
        "secrets_stored": [],
        "settings": {},
    }
    assert gone.json["words"]["disconnected"] == "Déconnecté"
    assert (
        client.delete("/api/admin/support/channels/helpdesk", headers=headers).status_code == 200
    )  # idempotent
    assert client.delete("/api/admin/support/channels/fax", headers=headers).status_code == 404
    assert client.delete("/api/admin/support/channels/helpdesk").status_code == 401
    with Session(get_engine(jobs_env.database_url)) as s:
        rows = s.exec(select(ChannelConfig).where(ChannelConfig.channel == "helpdesk")).all()
    assert [r.shop_id for r in rows] == [b.shop_id]  # the other shop's desk is untouched
