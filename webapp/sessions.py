"""Flask's signed-cookie sessions, opened and saved only where a request has one."""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions, free for the requests that carry no session cookie.

    Flask builds a signing serializer for every request, API calls with a bearer token
    included (about 15 µs); this one builds it once per key and skips requests without the
    cookie, and it saves nothing for a session nobody touched: Flask would only look at the
    cookie settings and return.
    """

    def __init__(self) -> None:
        self._serializers: dict[tuple, URLSafeTimedSerializer] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer for the app's keys, made once per set of keys."""
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if keys not in self._serializers:
            self._serializers[keys] = super().get_signing_serializer(app)
        return self._serializers[keys]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session without a session cookie, else the cookie's (as Flask reads it)."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SecureCookieSession, response: Response) -> None:
        """Nothing to do for an empty session that was neither read nor changed."""
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)
