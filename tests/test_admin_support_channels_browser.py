"""The embedded admin's support-channels section in headless Chromium (issue 18): a merchant connects Messenger
and Instagram, e-mail replies and a Zendesk help desk through the page, by keyboard, copies the webhook URL for
Meta, sees a rejected field's error beside it, and disconnects. The stored rows hold the secrets encrypted; the
API and the page never show them back."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from conftest import TEST_API_KEY
from fixtures_shopify import InstalledShop, LiveApp
from sqlmodel import select

from app.crypto import TokenCipher
from app.models.messaging import ChannelConfig
from tests.browser_support import BROWSER_MARKS, admin_page, chromium

pytestmark = BROWSER_MARKS

PAGE_TOKEN = "EAApage-token-secret-1"
APP_SECRET = "meta-app-secret-22"
VERIFY = "verify-me-333"
SIGNING_KEY = "key-mailgun-signing-4444"
DESK_TOKEN = "zendesk-api-token-55555"
SECRETS = (PAGE_TOKEN, APP_SECRET, VERIFY, SIGNING_KEY, DESK_TOKEN)


def _rows(session, shop_id: int) -> dict[str, ChannelConfig]:
    session.expire_all()
    rows = session.exec(select(ChannelConfig).where(ChannelConfig.shop_id == shop_id)).all()
    return {r.channel: r for r in rows}


def _saved(page, card, channel: str, status: str = "Saved") -> None:
    with page.expect_response(lambda r: f"/support/channels/{channel}" in r.url and r.status == 200):
        page.keyboard.press("Enter")
    page.locator(f'[data-support-channel="{channel}"] [data-status]', has_text=status).wait_for(timeout=5000)


def test_a_merchant_connects_and_disconnects_the_support_channels(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    responses: list[str] = []
    with chromium() as browser:
        page = admin_page(browser)
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.url)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "response",
            lambda r: responses.append(r.text()) if "/api/admin/support/channels" in r.url else None,
        )
        page.goto(landing)
        messenger = page.locator('[data-support-channel="messenger"]')
        messenger.wait_for(timeout=10_000)
        assert page.locator("#support-channels").get_attribute("aria-busy") is None
        assert "Not connected" in messenger.inner_text()
        token_label = messenger.locator("label", has_text="Page access token")
        assert "not set" in token_label.inner_text()

        # the webhook callback URL for Meta, copied with the button
        hook = messenger.get_by_label("Callback URL to paste into Meta")
        address = hook.input_value()
        assert address.endswith(f"/channels/meta/webhook?shop={installed_shop.domain}")
        messenger.get_by_role("button", name="Copy").click()
        messenger.locator("[role=status]", has_text="Copied").wait_for(timeout=5000)
        assert page.evaluate("navigator.clipboard.readText()") == address

        # a rejected field: the API's 422 is shown beside it, and the keyboard lands on it
        messenger.get_by_label("Facebook Page id").fill("not-a-number")
        messenger.get_by_label("Verify token").focus()
        with page.expect_response(lambda r: r.url.split("?")[0].endswith("/messenger") and r.status == 422):
            page.keyboard.press("Enter")
        page_id = messenger.get_by_label("Facebook Page id")
        page_id.wait_for(state="attached")
        page.wait_for_function("() => document.activeElement && document.activeElement.name === 'page_id'")
        assert page_id.get_attribute("aria-invalid") == "true"
        assert (
            "page_id must be the Page's numeric id"
            in messenger.locator('[data-error-for="page_id"]').inner_text()
        )
        assert _rows(session, installed_shop.id) == {}

        # Messenger and Instagram, typed and submitted from the keyboard only
        page.keyboard.press("Control+A")
        page.keyboard.type("1029384756")
        for value in ("17841400000000", PAGE_TOKEN, APP_SECRET, VERIFY):
            page.keyboard.press("Tab")
            page.keyboard.type(value)
        _saved(page, messenger, "messenger")
        assert page.evaluate("document.activeElement.textContent") == "Save"  # focus kept on the form
        text = messenger.inner_text()
        assert "Connected" in text and "not set" not in text
        assert messenger.get_by_label("Page access token", exact=False).input_value() == ""  # write-only

        email = page.locator('[data-support-channel="email"]')
        assert (
            email.get_by_label("Inbound route URL to give Mailgun")
            .input_value()
            .endswith(f"/channels/email/inbound?shop={installed_shop.domain}")
        )
        email.get_by_label("Inbound address").fill("help@mugs.example")
        email.get_by_label("Mailgun webhook signing key", exact=False).fill(SIGNING_KEY)
        email.get_by_label("Mailgun webhook signing key", exact=False).focus()
        _saved(page, email, "email")
        assert "Connected" in email.inner_text()

        desk = page.locator('[data-support-channel="helpdesk"]')
        desk.get_by_label("Provider").select_option("zendesk")
        desk.get_by_label("Account (the subdomain)").fill("mugs")
        desk.get_by_label("API user's e-mail").fill("agent@mugs.example")
        desk.get_by_label("API token", exact=False).fill(DESK_TOKEN)
        desk.get_by_label("API token", exact=False).focus()
        _saved(page, desk, "helpdesk")
        assert "Connected" in desk.inner_text()

        # what is stored: plain settings, secrets encrypted, none of them readable in the page or the API
        rows = _rows(session, installed_shop.id)
        assert set(rows) == {"meta", "email_in", "helpdesk"}
        assert rows["meta"].settings == {"page_id": "1029384756", "instagram_id": "17841400000000"}
        assert rows["email_in"].settings == {"address": "help@mugs.example"}
        assert rows["helpdesk"].settings == {
            "provider": "zendesk",
            "account": "mugs",
            "email": "agent@mugs.example",
        }
        cipher = TokenCipher(live_app.settings.encryption_keys)
        stored = {k: json.loads(cipher.decrypt(r.secret_enc)) for k, r in rows.items()}
        assert stored == {
            "meta": {"page_token": PAGE_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY},
            "email_in": {"signing_key": SIGNING_KEY},
            "helpdesk": {"api_token": DESK_TOKEN},
        }
        html = page.content()
        for secret in SECRETS:
            assert all(secret not in r.secret_enc for r in rows.values())
            assert secret not in html and not any(secret in r for r in responses)

        # a save that leaves the secrets empty keeps them
        desk.get_by_label("Account (the subdomain)").fill("mugs-eu")
        desk.get_by_label("Account (the subdomain)").focus()
        _saved(page, desk, "helpdesk")
        kept = _rows(session, installed_shop.id)["helpdesk"]
        assert kept.settings["account"] == "mugs-eu"
        assert json.loads(cipher.decrypt(kept.secret_enc)) == {"api_token": DESK_TOKEN}

        # disconnect Messenger by keyboard: its row and secrets are gone, the others stay
        messenger.get_by_role("button", name="Disconnect").focus()
        with page.expect_response(
            lambda r: "/support/channels/messenger" in r.url and r.request.method == "DELETE"
        ):
            page.keyboard.press("Enter")
        messenger.locator("[data-status]", has_text="Disconnected").wait_for(timeout=5000)
        assert "Not connected" in messenger.inner_text()
        assert messenger.get_by_label("Facebook Page id").input_value() == ""
        assert set(_rows(session, installed_shop.id)) == {"email_in", "helpdesk"}
    assert not errors


def test_the_section_speaks_french(live_app: LiveApp, installed_shop: InstalledShop):
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    with chromium() as browser:
        page = admin_page(browser)
        page.goto(landing)
        url = urlsplit(page.url)  # as Shopify's admin passes the merchant's language
        page.goto(urlunsplit(url._replace(query=urlencode({**dict(parse_qsl(url.query)), "locale": "fr"}))))
        email = page.locator('[data-support-channel="email"]')
        email.wait_for(timeout=10_000)
        assert page.locator("#support-channels-title").inner_text() == "Canaux d'assistance"
        assert "Non connecté" in email.inner_text()
        route = email.get_by_label("URL de la route entrante à donner à Mailgun").input_value()
        assert route.endswith(f"/channels/email/inbound?shop={installed_shop.domain}")
        email.get_by_label("Clé de signature des webhooks Mailgun", exact=False).fill("short")
        email.get_by_role("button", name="Enregistrer").click()
        email.locator('[data-error-for="signing_key"]', has_text="signing_key").wait_for(timeout=5000)
