"""Shopify webhooks: ingress (``routes``, ``fast``, ``ingest``), queueing (``inbox_queue``), the inbox
worker (``inbox_jobs``) and per-topic ``handlers``."""
