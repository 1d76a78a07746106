"""Page views: parse the form, call dsba, render or redirect."""

from __future__ import annotations

from flask import render_template

from webapp.pages import bp
from webapp.state import state


@bp.get("/")
def home():
    """List the models and recent jobs."""
    app_state = state()
    return render_template(
        "pages/home.html", models=app_state.service.list_models(), jobs=app_state.jobs.list(10)
    )
