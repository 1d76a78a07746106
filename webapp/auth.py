"""Who is asking: bearer tokens for the API, a login session for pages, two roles."""

from __future__ import annotations

import hmac
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import TooManyRequests
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from dsba.auth import READER, WRITER, TokenTable, User, parse_tokens
from dsba.errors import InvalidInput
from webapp.sessions import CookieSessions

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = {
    "static",
    "auth.login",
    "auth.logout",
    "health.Health",
    "health.Ready",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
}
# API calls a reader may make besides GETs.
READER_API_POSTS = {"predict.Predict", "predict.Invocations", "scoring.ScoreFile"}
# Page forms a reader may post: scoring is reading.
READER_PAGE_POSTS = {
    "pages.predict",
    "pages.predict_batch",
    "pages.model_predict",
    "pages.batch_predict",
}
# A browser that signed in as a name carries it, signed, for a month: others' failed
# attempts on that name do not lock it out (see LoginLimiter).
KNOWN_LOGIN_COOKIE = "dsba_known_login"
KNOWN_LOGIN_SECONDS = 30 * 24 * 3600


class LoginForm(FlaskForm):
    """User name and API token."""

    name = StringField("User", validators=[DataRequired(), Length(max=64)])
    token = PasswordField("Token", validators=[DataRequired(), Length(max=512)])


class MinuteWindows:
    """Events per key over the last minute, for one worker process."""

    # Past this many keys, those idle for a minute are forgotten: a flood from many
    # addresses (or names) must not grow a worker's memory for ever.
    MAX_TRACKED = 10_000

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.events: dict[str, deque[float]] = defaultdict(deque)

    def full(self, key: str, now: float) -> bool:
        """Whether key already had `limit` events in the minute before now."""
        if len(self.events) > self.MAX_TRACKED:
            idle = [k for k, w in self.events.items() if not w or now - w[-1] > 60]
            for stale in idle:
                del self.events[stale]
        window = self.events[key]
        while window and now - window[0] > 60:
            window.popleft()
        return len(window) >= self.limit

    def add(self, key: str, now: float) -> None:
        """Count one event for key."""
        self.events[key].append(now)


class LoginLimiter:
    """Per minute and worker: N attempts per client address, and ACCOUNT_FACTOR * N failed
    attempts per account name, unless the browser signed in as that name before."""

    # One address cannot lock an account out (its own attempts stop at N); guessing one
    # account from many addresses still stops at ACCOUNT_FACTOR * N a minute.
    ACCOUNT_FACTOR = 4

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.addresses = MinuteWindows(per_minute)
        self.accounts = MinuteWindows(per_minute * self.ACCOUNT_FACTOR)

    def check(self, address: str, account: str, known: bool = False) -> None:
        """Record an attempt; refuse it when the address's or the account's window is full."""
        now = time.monotonic()
        address_full = self.addresses.full(address, now)
        # A browser that once signed in as this name is not held back by others' failures.
        if address_full or (not known and self.accounts.full(account, now)):
            raise TooManyRequests("too many login attempts; wait a minute and try again")
        self.addresses.add(address, now)

    def failed(self, account: str) -> None:
        """Count a failed attempt against the account name it tried."""
        self.accounts.add(account, time.monotonic())


def tokens() -> TokenTable:
    """The token table of the current app."""
    return current_app.extensions["dsba_tokens"]


def bearer_token(environ: dict) -> str | None:
    """The request's bearer token, or None (read straight from the environ, once a request)."""
    # werkzeug's header view would build a key per lookup.
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def _session_user() -> User | None:
    name, prefix = session.get("user"), session.get("key")
    return tokens().user_named(name, prefix) if name and prefix else None


def _required_role(req: Request) -> str:
    if req.method in ("GET", "HEAD", "OPTIONS"):
        return READER
    endpoint = req.endpoint or ""
    if endpoint in READER_API_POSTS or endpoint in READER_PAGE_POSTS:
        return READER
    return WRITER


def may_write() -> bool:
    """Whether the caller may do writer actions (everyone may when auth is off)."""
    user = getattr(g, "user", None)
    return not tokens().enabled or (user is not None and user.can(WRITER))


def _api_unauthorized(message: str):
    from webapp.errors import error_response

    return error_response(401, message, headers={"WWW-Authenticate": 'Bearer realm="dsba"'})


def _metrics_access(token: str | None, table: TokenTable):
    """/metrics names models and their volumes: the metrics token or an API token reads it.

    Open only where no token of either kind is configured (a laptop; production has tokens).
    """
    expected = current_app.config.get("DSBA_METRICS_TOKEN") or ""
    if expected and token and hmac.compare_digest(token.encode(), expected.encode()):
        return None
    if not expected and not table.enabled:
        return None
    g.user = table.authenticate(token) if token is not None else _session_user()
    if g.user is None:
        return _api_unauthorized("/metrics needs the metrics token or an API token")
    return None


def check_access(req: Request, ctx, table: TokenTable, token: str | None):
    """Identify the caller (token: bearer_token's) and refuse what their role does not allow.

    front_door calls it.
    """
    ctx.user = None
    endpoint = req.endpoint
    if endpoint == "metrics":
        return _metrics_access(token, table)
    if not table.enabled or endpoint in PUBLIC_ENDPOINTS:
        return None
    is_api = req.path.startswith("/api")
    if token is not None:
        ctx.user = table.authenticate(token)
    elif not is_api or req.method == "GET":
        # The session cookie works for pages, and for the API only where CSRF cannot bite.
        ctx.user = _session_user()
    user = ctx.user
    if user is None:
        if is_api:
            return _api_unauthorized("missing or invalid API token")
        return redirect(url_for("auth.login", next=req.full_path.rstrip("?")))
    if not user.can(_required_role(req)):
        from webapp.errors import error_response

        return error_response(403, f"user {user.name!r} ({user.role}) may not do this")
    return None


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not (target or "").startswith("/"):
        return url_for("pages.home")
    return target


def _known_logins() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="dsba-known-login")


def _known_name() -> str | None:
    """The name this browser last signed in as (a signed cookie), if any."""
    raw = request.cookies.get(KNOWN_LOGIN_COOKIE)
    if not raw:
        return None
    try:
        return _known_logins().loads(raw, max_age=KNOWN_LOGIN_SECONDS)
    except BadSignature:
        return None


def _remember_login(response: Response, name: str) -> Response:
    """Mark this browser as one that signed in as name, for the login limiter."""
    response.set_cookie(
        KNOWN_LOGIN_COOKIE,
        _known_logins().dumps(name),
        max_age=KNOWN_LOGIN_SECONDS,
        path=url_for("auth.login"),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with a user name and API token."""
    if not tokens().enabled:
        return redirect(url_for("pages.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        limiter = current_app.extensions["dsba_login_limiter"]
        name = form.name.data
        # remote_addr is the client's once the request layer read X-Forwarded-For (PROXY_HOPS).
        limiter.check(request.remote_addr or "?", name, known=_known_name() == name)
        user = tokens().authenticate(form.token.data)
        if user is not None and user.name == name:
            session.clear()
            session["user"] = user.name
            session["key"] = tokens().digest_prefix(form.token.data)
            flash(f"Signed in as {user.name} ({user.role}).", "success")
            return _remember_login(redirect(_safe_next(request.args.get("next"))), user.name)
        limiter.failed(name)
        flash("Unknown user or wrong token.", "danger")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    """Sign out (POST with a CSRF token, so another site cannot sign a user out)."""
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login") if tokens().enabled else url_for("pages.home"))


def inject_user():
    """Template variables: whether auth is on and who is signed in."""
    user = getattr(g, "user", None)
    return {
        "auth_enabled": tokens().enabled,
        "current_user": {"name": user.name, "role": user.role} if user else None,
    }


def init_auth(
    app: Flask, raw_tokens: str, production: bool, per_minute: int, table: TokenTable | None = None
) -> None:
    """Configure tokens and hooks; production refuses to start without credentials.

    A given table (the Key Vault's, which refreshes itself) replaces raw_tokens.
    """
    table = table if table is not None else TokenTable(parse_tokens(raw_tokens))
    if production and not table.enabled:
        raise InvalidInput("DSBA_ENV=production needs DSBA_API_TOKENS (name:role:sha256 entries)")
    app.extensions["dsba_tokens"] = table
    app.extensions["dsba_login_limiter"] = LoginLimiter(per_minute)
    app.session_interface = CookieSessions()
    app.context_processor(inject_user)
    app.register_blueprint(bp)
