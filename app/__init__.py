"""Attune: the Flask application factory."""

from __future__ import annotations

from flask import Flask, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.config import Settings, get_settings
from app.observability import configure_logging


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app: every blueprint, then the WSGI fast paths in front of Flask. Settings are
    validated here, so a bad environment fails at start."""
    settings = settings or get_settings()
    app = Flask(__name__, instance_relative_config=False)
    app.config["SECRET_KEY"] = settings.shopify_api_secret
    app.config["MAX_CONTENT_LENGTH"] = max(settings.webhook_max_body_bytes, settings.pixel_max_body_bytes)
    app.extensions["attune.settings"] = settings
    configure_logging(settings.attune_log_format)

    # Imported here: every process imports the ``app`` package, and only the web process needs the web.
    from app.web.admin import bp as admin_bp
    from app.web.admin_activity import bp as admin_activity_bp
    from app.web.admin_campaigns import bp as admin_campaigns_bp
    from app.web.admin_channels import bp as admin_channels_bp
    from app.web.admin_competitors import bp as admin_competitors_bp
    from app.web.admin_control_room import bp as admin_control_room_bp
    from app.web.admin_inventory import bp as admin_inventory_bp
    from app.web.admin_journey import bp as admin_journey_bp
    from app.web.admin_knowledge import bp as admin_knowledge_bp
    from app.web.admin_lift import bp as admin_lift_bp
    from app.web.admin_merchandising import bp as admin_merchandising_bp
    from app.web.admin_prices import bp as admin_prices_bp
    from app.web.admin_pricing import bp as admin_pricing_bp
    from app.web.admin_profiles import bp as admin_profiles_bp
    from app.web.admin_records import bp as admin_records_bp
    from app.web.admin_replenishment import bp as admin_replenishment_bp
    from app.web.admin_rescue import bp as admin_rescue_bp
    from app.web.admin_reviews import bp as admin_reviews_bp
    from app.web.admin_scopes import bp as admin_scopes_bp
    from app.web.admin_support import bp as admin_support_bp
    from app.web.admin_support_channels import bp as admin_support_channels_bp
    from app.web.auth import bp as auth_bp
    from app.web.health import bp as health_bp
    from app.web.metrics import bp as metrics_bp
    from app.web.metrics import install as install_metrics
    from app.web.pixel import bp as pixel_bp
    from app.web.proxy import bp as proxy_bp
    from app.web.proxy_back_in_stock import bp as proxy_back_in_stock_bp
    from app.web.proxy_fast import install as install_proxy_fast_path
    from app.web.proxy_messaging import bp as proxy_messaging_bp
    from app.web.proxy_nudge import bp as proxy_nudge_bp
    from app.web.proxy_support import bp as proxy_support_bp
    from app.web.sms_hooks import bp as sms_hooks_bp
    from app.web.support_hooks import bp as support_hooks_bp
    from app.web.unsubscribe import bp as unsubscribe_bp
    from webhooks.fast import install as install_webhook_fast_path
    from webhooks.routes import bp as webhooks_bp

    for bp in (
        health_bp,
        auth_bp,
        admin_bp,
        webhooks_bp,
        proxy_bp,
        proxy_messaging_bp,
        proxy_support_bp,
        proxy_nudge_bp,
        proxy_back_in_stock_bp,
        pixel_bp,
        admin_profiles_bp,
        admin_records_bp,
        admin_lift_bp,
        admin_journey_bp,
        admin_replenishment_bp,
        admin_inventory_bp,
        admin_merchandising_bp,
        admin_reviews_bp,
        admin_support_bp,
        admin_knowledge_bp,
        sms_hooks_bp,
        support_hooks_bp,
        admin_support_channels_bp,
        unsubscribe_bp,
        admin_scopes_bp,
        admin_channels_bp,
        admin_activity_bp,
        admin_rescue_bp,
        admin_control_room_bp,
        admin_campaigns_bp,
        metrics_bp,
        admin_pricing_bp,
        admin_prices_bp,
        admin_competitors_bp,
    ):
        app.register_blueprint(bp)
    install_metrics(app)  # request counts and times by route rule, and each request's id
    install_webhook_fast_path(app)  # POST /webhooks without Flask overhead; same answers as the route
    install_proxy_fast_path(app)  # GET /proxy/recommendations, POST /proxy/nudge without Flask; else Flask

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # JSON errors with the right status, never HTML 500s
        response = jsonify(error=exc.name, message=exc.description)
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(OperationalError)
    def _database_busy(exc: OperationalError):  # a locked or unreachable database: try again, not a 500
        app.logger.error("database unavailable on %s %s: %s", request.method, request.path, exc.orig)
        response = jsonify(error="unavailable", message="the database is busy or unavailable; retry later")
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    return app
