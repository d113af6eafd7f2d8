"""Attune: the Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app.config import Settings, get_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app. Settings are validated here, so a bad environment fails at start."""
    settings = settings or get_settings()
    app = Flask(__name__, instance_relative_config=False)
    app.config["SECRET_KEY"] = settings.shopify_api_secret
    app.config["MAX_CONTENT_LENGTH"] = max(settings.webhook_max_body_bytes, settings.pixel_max_body_bytes)
    app.extensions["attune.settings"] = settings
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from app.web import register_blueprints

    register_blueprints(app)
    from webhooks.fast import install as install_webhook_fast_path

    install_webhook_fast_path(app)  # POST /webhooks without Flask overhead; same answers as the route
    from app.web.proxy_fast import install as install_proxy_fast_path

    install_proxy_fast_path(app)  # GET /proxy/recommendations without Flask overhead; all else is Flask

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # JSON errors with the right status, never HTML 500s
        response = jsonify(error=exc.name, message=exc.description)
        response.status_code = exc.code or 500
        return response

    return app
