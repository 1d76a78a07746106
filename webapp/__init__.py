"""The Flask layer: thin views over dsba, built by create_app()."""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment, overridden by config (tests)."""
    app = Flask(__name__, static_folder="../static", template_folder="../templates")

    @app.get("/healthz")
    def healthz():
        """Report that the process is alive."""
        return {"status": "ok"}

    return app
