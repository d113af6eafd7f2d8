"""Shopify webhooks: ingress (``routes``), the inbox worker (``jobs``) and per-topic ``handlers``."""
