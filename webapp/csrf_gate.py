"""CSRF checks only where a browser could be made to send the request.

Flask-WTF's own hook looks up the request, the app and the view through Flask's context
proxies on every request, an exempt API call included (about 40,000 instructions, a tenth of
a bare Flask echo). This hook asks the environ first and hands Flask-WTF only the requests
it has to judge, with the same exemptions (WTF_CSRF_CHECK_DEFAULT is off in
webapp/config.py, as Flask-WTF documents for a custom hook, so its own hook only returns;
webapp/front_door.py calls this one).
"""

from __future__ import annotations

from flask import Config

from webapp.extensions import csrf


def protect_forms(method: str, config: Config, bearer: bool) -> None:
    """Check the CSRF token of a state-changing request that relies on the session cookie."""
    # Browsers never add a bearer token on their own (a cross-site page cannot set the
    # header without a CORS preflight we do not answer), so such a request is not forged.
    if bearer or method not in config["WTF_CSRF_METHODS"] or not config["WTF_CSRF_ENABLED"]:
        return
    csrf.protect(apply_exemptions=True)
