"""The app's one before-request hook for every request: request id, CSRF, access.

Three hooks cost three dispatches and each its own lookups through Flask's context proxies;
one hook looks the request, `g` and the app's objects up once and calls the three in order.
The order matters: the request id and access line first, so that every request, a refused
form post included, logs its route and user; then CSRF; then the token or session check.
"""

from __future__ import annotations

from flask import Flask, g, request

from webapp.auth import bearer_token, check_access
from webapp.csrf_gate import protect_forms
from webapp.observability import bind


def install_front_door(app: Flask) -> None:
    """Make front_door the first before-request hook of every request."""
    config, extensions = app.config, app.extensions

    def front_door():
        """Bind the request id, check CSRF, identify the caller; a response refuses it."""
        req, ctx = request._get_current_object(), g._get_current_object()
        environ = req.environ
        token = bearer_token(environ)  # read once: CSRF and the access check both need it
        bind(req, ctx)
        protect_forms(environ["REQUEST_METHOD"], config, token is not None)
        return check_access(req, ctx, extensions["dsba_tokens"], token)

    app.before_request_funcs.setdefault(None, []).insert(0, front_door)
