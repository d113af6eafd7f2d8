"""Shopify webhooks: ingress (``routes``), the inbox worker (``inbox_jobs``) and per-topic ``handlers``."""
