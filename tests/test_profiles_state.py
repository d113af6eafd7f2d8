"""Pure profile folding: incremental batches, a from-scratch rebuild and merged identities agree."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from app.profiles.context import collection_view, device_of, local_time, traffic_source
from app.profiles.merge import merge_profiles
from app.profiles.state import ProfileEvent, apply_events, empty_profile
from app.profiles.view import funnel_summary

NAMES = [
    "page_viewed", "product_viewed", "product_viewed", "collection_viewed", "search_submitted",
    "product_added_to_cart", "product_removed_from_cart", "cart_viewed", "checkout_started",
    "checkout_shipping_info_submitted", "checkout_completed", "attune:shipping_notice_lingered",
]  # fmt: skip
URLS = [
    "https://s.example/collections/shoes?filter.v.option.color=Blue&filter.p.vendor=Acme&sort_by=price-ascending",
    "https://s.example/collections/shoes/blue+wide",
    "https://s.example/?utm_source=news&utm_medium=email&utm_campaign=bf",
    "https://s.example/products/x",
]


def stream(client: str, n: int, start: datetime, seed: int) -> list[ProfileEvent]:
    rng = random.Random(seed)
    t, out = start, []
    for i in range(n):
        t += timedelta(seconds=rng.choice([4, 25, 70, 3000]))
        name, pid = rng.choice(NAMES), str(rng.randint(1, 9))
        variant = {
            "id": pid + "0",
            "price": {"amount": 10.0 + int(pid)},
            "product": {"id": pid, "title": "P" + pid},
        }
        data = {
            "product_viewed": {"variant": variant},
            "product_added_to_cart": {"line": {"quantity": 2, "variant": variant}},
            "product_removed_from_cart": {"line": {"quantity": 1, "variant": variant}},
            "search_submitted": {"query": rng.choice(["Shoe", "boot"]), "results": 2},
            "cart_viewed": {"cart": {"id": f"gid://shopify/Cart/{client}?key=z"}},
            "attune:shipping_notice_lingered": {"custom": {"seconds": 4}},
        }.get(
            name,
            {"checkout": {"token": "t", "city": "Oslo", "countryCode": "NO"}} if "checkout" in name else {},
        )
        ctx = {
            "url": rng.choice(URLS),
            "referrer": rng.choice(["", "https://www.google.com/", "https://l.instagram.com/"]),
            "userAgent": rng.choice(
                ["Mozilla/5.0 (iPhone) Safari/604.1", "Mozilla/5.0 (Windows NT 10.0) Chrome/120"]
            ),
            "timeZone": "America/New_York",
            "language": "en-US",
        }
        out.append(ProfileEvent(f"{client}-{i:04d}", name, t, client, data, ctx))
    return out


def same(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_incremental_batches_equal_a_rebuild_and_merges_equal_the_union():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    a, b = stream("ca", 160, start, 1), stream("cb", 120, start + timedelta(minutes=9), 2)
    rebuilt = apply_events(None, a + b)
    inc_a = empty_profile()
    for i in range(0, len(a), 7):
        apply_events(inc_a, a[i : i + 7])
    inc_b = empty_profile()
    for i in range(0, len(b), 10):
        apply_events(inc_b, b[i : i + 10])
    assert same(apply_events(None, a), inc_a)
    assert same(merge_profiles(inc_a, inc_b), rebuilt)
    assert same(merge_profiles(inc_b, inc_a), rebuilt)
    assert rebuilt["behavioural"]["events"] == 280
    assert rebuilt["behavioural"]["sessions"] > 2
    assert sum(p["dwell_s"] for p in rebuilt["behavioural"]["products"].values()) > 0


def test_profile_sections_capture_behaviour_and_context():
    t = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)  # 17:30 in New York, a Friday
    events = [
        ProfileEvent("e1", "collection_viewed", t, "c", {}, {"url": URLS[0], "referrer": "https://www.google.com/", "userAgent": "Mozilla/5.0 (iPhone) Safari/604.1", "timeZone": "America/New_York"}),
        ProfileEvent("e2", "product_viewed", t + timedelta(seconds=5), "c", {"variant": {"product": {"id": "gid://shopify/Product/7", "title": "Boot"}, "price": {"amount": 99.0}}}, {"url": "https://s.example/products/boot", "timeZone": "America/New_York"}),
        ProfileEvent("e3", "product_added_to_cart", t + timedelta(seconds=50), "c", {"line": {"quantity": 1, "variant": {"id": "70", "product": {"id": "7"}}}}, {"timeZone": "America/New_York"}),
        ProfileEvent("e4", "checkout_started", t + timedelta(seconds=80), "c", {"checkout": {"token": "k", "city": "Boston", "countryCode": "US"}}, {"timeZone": "America/New_York"}),
    ]  # fmt: skip
    p = apply_events(None, events)
    b, c = p["behavioural"], p["contextual"]
    assert b["collections"]["shoes"]["filters"] == {"p.vendor=Acme&v.option.color=Blue": 1}
    assert b["collections"]["shoes"]["sorts"] == {"price-ascending": 1}
    assert b["products"]["7"]["views"] == 1 and b["products"]["7"]["dwell_s"] == 45.0
    assert b["products"]["7"]["added"] == 1 and b["cart"]["items"] == {"70": 1}
    assert [step[1] for step in b["path"]] == ["collection", "product", "cart_add", "checkout_started"]
    assert c["device"]["type"] == "mobile" and c["device"]["os"] == "iOS"
    assert c["geo"]["city"] == "Boston" and c["geo"]["country"] == "US"
    assert c["hours"][17] == 4 and c["weekdays"][4] == 4
    assert c["first_touch"]["channel"] == "search"
    summary = funnel_summary(b, now=t + timedelta(hours=2))
    assert (
        summary["furthest_open_step"] == "checkout_started" and summary["abandoned_at"] == "checkout_started"
    )
    assert funnel_summary(b, now=t + timedelta(minutes=5))["abandoned_at"] is None


def test_context_parsers():
    assert device_of("Mozilla/5.0 (iPad; CPU OS 17_0) Safari/604.1")["type"] == "tablet"
    assert device_of("Mozilla/5.0 (Windows NT 10.0; Win64) Chrome/120.0 Safari/537.36 Edg/120.0") == {
        "type": "desktop", "os": "Windows", "browser": "Edge"}  # fmt: skip
    paid = traffic_source(
        "https://s.example/?utm_source=google&utm_medium=cpc&utm_campaign=x", "https://www.google.com/"
    )
    assert paid["channel"] == "paid" and paid["campaign"] == "x"
    assert traffic_source("https://s.example/a", "https://s.example/b")["channel"] == "direct"
    assert traffic_source("https://s.example/a", "https://blog.example.org/post")["channel"] == "referral"
    assert collection_view("https://s.example/products/x") is None
    assert collection_view("https://s.example/collections/all/red+big") == ("all", "tag=big&tag=red", None)
    assert local_time(datetime(2026, 1, 1, 0, 30, tzinfo=UTC), "Asia/Tokyo") == (9, 3)
    assert local_time(datetime(2026, 1, 1, 0, 30, tzinfo=UTC), "Not/AZone") == (0, 3)
