"""The app's one before-request hook for every request: request id, CSRF, access.

Three hooks cost three dispatches and each its own lookups through Flask's context proxies;
one hook looks the request, `g` and the app's objects up once and calls the three in order.
The order matters: the request id and access line first, so that every request, a refused
form post included, logs its route and user; then CSRF; then the token or session check.
"""

from __future__ import annotations

from flask import Flask, g, request

from webapp.auth import check_access
from webapp.csrf_gate import protect_forms
from webapp.observability import bind


def install_front_door(app: Flask) -> None:
    """Make front_door the first before-request hook of every request."""
    config, extensions = app.config, app.extensions

    def front_door():
        """Bind the request id, check CSRF, identify the caller; a response refuses it."""
        req, ctx = request._get_current_object(), g._get_current_object()
        bind(req, ctx)
        protect_forms(req.environ, config)
        return check_access(req, ctx, extensions["dsba_tokens"])

    app.before_request_funcs.setdefault(None, []).insert(0, front_door)
