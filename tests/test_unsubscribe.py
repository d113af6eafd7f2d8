"""One-click unsubscribe (RFC 8058) over HTTP: the confirmation page, the one-click POST (no login, idempotent),
tampered / expired / unknown tokens (400 page, nothing changes), and the opt-out written back to the fake
Shopify with ``customerEmailMarketingConsentUpdate`` (skipped and recorded without ``write_customers``, replayed
once it is granted; retried through throttling)."""

from __future__ import annotations

import time
from unittest import mock

import pytest
import requests
from conftest import TEST_API_SECRET, TEST_PREVIOUS_SECRET
from redis import Redis
from rq import Queue
from sqlmodel import select
from writeback_support import CUSTOMER, REQUIRED, install

from app.channels.unsubscribe import make_token
from app.db import session_scope
from app.jobs.writeback import refresh_scopes, replay_skipped, sweep_writebacks, write_back_consent
from app.models.writeback import ShopifyWriteback

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def shop(live_app, jobs_env, monkeypatch):
    return install(live_app, monkeypatch, write_customers=True)


@pytest.fixture
def unscoped(live_app, jobs_env, monkeypatch):
    return install(live_app, monkeypatch, write_customers=False)


def url(shop, token=None) -> str:
    return f"{shop.live.url}/unsubscribe/{token or make_token(TEST_API_SECRET, shop.id, CUSTOMER)}"


def writebacks(shop) -> list[ShopifyWriteback]:
    with session_scope(shop.live.settings.database_url) as s:
        return list(s.exec(select(ShopifyWriteback).where(ShopifyWriteback.shop_id == shop.id)).all())


def queued_ids(shop) -> list[str]:
    """The write-back jobs queued (the install's own jobs left out)."""
    ids = Queue("default", connection=Redis.from_url(shop.live.settings.redis_url)).job_ids
    return [i for i in ids if i.startswith("writeback-")]


def test_get_shows_a_confirmation_page_and_changes_nothing(shop):
    page = requests.get(url(shop), timeout=10)
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text and 'method="post"' in page.text
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert shop.consent().state == "SUBSCRIBED" and writebacks(shop) == []


def test_one_click_unsubscribes_at_once_and_writes_back_to_shopify(shop):
    response = requests.post(url(shop), data=ONE_CLICK, timeout=10)  # no cookies, no login: a mail client
    assert response.status_code == 200 and "no longer receive marketing e-mail" in response.text
    consent = shop.consent()
    assert consent.state == "UNSUBSCRIBED" and consent.source == "attune"
    (row,) = writebacks(shop)
    assert row.status == "pending" and row.kind == "consent_email"
    assert f"writeback-consent-{shop.id}-{CUSTOMER}" in queued_ids(shop)
    assert shop.fake_customer["defaultEmailAddress"]["marketingState"] == "SUBSCRIBED"  # not yet written

    assert write_back_consent(shop.id, CUSTOMER) == "done"
    address = shop.fake_customer["defaultEmailAddress"]
    assert address["marketingState"] == "UNSUBSCRIBED"
    topic, payload = shop.live.fake.store(shop.domain).webhooks_emitted[-1]
    assert topic == "customers_email_marketing_consent/update"
    assert (
        payload["customer_id"] == CUSTOMER and payload["email_marketing_consent"]["state"] == "unsubscribed"
    )
    (row,) = writebacks(shop)
    assert row.status == "done" and "UNSUBSCRIBED" in row.detail

    # idempotent: a second click (or a second job) changes nothing and writes nothing new
    before = shop.consent().consent_updated_at
    again = requests.post(url(shop), data=ONE_CLICK, timeout=10)
    assert again.status_code == 200 and "already unsubscribed" in again.text
    assert shop.consent().consent_updated_at == before
    assert requests.get(url(shop), timeout=10).text.count("already unsubscribed") == 1
    assert write_back_consent(shop.id, CUSTOMER) == "done"
    assert len(writebacks(shop)) == 1


def test_a_token_signed_with_the_previous_secret_still_works(shop):
    token = make_token(TEST_PREVIOUS_SECRET, shop.id, CUSTOMER)
    assert requests.post(url(shop, token), data=ONE_CLICK, timeout=10).status_code == 200
    assert shop.consent().state == "UNSUBSCRIBED"


def _expired_token(shop) -> str:
    with mock.patch("itsdangerous.timed.time.time", return_value=time.time() - 401 * 24 * 3600):
        return make_token(TEST_API_SECRET, shop.id, CUSTOMER)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda s: make_token(TEST_API_SECRET, s.id, CUSTOMER)[:-2] + "xx", id="tampered"),
        pytest.param(lambda s: make_token("another-secret" * 3, s.id, CUSTOMER), id="foreign-signature"),
        pytest.param(_expired_token, id="expired"),
        pytest.param(lambda s: make_token(TEST_API_SECRET, s.id + 999, CUSTOMER), id="unknown-shop"),
        pytest.param(lambda s: make_token(TEST_API_SECRET, s.id, CUSTOMER, "fax"), id="unknown-channel"),
        pytest.param(lambda s: "junk", id="junk"),
        pytest.param(lambda s: "a" * 5000, id="too-long"),
    ],
)
def test_bad_tokens_get_a_400_page_and_change_nothing(shop, make):
    token = make(shop)
    for response in (
        requests.get(url(shop, token), timeout=10),
        requests.post(url(shop, token), data=ONE_CLICK, timeout=10),
    ):
        assert response.status_code == 400
        assert "text/html" in response.headers["Content-Type"] and "does not work" in response.text
    assert shop.consent().state == "SUBSCRIBED" and writebacks(shop) == [] and queued_ids(shop) == []


def test_a_post_without_one_click_or_too_big_changes_nothing(shop):
    assert requests.post(url(shop), data={"List-Unsubscribe": "Maybe"}, timeout=10).status_code == 400
    assert requests.post(url(shop), timeout=10).status_code == 400
    big = requests.post(url(shop), data={**ONE_CLICK, "pad": "x" * 10_000}, timeout=10)
    assert big.status_code == 413
    assert shop.consent().state == "SUBSCRIBED" and writebacks(shop) == []


def test_write_back_retries_through_throttling(shop):
    assert requests.post(url(shop), data=ONE_CLICK, timeout=10).status_code == 200
    # a bucket that refills slowly: empty after the 429, it is still short of the mutation's cost when the retry
    # arrives (the client then waits for it to refill), however slow this machine is
    shop.live.fake.configure_bucket(shop.domain, available=0, restore_rate=2)
    shop.live.fake.force_429(shop.domain, times=1, retry_after="0.1")
    assert write_back_consent(shop.id, CUSTOMER) == "done"
    assert shop.live.fake.calls["http_429"] >= 1 and shop.live.fake.calls["throttled"] >= 1
    assert shop.fake_customer["defaultEmailAddress"]["marketingState"] == "UNSUBSCRIBED"


def test_without_write_customers_the_write_back_is_skipped_then_replayed_once_granted(unscoped):
    shop = unscoped
    assert requests.post(url(shop), data=ONE_CLICK, timeout=10).status_code == 200
    assert shop.consent().state == "UNSUBSCRIBED"  # Attune stops at once, whatever Shopify is told
    assert write_back_consent(shop.id, CUSTOMER) == "skipped"
    (row,) = writebacks(shop)
    assert row.status == "skipped" and "write_customers" in row.detail
    assert shop.fake_customer["defaultEmailAddress"]["marketingState"] == "SUBSCRIBED"
    assert shop.live.fake.store(shop.domain).webhooks_emitted == []

    # the merchant grants the optional scope in the admin; Attune re-reads its scopes and replays
    shop.live.fake.grant_scopes(shop.domain, REQUIRED + ",write_customers")
    assert "write_customers" in refresh_scopes(shop.id)
    assert "write_customers" in shop.scopes().split(",")
    assert replay_skipped(shop.id) == {"consent": 1, "metafields": 0}
    assert f"writeback-consent-{shop.id}-{CUSTOMER}" in queued_ids(shop)
    assert write_back_consent(shop.id, CUSTOMER) == "done"
    assert shop.fake_customer["defaultEmailAddress"]["marketingState"] == "UNSUBSCRIBED"


def test_a_scope_revoked_behind_our_back_is_skipped_not_an_error(shop):
    assert requests.post(url(shop), data=ONE_CLICK, timeout=10).status_code == 200
    shop.live.fake.grant_scopes(shop.domain, REQUIRED)  # Shopify now denies; Attune still thinks it may
    assert write_back_consent(shop.id, CUSTOMER) == "skipped"
    assert "denied" in writebacks(shop)[0].detail


def test_the_sweeper_queues_write_backs_whose_enqueue_was_lost(shop):
    assert requests.post(url(shop), data=ONE_CLICK, timeout=10).status_code == 200
    Redis.from_url(shop.live.settings.redis_url).flushdb()  # the enqueue after commit was lost
    from datetime import timedelta

    from app.models.base import utcnow

    assert sweep_writebacks(now=utcnow() + timedelta(seconds=5)) == 0  # not stale yet
    assert sweep_writebacks(now=utcnow() + timedelta(seconds=45)) == 1
    assert f"writeback-consent-{shop.id}-{CUSTOMER}" in queued_ids(shop)
