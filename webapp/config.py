"""Flask settings, read from the environment once at start-up."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from dsba.config import Settings
from dsba.errors import InvalidInput
from dsba.store.atomic import atomic_write_bytes


def _dev_secret_key(registry_dir: Path) -> str:
    """A key kept in the store so every worker (and restart) signs sessions alike."""
    path = registry_dir / ".dev-secret-key"
    if not path.exists():
        # Workers start together: the first link wins and every worker reads the winner back.
        candidate = registry_dir / f".dev-secret-key.{os.getpid()}"
        registry_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(candidate, secrets.token_hex(32).encode())
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        except OSError:
            os.replace(candidate, path)  # a filesystem without hard links
        finally:
            candidate.unlink(missing_ok=True)
    return path.read_text().strip()


def _seconds(env: Any, key: str, default: float) -> float:
    """A non-negative number of seconds from the environment."""
    text = env.get(key, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses NaN
        raise InvalidInput(f"{key} must be a number of seconds (0 or more), not {text!r}")
    return value


def flask_config(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Flask, Flask-WTF and flask-smorest settings for these dsba settings."""
    env = os.environ if environ is None else environ
    secret = env.get("SECRET_KEY")
    if not secret:
        if settings.is_production:
            raise InvalidInput("DSBA_ENV=production needs SECRET_KEY to be set")
        secret = _dev_secret_key(settings.registry_dir)
    return {
        "SECRET_KEY": secret,
        # The bearer token a Prometheus scraper presents for /metrics (API tokens work too).
        "DSBA_METRICS_TOKEN": env.get("DSBA_METRICS_TOKEN", ""),
        # Drift and status gauges on /metrics are recomputed at most this often (seconds).
        "DSBA_MONITORING_METRICS_SECONDS": _seconds(env, "DSBA_MONITORING_METRICS_SECONDS", 300),
        # Room for multipart overhead on top of the largest allowed file.
        "MAX_CONTENT_LENGTH": settings.max_upload_bytes + 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.is_production,
        "WTF_CSRF_TIME_LIMIT": None,
        # front_door checks CSRF (csrf_gate.protect_forms); Flask-WTF's own hook then returns.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "API_TITLE": "dsba-platform",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/static/vendor/swagger-ui/",
        # Swagger UI would otherwise call validator.swagger.io from the browser.
        "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
    }
