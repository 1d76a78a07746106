"""CSRF checks only where a browser could be made to send the request.

Flask-WTF's own hook looks up the request, the app and the view through Flask's context
proxies on every request, an exempt API call included (about 40,000 instructions, a tenth of
a bare Flask echo). This hook asks the environ first and hands Flask-WTF only the requests
it has to judge, with the same exemptions (WTF_CSRF_CHECK_DEFAULT is off, as Flask-WTF
documents for a custom hook).
"""

from __future__ import annotations

from flask import Flask, request

from webapp.extensions import csrf


def init_csrf_gate(app: Flask) -> None:
    """Bind Flask-WTF and check CSRF in our own before-request hook instead of its."""
    csrf.init_app(app)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    config = app.config

    def protect_forms() -> None:
        """Check the CSRF token of a state-changing request that relies on the session cookie."""
        environ = request.environ
        if environ["REQUEST_METHOD"] not in config["WTF_CSRF_METHODS"]:
            return
        if not config["WTF_CSRF_ENABLED"]:
            return
        # Browsers never add a bearer token on their own (a cross-site page cannot set the
        # header without a CORS preflight we do not answer), so such a request is not forged.
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return
        csrf.protect(apply_exemptions=True)

    app.before_request(protect_forms)
