"""The JSON API under /api: flask-smorest blueprints, one per area."""

from __future__ import annotations

from flask import Flask

from webapp.api import canary, datasets, docs, health, jobs, models, monitoring, predict, scoring
from webapp.extensions import api, csrf


def register_api(app: Flask) -> None:
    """Bind flask-smorest and register every API blueprint (token-authenticated, no CSRF)."""
    app.config.setdefault("API_SPEC_OPTIONS", docs.spec_options())
    api.init_app(app)
    docs.declare_security(api)
    for module in (datasets, jobs, models, canary, predict, scoring, monitoring):
        csrf.exempt(module.bp)
        api.register_blueprint(module.bp, url_prefix="/api")
    api.register_blueprint(health.bp)
