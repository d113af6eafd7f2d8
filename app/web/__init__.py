"""HTTP ingress: blueprints only parse, authenticate, record, enqueue and answer (``app.create_app``
registers them). Shared here: the settings of the app serving the request."""

from __future__ import annotations

from flask import current_app

from app.config import Settings


def settings() -> Settings:
    """The settings of the app serving this request."""
    return current_app.extensions["attune.settings"]
