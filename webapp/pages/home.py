"""The home page: models, recent jobs and datasets."""

from __future__ import annotations

from flask import render_template

from webapp.pages import bp
from webapp.state import state

RECENT_JOBS = 10
RECENT_DATASETS = 5


@bp.get("/")
def home():
    """List the models with their headline metrics, recent jobs and recent datasets."""
    app_state = state()
    return render_template(
        "pages/home.html",
        models=app_state.service.list_models(),
        jobs=app_state.jobs.list(RECENT_JOBS),
        datasets=app_state.datasets.list(RECENT_DATASETS),
    )
