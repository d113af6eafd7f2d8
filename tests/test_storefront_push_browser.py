"""The assistant's web push opt-in and a signed-in shopper's thread, in headless Chromium against the real app
proxy (the local storefront signs each request as Shopify does).

Push: notification permission is granted in the Playwright context (it is asked only when the button is
pressed), the service worker is really registered from ``/apps/attune/sw.js`` with the scope
``/apps/attune/``, and the subscription is really POSTed to ``/apps/attune/push/subscribe``. Chromium's own
``PushManager.subscribe`` cannot work offline (it registers with Google's push service, FCM), so an init script
replaces ``subscribe``/``getSubscription`` with a scripted PushManager that returns a subscription made by the
loopback push service (``app.channels.push_loopback``) and records the ``applicationServerKey`` it was given.
Everything after the browser — the stored row, the relay, VAPID, encryption — is the real thing, down to the
payload decrypted by the loopback service.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from app.channels.push_loopback import LoopbackPush
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.orchestrate import submit
from app.models.base import utcnow
from app.models.messaging import ConversationMessage, OutboxMessage, PushSubscription
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper
from app.storefront.demo_data import DEMO_CUSTOMER, STOVE_CUSTOMER, seed_demo_shop
from app.storefront.local import LocalStorefront
from app.stores import push as push_store
from tests.browser_support import BROWSER_MARKS, chromium
from tests.conftest import ROOT, TEST_API_SECRET

ARTIFACTS = ROOT / "test-artifacts"
SHOP = "attune-demo.myshopify.com"

pytestmark = BROWSER_MARKS

SCRIPTED_PUSH = """
(sub => {
  const toB64 = b => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  window.__push = { subscribed: null, appKey: null };
  const make = () => ({ endpoint: sub.endpoint, toJSON: () => sub,
    unsubscribe: () => { window.__push.subscribed = null; return Promise.resolve(true); } });
  PushManager.prototype.subscribe = function (opts) {
    window.__push.appKey = toB64(opts.applicationServerKey);
    window.__push.subscribed = make();
    return Promise.resolve(window.__push.subscribed);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(window.__push.subscribed); };
})(%s);
"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(autouse=True)
def _no_holdout(monkeypatch):
    monkeypatch.setattr("app.stores.contact_policy.DEFAULT_MESSAGE_HOLDOUT", 0.0)


@pytest.fixture
def demo(jobs_env, session):
    return seed_demo_shop(session, SHOP)


def storefront(app, settings, **kw) -> LocalStorefront:
    return LocalStorefront(app, SHOP, settings.database_url, TEST_API_SECRET, **kw)


def open_assistant(page):
    page.locator(".attune-launcher").click()
    page.locator("#attune-panel").wait_for(state="visible")


def test_the_push_button_subscribes_this_browser_and_a_message_reaches_it(
    app, jobs_env, demo, browser, session
):
    with LoopbackPush() as service, storefront(app, jobs_env, customer_id=DEMO_CUSTOMER) as sf:
        sub = service.new_subscription()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["notifications"], origin=sf.url)
        context.add_init_script(SCRIPTED_PUSH % json.dumps(sub))
        page = context.new_page()
        try:
            page.goto(sf.url + "/")
            assert page.evaluate("Notification.permission") == "granted"
            open_assistant(page)
            section = page.locator(".attune-push[data-state=off]")
            section.wait_for(timeout=5000)
            assert not sf_posted(sf, "/push/subscribe")
            page.locator(".attune-push-on").click()
            page.locator(".attune-push[data-state=on]").wait_for(timeout=10000)
            assert "Notifications are on" in page.locator(".attune-push-note").inner_text()
            scope = page.evaluate(
                "navigator.serviceWorker.getRegistration('/apps/attune/').then(r => r && r.scope)"
            )
            assert scope == sf.url + "/apps/attune/"
            session.expire_all()
            (row,) = session.exec(select(PushSubscription)).all()
            assert (row.shopper_key, row.endpoint, row.p256dh) == (
                f"customer:{DEMO_CUSTOMER}",
                sub["endpoint"],
                sub["keys"]["p256dh"],
            )
            assert page.evaluate("window.__push.appKey") == push_store.public_key(session, demo.shop_id)
            page.locator("#attune-panel").screenshot(path=str(ARTIFACTS / "assistant-push.png"))

            now = utcnow()
            proposal = Proposal(
                agent="browse_abandonment",
                shop_id=demo.shop_id,
                shopper=Shopper(customer_id=DEMO_CUSTOMER),
                purpose=Purpose.TRANSACTIONAL,
                content=Content("message", {"subject": "Your boots shipped"}),
                channels=("push",),
                earliest=now,
                latest=now + timedelta(hours=1),
                dedupe_key="ship:1",
                reason="order shipped",
            )
            with session_scope(jobs_env.database_url) as s:
                submit(s, demo.shop_id, [proposal], now=now)
            with session_scope(jobs_env.database_url) as s:
                outbox_id = s.exec(select(OutboxMessage.id)).one()
            assert relay.relay_message(outbox_id, now=now) == "sent"
            assert service.received[0].json()["title"] == "Your boots shipped"

            page.locator(".attune-push-off").click()
            page.locator(".attune-push[data-state=off]").wait_for(timeout=5000)
            session.expire_all()
            assert session.exec(select(PushSubscription)).all() == []
        finally:
            context.close()


def sf_posted(sf: LocalStorefront, path: str) -> bool:
    return any(p.startswith("/apps/attune" + path) for p in sf.proxied)


def test_permission_is_not_asked_before_the_click_and_a_refusal_is_explained(
    app, jobs_env, demo, browser, session
):
    with storefront(app, jobs_env) as sf:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            page.goto(sf.url + "/")
            open_assistant(page)
            page.locator(".attune-push[data-state=off]").wait_for(timeout=5000)
            assert page.evaluate("Notification.permission") == "default"  # nothing asked on load or open
            page.evaluate("Notification.requestPermission = () => Promise.resolve('denied')")
            page.locator(".attune-push-on").click()
            note = page.locator(".attune-push-note")
            page.wait_for_function("() => document.querySelector('.attune-push-note').textContent.length > 0")
            assert "could not be turned on" in note.inner_text()
            assert not sf_posted(sf, "/push/") and session.exec(select(PushSubscription)).all() == []
        finally:
            context.close()


def test_the_assistant_shows_a_signed_in_shoppers_own_recent_messages(app, jobs_env, demo, browser, session):
    now = utcnow()
    out = dict(shop_id=demo.shop_id, direction="out", agent="browse_abandonment", reason="r", status="sent")
    session.add_all(
        [
            ConversationMessage(
                **out,
                shopper_key=f"customer:{DEMO_CUSTOMER}",
                customer_shopify_id=DEMO_CUSTOMER,
                channel="email",
                summary="Your boots are back",
                created_at=now - timedelta(days=1),
            ),
            ConversationMessage(
                **out,
                shopper_key=f"customer:{DEMO_CUSTOMER}",
                customer_shopify_id=DEMO_CUSTOMER,
                channel="push",
                summary="Socks restocked",
                created_at=now,
            ),
            ConversationMessage(
                **out,
                shopper_key=f"customer:{STOVE_CUSTOMER}",
                customer_shopify_id=STOVE_CUSTOMER,
                channel="email",
                summary="Stove fuel reminder",
                created_at=now,
            ),
        ]
    )
    session.commit()
    with storefront(app, jobs_env, customer_id=DEMO_CUSTOMER) as sf:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            page.goto(sf.url + "/")
            open_assistant(page)
            thread = page.locator(".attune-thread:not([hidden])")
            thread.wait_for(timeout=5000)
            items = thread.locator("li span").all_inner_texts()
            assert items == [
                "We sent you a notification about \u201cSocks restocked\u201d",
                "We emailed you about \u201cYour boots are back\u201d",
            ]
            thread.screenshot(path=str(ARTIFACTS / "assistant-thread.png"))
            # browsing anonymously: no thread, and it is never asked for
            page.goto(sf.url + "/?as=anonymous")
            open_assistant(page)
            page.locator(".attune-push[data-state]").wait_for(timeout=5000)
            assert page.locator(".attune-thread").count() == 0
            proxied_as_anonymous = [p for p in sf.proxied if p.startswith("/apps/attune/messages")]
            assert len(proxied_as_anonymous) == 1  # only the signed-in visit asked
        finally:
            context.close()
