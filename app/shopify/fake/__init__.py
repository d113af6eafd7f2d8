"""A local fake Shopify for tests and the demo: OAuth, token endpoint, Admin GraphQL (with cost
accounting, throttling and bulk operations), the embedded admin landing, and signed webhook deliveries.

    with FakeShopify(api_key, api_secret, app_url="http://127.0.0.1:8000") as fake:
        fake.seed("demo.myshopify.com", products=[...], customers=[...], orders=[...])
        settings = load_settings(shopify_admin_origin_template=fake.origin_template, ...)
"""

from app.shopify.fake.server import FakeShopify, IssuedToken
from app.shopify.fake.store import ShopStore, gid, gid_num
from app.shopify.fake.webhooks import deliver_webhook, webhook_headers

__all__ = [
    "FakeShopify",
    "IssuedToken",
    "ShopStore",
    "deliver_webhook",
    "gid",
    "gid_num",
    "webhook_headers",
]
