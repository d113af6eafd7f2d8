"""HTTP ingress: blueprints only parse, authenticate, record, enqueue and answer."""

from __future__ import annotations

from flask import Flask, current_app

from app.config import Settings


def settings() -> Settings:
    """The settings of the app serving this request."""
    return current_app.extensions["attune.settings"]


def register_blueprints(app: Flask) -> None:
    from app.web.health import bp as health_bp

    app.register_blueprint(health_bp)
    from app.web.admin import bp as admin_bp
    from app.web.auth import bp as auth_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    from webhooks.routes import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    from app.web.proxy import bp as proxy_bp

    app.register_blueprint(proxy_bp)
    from app.web.pixel import bp as pixel_bp

    app.register_blueprint(pixel_bp)
    from app.web.admin_profiles import bp as admin_profiles_bp

    app.register_blueprint(admin_profiles_bp)
    from app.web.admin_records import bp as admin_records_bp

    app.register_blueprint(admin_records_bp)
    from app.web.admin_lift import bp as admin_lift_bp

    app.register_blueprint(admin_lift_bp)
    from app.web.admin_merchandising import bp as admin_merchandising_bp

    app.register_blueprint(admin_merchandising_bp)
    from app.web.admin_reviews import bp as admin_reviews_bp

    app.register_blueprint(admin_reviews_bp)
    from app.web.admin_support import bp as admin_support_bp

    app.register_blueprint(admin_support_bp)
