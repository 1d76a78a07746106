"""The Flask layer: thin views over dsba, built by create_app() from register_* steps."""

from __future__ import annotations

import contextlib
from inspect import iscoroutinefunction
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from dsba.config import Settings
from webapp.api.fastjson import JSONProvider
from webapp.config import flask_config
from webapp.extensions import csrf
from webapp.request_stream import BoundedRequest
from webapp.state import init_state

ROOT = Path(__file__).resolve().parent.parent


class ClosingClient(FlaskClient):
    """Flask's test client, reading each answer whole and closing it as a WSGI server does.

    The request layer counts a request and writes its access line when the server closes the
    body; werkzeug's client closes an unbuffered answer only when the test closes it.
    """

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any):
        """Send a request; buffered=False streams the answer (closed by the test)."""
        return super().open(*args, buffered=buffered, **kwargs)


class DsbaFlask(Flask):
    """Flask that asks once per function whether it is a coroutine function, and reads bodies
    through BoundedRequest.

    Flask's ensure_sync runs inspect.iscoroutinefunction on every hook, view and handler of
    every request (13 times for a prediction); the answer never changes for a function.
    """

    _MAX_REMEMBERED = 1024
    request_class = BoundedRequest
    test_client_class = ClosingClient

    def ensure_sync(self, func):
        """Return func, or a sync wrapper of it if it is a coroutine function."""
        key = getattr(func, "__func__", func)  # a bound method is new on every access
        memo = self.__dict__.setdefault("_is_async", {})
        try:
            is_async = memo[key]
        except (KeyError, TypeError):
            is_async = iscoroutinefunction(func)
            if len(memo) < self._MAX_REMEMBERED:
                with contextlib.suppress(TypeError):
                    memo[key] = is_async
        return self.async_to_sync(func) if is_async else func


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment; config overrides Flask settings (tests)."""
    app = DsbaFlask(
        __name__,
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    app.json = JSONProvider(app)
    settings = (config or {}).pop("DSBA_SETTINGS", None) if config else None
    settings = settings or Settings.from_env()
    # Tests hand in a Key Vault client double here; Azure cannot be reached from them.
    vault_client = (config or {}).pop("DSBA_VAULT_CLIENT", None) if config else None
    vault = open_vault(settings, vault_client)
    environ = vault.environ() if vault else None
    app.config.from_mapping(flask_config(settings, environ))
    app.config.update(config or {})
    init_state(app, settings)
    register_extensions(app)
    register_hooks(app, settings, vault)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


def open_vault(settings: Settings, client: Any = None):
    """The Key Vault of DSBA_KEY_VAULT_URL, or None when the secrets come from the environment."""
    if not settings.key_vault_url:
        return None
    from dsba.vault import KeyVault

    return KeyVault(settings.key_vault_url, client)


def register_hooks(app: Flask, settings: Settings, vault: Any = None) -> None:
    """Logs first, then authentication; outermost, the WSGI layer every request passes
    (request id, client address, security headers, metrics, access line).

    With a Key Vault, the token table is the vault's, re-read every
    DSBA_KEY_VAULT_REFRESH_SECONDS.
    """
    from webapp.auth import init_auth
    from webapp.azure_monitor import init_azure_monitor
    from webapp.front_door import install_front_door
    from webapp.middleware import RequestLayer
    from webapp.observability import init_observability
    from webapp.security import header_sets

    init_observability(app, settings.log_json)
    table = None
    if vault is not None:
        from dsba.vault import RefreshingTokenTable

        initial = vault.environ_read.get("DSBA_API_TOKENS", "")
        table = RefreshingTokenTable(vault.tokens, initial, settings.key_vault_refresh_seconds)
    init_auth(
        app, settings.api_tokens, settings.is_production, settings.login_attempts_per_minute, table
    )
    install_front_door(app)
    init_azure_monitor(app)  # its timer goes first of all: refused requests are timed too
    app.wsgi_app = RequestLayer(
        app.wsgi_app, header_sets(settings.is_production), settings.proxy_hops
    )


def register_extensions(app: Flask) -> None:
    """Bind extension objects to the app."""
    hooks = app.before_request_funcs.setdefault(None, [])
    before = list(hooks)
    csrf.init_app(app)
    # front_door checks CSRF itself (csrf_gate), so WTF_CSRF_CHECK_DEFAULT is off and
    # Flask-WTF's own hook would only return: leaving it out spares every request a call.
    if not app.config["WTF_CSRF_CHECK_DEFAULT"]:
        hooks[:] = [hook for hook in hooks if hook in before]


def register_blueprints(app: Flask) -> None:
    """Register the API and the pages."""
    from webapp.api import register_api
    from webapp.pages import bp as pages_bp

    register_api(app)
    app.register_blueprint(pages_bp)


def register_errorhandlers(app: Flask) -> None:
    """Install the error handlers (after the API, so pages get HTML)."""
    from webapp.errors import register_errorhandlers as register

    register(app)
