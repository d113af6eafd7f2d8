"""What the demo prints at the end, read back through the app's own HTTP APIs (admin and app proxy)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import requests

from app.demo.replay import Meter
from app.demo.runtime import DemoRuntime
from app.shopify.verify import proxy_signature


def admin_get(rt: DemoRuntime, shop: str, path: str, **params: Any) -> Any:
    """An embedded-admin API call with a session token, as App Bridge would make it."""
    token = rt.fake.session_token(shop)
    url = f"{rt.app_url}{path}" + (f"?{urlencode(params)}" if params else "")
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    response.raise_for_status()
    return response.json()


def proxy_get(rt: DemoRuntime, shop: str, path: str, customer_id: int | None = None, **params: Any) -> Any:
    """A storefront call through the app proxy, signed as Shopify signs what it forwards."""
    query = {
        **{k: str(v) for k, v in params.items()},
        "shop": shop,
        "logged_in_customer_id": str(customer_id or ""),
        "path_prefix": "/apps/attune",
        "timestamp": str(int(time.time())),
    }
    query["signature"] = proxy_signature(query.items(), rt.settings.shopify_api_secret)
    response = requests.get(f"{rt.app_url}/proxy/{path}?{urlencode(query)}", timeout=30)
    response.raise_for_status()
    return response.json()


def gather(rt: DemoRuntime, shop: str, meter: Meter, timings: dict[str, float]) -> dict[str, Any]:
    segments = admin_get(rt, shop, "/api/admin/segments")
    top = admin_get(rt, shop, "/api/admin/customers", segment="known", sort="clv", limit=3)["customers"]
    examples = []
    for row in top:
        record = admin_get(rt, shop, f"/api/admin/customers/{row['customer_id']}")
        recs = proxy_get(rt, shop, "recommendations", row["customer_id"], placement="home")
        examples.append({"customer": record, "recommendations": recs})
    pixel, hooks = meter.summary("pixel"), meter.summary("webhooks")
    replay_s = timings.get("replay_s") or 1.0
    room = admin_get(rt, shop, "/api/admin/control-room")  # what the merchant's home page shows
    return {
        "segments": segments,
        "examples": examples,
        "control_room": {
            "simulated": room["simulated"],
            "lifts": {c["agent"]: c["lift"] for c in room["agents"]},
        },
        "figures": {
            **timings,
            "webhooks": hooks,
            "pixel": pixel,
            "events_per_s": (pixel.get("items", 0) + hooks.get("items", 0)) / replay_s,
        },
    }


def render(summary: dict[str, Any], plan_meta: dict[str, Any], urls: dict[str, str]) -> str:
    seg = summary["segments"]
    lines = ["", "=" * 78, "Attune demo — summary", "=" * 78]
    lines.append(f"Data: {plan_meta['source']}")
    lines.append(
        f"Customers modelled: {seg['known']} known shoppers + {seg['anonymous']} anonymous visitors "
        f"({seg['high_intent']} high intent, {seg['at_risk']} at risk)"
    )
    lines.append(
        "Segments (RFM): "
        + ", ".join(f"{k} {v}" for k, v in sorted(seg["rfm"].items(), key=lambda kv: -kv[1]))
    )
    for ex in summary["examples"]:
        c = ex["customer"]
        prof = c.get("profile") or {}
        lines.append("")
        lines.append(
            f"Customer {c['id']}: {c['orders_count']} orders, {c['total_spent']} spent, "
            f"{c['returns_count']} returns, last order {c['last_order_at']}"
        )
        for name, value in (prof.get("derived") or {}).items():
            if not isinstance(value, dict):
                continue
            why = "; ".join(s.get("text", str(s)) for s in (value.get("signals") or [])[:3])
            shown = value.get("value", value.get("label"))
            lines.append(f"  {name}: {shown}" + (f" — because {why}" if why else ""))
        recs = ex["recommendations"]
        label = "holdout group: popular list" if recs.get("holdout") else recs.get("strategy", "")
        for item in (recs.get("items") or [])[:4]:
            lines.append(f"  → recommend {item.get('title')} — {item.get('reason', '')}  [{label}]")
    f = summary["figures"]
    lines.append("")
    lines.append(
        f"Run: backfill {f.get('backfill_s', 0):.1f} s; replay {f.get('replay_s', 0):.1f} s at "
        f"{f['events_per_s']:.0f} events/s; webhooks p50 {f['webhooks'].get('p50_ms', 0):.1f} ms / "
        f"p99 {f['webhooks'].get('p99_ms', 0):.1f} ms; pixel batches p50 {f['pixel'].get('p50_ms', 0):.1f} ms / "
        f"p99 {f['pixel'].get('p99_ms', 0):.1f} ms; errors {f['webhooks'].get('errors', 0) + f['pixel'].get('errors', 0)}; "
        f"processing drained {f.get('drain_s', 0):.1f} s after the last event"
    )
    for name, url in urls.items():
        lines.append(f"{name}: {url}")
    lines.append("=" * 78)
    return "\n".join(lines)
