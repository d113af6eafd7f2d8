"""Every RQ job by name, and the helpers that queue them (after the caller's commit, deduplicated by job id).

Ingress (webhook routes, the pixel, the admin API, the app proxy) queues jobs without importing job code: a
web process stays lean and a request can never call a job function. Jobs queue their follow-ups through the
same helpers. The names below are the whole route from an event to the work it causes;
``tests/test_tasks.py`` resolves each to its function, and no other module spells a job's dotted name. It is
longer than about 400 lines on purpose: one list of every job and its queueing helper is the point of it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable

from redis.exceptions import RedisError
from sqlmodel import Session

from app.config import Settings, get_settings
from app.db import after_commit
from app.queue import enqueue, get_redis

log = logging.getLogger(__name__)

# --- the jobs -----------------------------------------------------------------------------------
PROCESS_INBOX_BATCH = "webhooks.inbox_jobs.process_inbox_batch"  # queued by webhooks.inbox_queue
SWEEP_INBOX = "webhooks.inbox_jobs.sweep_inbox"
INITIAL_SYNC = "app.jobs.sync.initial_sync"
SYNC_SHOP = "app.jobs.sync.sync_shop"
RECONCILE_SHOP = "app.jobs.sync.reconcile_shop"
RECONCILE_ALL_SHOPS = "app.jobs.sync.reconcile_all_shops"
CONNECT_WEB_PIXEL = "app.jobs.install.connect_web_pixel"
FOLD_PIXEL_EVENTS = "app.jobs.profiles.process_pixel_batch"
SWEEP_PIXEL_EVENTS = "app.jobs.profiles.sweep_pixel_events"
REFRESH_PROFILE = "app.jobs.profiles.refresh_profile"
REFRESH_CUSTOMERS = "app.jobs.customer_refresh.refresh_customers"  # queued by customer_changed
FIT_SHOP_MODELS = "app.jobs.shop_models.fit_shop_models"
FIT_ALL_SHOPS = "app.jobs.shop_models.fit_all_shops"
RESCORE_SHOP = "app.jobs.shop_models.rescore_shop"
EMBED_PRODUCTS = "app.jobs.catalog.embed_shop_products"
INFER_INTERESTS = "app.jobs.interests.infer_for_shop"
INFER_ALL_INTERESTS = "app.jobs.interests.infer_all_shops"
FORECAST_REPLENISHMENT = "app.jobs.replenishment.forecast_shop"
FORECAST_ALL_REPLENISHMENT = "app.jobs.replenishment.forecast_all_shops"
RUN_REPLENISHMENT = "app.jobs.replenishment.run_replenishment"
FORECAST_INVENTORY = "app.jobs.inventory.forecast_shop"
FORECAST_ALL_INVENTORY = "app.jobs.inventory.forecast_all_shops"
NOTIFY_BACK_IN_STOCK = "app.jobs.back_in_stock.notify_back_in_stock"
SWEEP_BACK_IN_STOCK = "app.jobs.back_in_stock.sweep_back_in_stock"
SEND_INVENTORY_ALERTS = "app.jobs.inventory_alerts.send_alerts"
REFRESH_SHOP_LISTS = "app.jobs.recommendations.refresh_for_shop"
REFRESH_CUSTOMER_LISTS = "app.jobs.recommendations.refresh_for_customer"
REFRESH_PERSONAL_LISTS = "app.jobs.recommendations.refresh_personal_lists"
TRAIN_RANKER = "app.jobs.ranker.train_ranker"
TRAIN_ALL_RANKERS = "app.jobs.ranker.train_all_rankers"
FLUSH_SERVED_LOG = "app.jobs.served_log.flush_served_log"
IMPORT_REVIEWS = "app.jobs.reviews.run_review_import"
REFRESH_REVIEWERS = "app.jobs.reviews.refresh_reviewers"
RELAY_DUE = "app.jobs.outbox.relay_due"
SWEEP_OUTBOX = "app.jobs.outbox.sweep_outbox"
RUN_BROWSE_ABANDONMENT = "app.jobs.browse_abandonment.run_browse_abandonment"
RUN_ALL_BROWSE_ABANDONMENT = "app.jobs.browse_abandonment.run_all_browse_abandonment"
RUN_JOURNEY = "app.jobs.journey.journey_for_shop"
RUN_ALL_JOURNEYS = "app.jobs.journey.run_all_journeys"
SEND_CAMPAIGN = "app.jobs.campaign.send_campaign"
CONTINUE_CAMPAIGNS = "app.jobs.campaign.continue_campaigns"
RUN_RESCUE = "app.jobs.rescue.run_rescue"
RUN_ALL_RESCUE = "app.jobs.rescue.run_all_rescue"
RUN_LATE_ORDERS = "app.jobs.late_orders.run_late_orders"
SEND_HANDOFF = "app.jobs.handoff_mail.send_handoff"
OPEN_HANDOFF_TICKET = "app.jobs.support_tickets.open_ticket"
ANSWER_META_MESSAGE = "app.jobs.support_channels.answer_meta_message"
ANSWER_EMAIL = "app.jobs.support_channels.answer_email"
ANSWER_SMS = "app.jobs.support_channels.answer_sms"
SEND_HUMAN_REPLY = "app.jobs.support_channels.send_human_reply"
RUN_ALL_LATE_ORDERS = "app.jobs.late_orders.run_all_late_orders"
FIT_NUDGE_RISK = "app.jobs.nudge.fit_nudge_risk"
FIT_ALL_NUDGE_RISK = "app.jobs.nudge.fit_all_nudge_risk"
PERSIST_LIVE_SESSIONS = "app.jobs.nudge.persist_live_sessions"
SEND_WEEKLY_DIGEST = "app.jobs.digest.send_weekly_digest"
SEND_ALL_DIGESTS = "app.jobs.digest.send_all_digests"
APPLY_PRICE_CHANGE = "app.jobs.prices.apply_price_change"
REFRESH_COMPETITOR_FEED = "app.jobs.competitors.refresh_competitor_feed"
REFRESH_ALL_COMPETITOR_FEEDS = "app.jobs.competitors.refresh_all_competitor_feeds"
MATCH_COMPETITORS = "app.jobs.competitors.match_competitors"
SETTLE_ALL_OFFERS = "app.jobs.pricing.settle_all"
DELIVER_NUDGE_OFFER = "app.jobs.nudge_offer.deliver_nudge_offer"
SWEEP_NUDGE_OFFERS = "app.jobs.nudge_offer.sweep_nudge_offers"
WRITE_BACK_SMS_CONSENT = "app.jobs.sms.write_back_sms_consent"
WRITE_BACK_CONSENT = "app.jobs.writeback.write_back_consent"
SWEEP_WRITEBACKS = "app.jobs.writeback.sweep_writebacks"
REPLAY_WRITEBACKS = "app.jobs.writeback.replay_skipped"
REFRESH_SCOPES = "app.jobs.writeback.refresh_scopes"
SYNC_METAFIELDS = "app.jobs.metafields.sync_metafields"
SYNC_ALL_METAFIELDS = "app.jobs.metafields.sync_all_metafields"
SEND_TEST_MESSAGE = "app.jobs.channel_test.send_test_message"
SYNC_LOCAL_KNOWLEDGE = "app.jobs.knowledge.sync_local_knowledge"
SYNC_SHOP_KNOWLEDGE = "app.jobs.knowledge.sync_shop_knowledge"
SYNC_ALL_KNOWLEDGE = "app.jobs.knowledge.sync_all_knowledge"

PIXEL_QUEUED_TTL_S = 60


def job_modules() -> list[str]:
    """The modules holding the jobs named above, which a worker imports before its first job."""
    names = [v for k, v in globals().items() if k.isupper() and isinstance(v, str)]
    return sorted({n.rsplit(".", 1)[0] for n in names if n.startswith(("app.jobs.", "webhooks.inbox_jobs."))})


# --- job ids (one queued job per id: RQ drops a second enqueue while the first waits) ----------------
def shop_lists_job_id(shop_id: int) -> str:
    return f"recs-shop-{shop_id}"


def shared_lists_job_id(shop_id: int) -> str:
    return f"recs-shared-{shop_id}"


def personal_lists_job_id(shop_id: int) -> str:
    return f"recs-personal-{shop_id}"


def embed_job_id(shop_id: int) -> str:
    return f"embed-shop-{shop_id}"


def interests_job_id(shop_id: int) -> str:
    return f"interests-shop-{shop_id}"


def fit_job_id(shop_id: int) -> str:
    return f"fit-shop-{shop_id}"


def ranker_job_id(shop_id: int) -> str:
    return f"ranker-shop-{shop_id}"


def relay_job_id(shop_id: int, channel: str) -> str:
    return f"outbox-{shop_id}-{channel}"


# --- queueing now ---------------------------------------------------------------------------------
def refresh_shop_lists(redis_url: str | None, shop_id: int, *, personal: bool = True) -> bool:
    """Every list of the shop; without ``personal`` only the lists every shopper shares (product pages,
    placements), for a change that cannot move a customer's personal lists (new product vectors)."""
    if not personal:
        return enqueue(
            redis_url,
            REFRESH_SHOP_LISTS,
            shop_id,
            queue="low",
            job_id=shared_lists_job_id(shop_id),
            personal=False,
        )
    return enqueue(redis_url, REFRESH_SHOP_LISTS, shop_id, queue="low", job_id=shop_lists_job_id(shop_id))


def refresh_personal_lists(redis_url: str | None, shop_id: int) -> bool:
    """Every customer's personal lists of the shop (after its ranker was trained); one queued per shop, at the
    front of the low queue: what shoppers see goes before the slow work a sync queued (knowledge, vectors)."""
    return enqueue(
        redis_url,
        REFRESH_PERSONAL_LISTS,
        shop_id,
        queue="low",
        job_id=personal_lists_job_id(shop_id),
        at_front=True,
    )


def embed_products(redis_url: str | None, shop_id: int) -> bool:
    return enqueue(redis_url, EMBED_PRODUCTS, shop_id, queue="low", job_id=embed_job_id(shop_id))


def sync_knowledge(redis_url: str | None, shop_id: int, *, full: bool = False) -> bool:
    """The shop's support knowledge: ``full`` also re-reads its policies and pages from Shopify."""
    if full:
        return enqueue(
            redis_url, SYNC_SHOP_KNOWLEDGE, shop_id, queue="low", job_id=f"knowledge-full-{shop_id}"
        )
    return enqueue(redis_url, SYNC_LOCAL_KNOWLEDGE, shop_id, queue="low", job_id=f"knowledge-{shop_id}")


def knowledge_changed(session: Session, shop_id: int) -> None:
    """The shop's FAQ or reviews changed: re-sync its local knowledge once the change commits."""
    redis_url = get_settings().redis_url
    after_commit(session, lambda: sync_knowledge(redis_url, shop_id))


def infer_interests(redis_url: str | None, shop_id: int) -> bool:
    return enqueue(redis_url, INFER_INTERESTS, shop_id, queue="low", job_id=interests_job_id(shop_id))


def replenishment_job_id(shop_id: int) -> str:
    return f"replenishment-shop-{shop_id}"


def forecast_replenishment(redis_url: str | None, shop_id: int) -> bool:
    """The shop's replenishment forecasts (nightly); one queued per shop."""
    return enqueue(
        redis_url, FORECAST_REPLENISHMENT, shop_id, queue="low", job_id=replenishment_job_id(shop_id)
    )


def forecast_inventory(redis_url: str | None, shop_id: int) -> bool:
    """The shop's demand forecasts and reorder decisions (nightly); one queued per shop."""
    return enqueue(redis_url, FORECAST_INVENTORY, shop_id, queue="low", job_id=f"inventory-shop-{shop_id}")


def notify_back_in_stock(redis_url: str | None, shop_id: int) -> bool:
    """Tell the shop's waiting shoppers about what is back in stock (one waiting job per shop)."""
    return enqueue(
        redis_url, NOTIFY_BACK_IN_STOCK, shop_id, queue="default", job_id=f"back-in-stock-{shop_id}"
    )


def back_in_stock_after_commit(session: Session, shop_id: int) -> None:
    """A stock update landed for a shop with waiting back-in-stock requests: once it commits, tell them."""
    redis_url = get_settings().redis_url
    after_commit(session, lambda: notify_back_in_stock(redis_url, shop_id) or None)


def send_inventory_alerts(redis_url: str | None, shop_id: int) -> bool:
    """The shop's stock-out alerts (e-mail, Flow) after its forecasts; one queued per shop."""
    return enqueue(
        redis_url, SEND_INVENTORY_ALERTS, shop_id, queue="low", job_id=f"inventory-alerts-{shop_id}"
    )


def run_replenishment(redis_url: str | None, shop_id: int) -> bool:
    """The replenishment agent over the shop's fresh forecasts; one queued per shop."""
    return enqueue(
        redis_url, RUN_REPLENISHMENT, shop_id, queue="low", job_id=f"replenishment-agent-{shop_id}"
    )


def fit_shop_models(redis_url: str | None, shop_id: int) -> bool:
    return enqueue(redis_url, FIT_SHOP_MODELS, shop_id, queue="low", job_id=fit_job_id(shop_id))


def train_ranker(redis_url: str | None, shop_id: int, *, delay_s: float = 0.0) -> bool:
    """The shop's next-basket ranker (nightly, after a sync, after enough new orders: ``delay_s`` from now
    when its last training was too recent); one queued or scheduled per shop."""
    return enqueue(
        redis_url, TRAIN_RANKER, shop_id, queue="low", job_id=ranker_job_id(shop_id), delay_s=delay_s
    )


def relay_due(redis_url: str | None, shop_id: int, channel: str) -> bool:
    """Send the shop's due outbox rows on ``channel``: one waiting job per shop and channel, which relays
    whatever is due when it runs (a duplicate is harmless: the relay's claim lets one of them send a row)."""
    return enqueue(
        redis_url,
        RELAY_DUE,
        shop_id,
        channel,
        queue="default",
        job_id=relay_job_id(shop_id, channel),
        retry=None,
    )


def send_test_message(redis_url: str | None, shop_id: int, test_id: str) -> bool:
    """The Channels page's test message (never retried: the merchant sees the reason and tries again)."""
    return enqueue(
        redis_url,
        SEND_TEST_MESSAGE,
        shop_id,
        test_id,
        queue="default",
        job_id=f"channel-test-{test_id}",
        retry=None,
    )


def run_browse_abandonment(redis_url: str | None, shop_id: int) -> bool:
    """The shop's browse-abandonment reminders (hourly); one queued per shop."""
    return enqueue(
        redis_url, RUN_BROWSE_ABANDONMENT, shop_id, queue="low", job_id=f"browse-abandonment-{shop_id}"
    )


def run_journey(redis_url: str | None, shop_id: int) -> bool:
    """The shop's journey stages and next-best-action proposals (daily); one queued per shop."""
    return enqueue(redis_url, RUN_JOURNEY, shop_id, queue="low", job_id=f"journey-{shop_id}")


def send_campaign(redis_url: str | None, shop_id: int, campaign_id: int, wave: int | None = None) -> bool:
    """A newsletter's next wave of recipients (all of them without ``wave``); one queued per campaign."""
    return enqueue(
        redis_url, SEND_CAMPAIGN, shop_id, campaign_id, wave, queue="low", job_id=f"campaign-{campaign_id}"
    )


def run_rescue(redis_url: str | None, shop_id: int) -> bool:
    """The shop's abandoned-checkout recovery sequences (every ten minutes); one queued per shop."""
    return enqueue(redis_url, RUN_RESCUE, shop_id, queue="low", job_id=f"rescue-{shop_id}")


def run_late_orders(redis_url: str | None, shop_id: int) -> bool:
    """Queue the shop's late-order updates (one waiting job per shop)."""
    return enqueue(redis_url, RUN_LATE_ORDERS, shop_id, queue="low", job_id=f"late-orders-{shop_id}")


def fit_nudge_risk(redis_url: str | None, shop_id: int) -> bool:
    """The shop's in-session risk layer (nightly); one queued per shop."""
    return enqueue(redis_url, FIT_NUDGE_RISK, shop_id, queue="low", job_id=f"nudge-risk-{shop_id}")


def deliver_nudge_offer(redis_url: str | None, shop_id: int, key: str) -> bool:
    """An in-session incentive approved on the storefront: its code made and delivered on site (once per key;
    ``SWEEP_NUDGE_OFFERS`` re-queues one whose job was lost)."""
    return enqueue(
        redis_url,
        DELIVER_NUDGE_OFFER,
        shop_id,
        key,
        queue="default",
        job_id=f"nudge-offer-{shop_id}-{re.sub(r'[^A-Za-z0-9_-]', '-', key)}",
    )


def send_weekly_digest(redis_url: str | None, shop_id: int) -> bool:
    """The shop's weekly control-room digest to the merchant; one queued per shop."""
    return enqueue(redis_url, SEND_WEEKLY_DIGEST, shop_id, queue="low", job_id=f"digest-{shop_id}")


def apply_price_change(redis_url: str | None, shop_id: int, change_id: int) -> bool:
    """An approved price change, re-checked and applied through the Admin API."""
    return enqueue(
        redis_url, APPLY_PRICE_CHANGE, shop_id, change_id, queue="default", job_id=f"price-change-{change_id}"
    )


def refresh_competitor_feed(redis_url: str | None, shop_id: int, competitor: str) -> bool:
    """Fetch one competitor's feed URL, store its lines, match them and alert on undercuts."""
    return enqueue(redis_url, REFRESH_COMPETITOR_FEED, shop_id, competitor, queue="low",
                   job_id=f"competitor-feed-{shop_id}-{competitor.replace(' ', '_')}")  # fmt: skip


def match_competitors(redis_url: str | None, shop_id: int) -> bool:
    """Title matches for the shop's unmatched competitor items, then undercut alerts (after an upload)."""
    return enqueue(redis_url, MATCH_COMPETITORS, shop_id, queue="low", job_id=f"competitor-match-{shop_id}")


def rescore_shop(redis_url: str | None, shop_id: int) -> bool:
    return enqueue(redis_url, RESCORE_SHOP, shop_id, queue="low", job_id=f"rescore-shop-{shop_id}")


def refresh_profile(redis_url: str | None, shop_id: int, customer_key: str) -> bool:
    return enqueue(redis_url, REFRESH_PROFILE, shop_id, customer_key)


def _pixel_queued_key(shop_id: int) -> str:
    return f"attune:pixel:queued:{shop_id}"


def fold_pixel_events(redis_url: str | None, shop_id: int, event_ids: list[int]) -> bool:
    """After ingress commits: queue a fold for the shop unless one is already queued and not started
    (that job will pick these events up, so a busy shop's events are folded in larger batches)."""
    try:
        if not get_redis(redis_url).set(_pixel_queued_key(shop_id), "1", nx=True, ex=PIXEL_QUEUED_TTL_S):
            return True
    except RedisError as exc:
        log.warning("pixel fold for shop %s not queued (Redis unavailable): %s", shop_id, exc)
        return False
    return enqueue(redis_url, FOLD_PIXEL_EVENTS, shop_id, event_ids, queue="default")


def pixel_fold_started(redis_url: str | None, shop_id: int) -> None:
    """The fold job has started: events arriving from now on queue a new run (raises ``RedisError``)."""
    get_redis(redis_url).delete(_pixel_queued_key(shop_id))


def _training_key(shop_id: int) -> str:
    return f"attune:ranker:training:{shop_id}"


def claim_training(redis_url: str | None, shop_id: int, ttl_s: int = 3600) -> bool:
    """A ranker training of the shop starts: False while another one runs (queued by another customer's refresh
    a moment apart, it would learn from the same orders). Without Redis, train anyway."""
    try:
        return bool(get_redis(redis_url).set(_training_key(shop_id), "1", nx=True, ex=ttl_s))
    except RedisError as exc:
        log.warning("ranker training of shop %s not coordinated (Redis unavailable): %s", shop_id, exc)
        return True


def training_done(redis_url: str | None, shop_id: int) -> None:
    try:
        get_redis(redis_url).delete(_training_key(shop_id))
    except RedisError as exc:
        log.warning("ranker training of shop %s: claim not released (expires by itself): %s", shop_id, exc)


# --- the batched customer refresh: changed customers marked per shop, one job takes them all ----------------
CUSTOMER_SETS = ("profile", "lists")
CUSTOMER_RUN_TTL_S = 600  # a refresh run's claim on its shop (longer than the default queue's 180 s timeout)


def customers_job_id(shop_id: int) -> str:
    return f"customers-{shop_id}"


def _changed_key(shop_id: int, what: str) -> str:
    return f"attune:customers:changed:{shop_id}:{what}"


def _claimed_key(shop_id: int, what: str) -> str:
    return f"attune:customers:claimed:{shop_id}:{what}"


def _run_key(shop_id: int) -> str:
    return f"attune:customers:running:{shop_id}"


def queue_customer_refresh(
    redis_url: str | None, shop_id: int, customer_ids: Iterable[int], *, lists: bool = True
) -> bool:
    """Mark ``customer_ids`` changed (their profile; with ``lists`` their personal lists too), then queue the
    shop's refresh unless one is waiting: that one takes every customer marked before it starts, so a busy
    shop's changes are refreshed in batches, one job per shop and tick, each customer once however often it
    changed. Ids only; on the default queue (O(the customers changed), never behind a training)."""
    ids = sorted({int(c) for c in customer_ids})
    if not ids:
        return True
    try:
        with get_redis(redis_url).pipeline() as pipe:
            pipe.sadd(_changed_key(shop_id, "profile"), *ids)
            if lists:
                pipe.sadd(_changed_key(shop_id, "lists"), *ids)
            pipe.execute()
    except RedisError as exc:
        log.warning("customer refresh of shop %s not queued (Redis unavailable): %s", shop_id, exc)
        return False
    return enqueue(redis_url, REFRESH_CUSTOMERS, shop_id, queue="default", job_id=customers_job_id(shop_id))


def start_customer_refresh(redis_url: str | None, shop_id: int, token: str) -> bool:
    """A refresh run of the shop starts: False while another one runs (raises ``RedisError``)."""
    return bool(get_redis(redis_url).set(_run_key(shop_id), token, nx=True, ex=CUSTOMER_RUN_TTL_S))


def claim_changed_customers(redis_url: str | None, shop_id: int) -> dict[str, set[int]]:
    """Move the shop's changed customers into its claimed sets and return those (what -> ids). A run that died
    left its claim in place, so the next run takes it again: nothing marked is lost to a crash."""
    with get_redis(redis_url).pipeline() as pipe:
        for what in CUSTOMER_SETS:
            claimed = _claimed_key(shop_id, what)
            pipe.sunionstore(claimed, [claimed, _changed_key(shop_id, what)])
            pipe.delete(_changed_key(shop_id, what))
            pipe.smembers(claimed)
        replies = pipe.execute()
    return {what: {int(c) for c in replies[3 * i + 2]} for i, what in enumerate(CUSTOMER_SETS)}


def customers_refreshed(redis_url: str | None, shop_id: int, done: dict[str, set[int]]) -> None:
    """Drop committed customers from the claim (raises ``RedisError``)."""
    with get_redis(redis_url).pipeline() as pipe:
        for what, ids in done.items():
            if ids:
                pipe.srem(_claimed_key(shop_id, what), *ids)
        pipe.execute()


def finish_customer_refresh(redis_url: str | None, shop_id: int, token: str, *, more: bool = False) -> None:
    """Release the run's claim on its shop, then queue the next run if customers changed meanwhile (a run that
    found this one busy did nothing) or ``more`` (this run left claimed customers for the next one)."""
    redis = get_redis(redis_url)
    with redis.pipeline() as pipe:
        pipe.watch(_run_key(shop_id))
        if pipe.get(_run_key(shop_id)) == token.encode():
            pipe.multi()
            pipe.delete(_run_key(shop_id))
            pipe.execute()
    if more or any(redis.exists(_changed_key(shop_id, what)) for what in CUSTOMER_SETS):
        enqueue(redis_url, REFRESH_CUSTOMERS, shop_id, queue="default", job_id=customers_job_id(shop_id))


# --- queueing once the caller's transaction commits (Saleor's rule: never before) ---------------------
class _ChangedCustomers:
    """The customers a transaction changed, per (shop, lists or not): queued together once it commits."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url
        self.changed: dict[tuple[int, bool], set[int]] = {}

    def __call__(self) -> None:
        for (shop_id, lists), ids in self.changed.items():
            queue_customer_refresh(self.redis_url, shop_id, ids, lists=lists)


def customer_changed(session: Session, shop_id: int, customer_id: int | None, *, lists: bool = True) -> None:
    """A customer's orders, returns or checkouts changed: their profile and (``lists``: the change is of what
    the ranker reads, orders and returns) their personal lists. Once the change commits, the customer is
    marked changed and the shop's one batched refresh is queued (``queue_customer_refresh``); the customers
    of one transaction (an inbox batch) are marked together."""
    if customer_id is None:
        return
    pending = next(
        (cb for cb in session.info.get("after_commit", []) if isinstance(cb, _ChangedCustomers)), None
    )
    if pending is None:
        pending = _ChangedCustomers(get_settings().redis_url)
        after_commit(session, pending)
    pending.changed.setdefault((shop_id, lists), set()).add(customer_id)


def catalog_changed(session: Session, shop_id: int) -> None:
    """The catalogue or stock changed: the shop's lists and its product vectors (one job each per shop)."""
    settings = get_settings()
    refresh_lists_after_commit(session, settings, shop_id)
    redis_url = settings.redis_url
    after_commit(session, lambda: embed_products(redis_url, shop_id))
    after_commit(session, lambda: sync_knowledge(redis_url, shop_id))


def refresh_lists_after_commit(session: Session, settings: Settings, shop_id: int) -> None:
    """Queue the shop's list refresh once the change that made it stale commits (a customer's lists go with
    ``customer_changed``)."""
    redis_url = settings.redis_url
    after_commit(session, lambda: refresh_shop_lists(redis_url, shop_id))


def send_handoff_after_commit(session: Session, redis_url: str | None, shop_id: int, message_id: int) -> None:
    """E-mail a support hand-off to the shop once the conversation's turns commit (one job per hand-off)."""
    after_commit(
        session,
        lambda: (
            enqueue(redis_url, SEND_HANDOFF, shop_id, message_id, job_id=f"handoff-{shop_id}-{message_id}")
            or None
        ),
    )


def open_ticket_after_commit(session: Session, redis_url: str | None, shop_id: int, message_id: int) -> None:
    """Open the hand-off's ticket in the shop's help desk (Gorgias or Zendesk) once its turns commit; the job
    skips a shop without one."""
    after_commit(
        session,
        lambda: (
            enqueue(
                redis_url, OPEN_HANDOFF_TICKET, shop_id, message_id, job_id=f"ticket-{shop_id}-{message_id}"
            )
            or None
        ),
    )


def handoff_after_commit(session: Session, redis_url: str | None, shop_id: int, message_id: int) -> None:
    """Everything a support hand-off starts: the e-mail to the shop and the help desk's ticket."""
    send_handoff_after_commit(session, redis_url, shop_id, message_id)
    open_ticket_after_commit(session, redis_url, shop_id, message_id)


def answer_meta_after_commit(session: Session, redis_url: str | None, shop_id: int, message: dict) -> None:
    """Answer a Messenger or Instagram message (``app.channels.meta_webhook.InboundMessage`` as a dict) once
    it is recorded; one job per message id."""
    job_id = f"meta-{shop_id}-{hashlib.sha1(message['mid'].encode()).hexdigest()[:20]}"
    after_commit(
        session, lambda: enqueue(redis_url, ANSWER_META_MESSAGE, shop_id, message, job_id=job_id) or None
    )


def answer_email_after_commit(session: Session, redis_url: str | None, shop_id: int, mail: dict) -> None:
    """Answer a shopper's e-mail (``app.channels.inbound_mail.InboundMail`` as a dict) once it is recorded."""
    after_commit(session, lambda: enqueue(redis_url, ANSWER_EMAIL, shop_id, mail) or None)


def answer_sms_after_commit(session: Session, redis_url: str | None, shop_id: int, message: dict) -> None:
    """Answer a shopper's SMS that is no keyword (``{"sid", "number", "text"}``) once it is recorded; one job per
    Twilio message id."""
    job_id = f"sms-answer-{shop_id}-{message['sid'][:64]}"
    after_commit(session, lambda: enqueue(redis_url, ANSWER_SMS, shop_id, message, job_id=job_id) or None)


def human_reply_after_commit(session: Session, redis_url: str | None, shop_id: int, message_id: int) -> None:
    """Send the merchant's reply note on a resolved hand-off back on the channel it came from (Messenger and
    Instagram: with the HUMAN_AGENT tag, up to seven days after the shopper's message)."""
    after_commit(
        session,
        lambda: (
            enqueue(redis_url, SEND_HUMAN_REPLY, shop_id, message_id, job_id=f"reply-{shop_id}-{message_id}")
            or None
        ),
    )


def refresh_profile_after_commit(session: Session, redis_url: str | None, shop_id: int, key: str) -> None:
    after_commit(session, lambda: refresh_profile(redis_url, shop_id, key) or None)


def train_ranker_after_commit(session: Session, shop_id: int) -> None:
    """The shop's order history changed in a way its ranker must forget (a customer was redacted): retrain it
    once the change commits (the new history fingerprint makes the training run)."""
    redis_url = get_settings().redis_url
    after_commit(session, lambda: train_ranker(redis_url, shop_id) or None)


def fit_after_commit(session: Session, shop_id: int) -> None:
    """For the backfill: fit the shop's models once the transaction that finishes the backfill commits."""
    redis_url = get_settings().redis_url
    after_commit(session, lambda: fit_shop_models(redis_url, shop_id))


def relay_after_commit(session: Session, due: Iterable[tuple[int, str]]) -> None:
    """Relay the messages decided in this transaction once it commits: one job per (shop, channel) in ``due``
    (a lost enqueue is swept later)."""
    groups = sorted(set(due))
    if not groups:
        return
    redis_url = get_settings().redis_url
    after_commit(session, lambda: [relay_due(redis_url, s, c) for s, c in groups] and None)


def sms_consent_after_commit(session: Session, shop_id: int, customer_id: int) -> None:
    """Write a customer's SMS consent change (STOP, START) back to Shopify once it commits (one queued job per
    customer; the job writes whatever the mirror holds when it runs)."""
    redis_url = get_settings().redis_url
    after_commit(
        session,
        lambda: (
            enqueue(
                redis_url,
                WRITE_BACK_SMS_CONSENT,
                shop_id,
                customer_id,
                queue="default",
                job_id=f"sms-consent-{shop_id}-{customer_id}",
            )
            and None
        ),
    )


# --- write-backs to Shopify (consent, metafields) and the shop's scopes ------------------------------------
def write_back_consent(redis_url: str | None, shop_id: int, customer_id: int) -> bool:
    """Write one customer's e-mail opt-out back to Shopify (skipped and recorded without write_customers)."""
    return enqueue(
        redis_url,
        WRITE_BACK_CONSENT,
        shop_id,
        customer_id,
        queue="default",
        job_id=f"writeback-consent-{shop_id}-{customer_id}",
    )


def write_back_consent_after_commit(session: Session, shop_id: int, customer_id: int) -> None:
    redis_url = get_settings().redis_url
    after_commit(session, lambda: write_back_consent(redis_url, shop_id, customer_id) or None)


def sync_metafields(redis_url: str | None, shop_id: int, customer_ids: list[int] | None = None) -> bool:
    """Attune's scores onto customer metafields: the given customers, or every changed profile of the shop."""
    job_id = f"metafields-shop-{shop_id}" if customer_ids is None else None
    return enqueue(redis_url, SYNC_METAFIELDS, shop_id, customer_ids, queue="low", job_id=job_id)


def refresh_scopes(redis_url: str | None, shop_id: int) -> bool:
    """Read the scopes the installation holds from Shopify (after the merchant granted one in the admin)."""
    return enqueue(redis_url, REFRESH_SCOPES, shop_id, queue="default", job_id=f"scopes-shop-{shop_id}")


def replay_writebacks_after_commit(session: Session, shop_id: int) -> None:
    """A scope was granted: once that commits, redo the write-backs skipped for want of it."""
    redis_url = get_settings().redis_url
    after_commit(
        session,
        lambda: (
            enqueue(redis_url, REPLAY_WRITEBACKS, shop_id, queue="low", job_id=f"writeback-replay-{shop_id}")
            or None
        ),
    )
