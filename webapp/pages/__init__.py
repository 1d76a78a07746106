"""The analyst's pages: server-rendered, Flask-WTF forms."""

from flask import Blueprint

bp = Blueprint("pages", __name__)

from webapp.pages import routes  # noqa: E402,F401  (routes attach themselves to bp)
