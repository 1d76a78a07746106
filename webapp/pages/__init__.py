"""The analyst's pages: server-rendered views over dsba, Flask-WTF forms, PRG with flash."""

from flask import Blueprint

bp = Blueprint("pages", __name__)

# The view modules attach their routes, filters and context processors to bp.
from webapp.pages import (  # noqa: E402,F401
    formatting,
    home,
    housekeeping,
    jobs,
    models,
    monitoring,
    predict,
    scoring,
    train,
)
