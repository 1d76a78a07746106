"""Flask's signed-cookie sessions, opened and saved only where a request has one."""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions, free for the requests that carry no session cookie.

    Flask builds a signing serializer and parses the Cookie header for every request, API
    calls with a bearer token included (about 15 µs); this one builds the serializer once per
    set of keys, skips requests without a Cookie header, and saves nothing for an empty session
    nobody touched (Flask would only read the cookie settings and return).
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
        # No Cookie header at all (API clients): parsing it would build an exception per miss.
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SecureCookieSession, response: Response) -> None:
        """Nothing to do for an empty session that was neither read nor changed."""
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)
