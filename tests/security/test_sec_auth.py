"""Authentication and roles on the real gunicorn: nothing without credentials, readers only read."""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from security_helpers import RECORD, bearer, csrf_token, http, login, signed_in

from dsba.auth import READER, WRITER, TokenTable, User, hash_token, new_token

REPO = Path(__file__).resolve().parent.parent.parent
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
# Path parameters filled with values that exist (or could) in the shared server's store.
PATH_VALUES = {
    "ref": "penguins",
    "name": "penguins",
    "alias": "production",
    "version": "1",
    "dataset_id": "0123456789abcdef",
    "job_id": "0" * 32,
    "token": "A" * 32,
    "filename": "js/job.js",
}
# Everything an anonymous caller may reach: probes and the API's own documentation.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
}
# Reached anonymously by design: the sign-in page, signing out, and static assets.
SIGN_IN_AND_ASSETS = {"/login", "/logout", "/static/<path:filename>"}


def fill(path: str) -> str:
    """Replace {name} (OpenAPI) and <conv:name> (Flask) parameters with plausible values."""
    path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PATH_VALUES[m.group(1)], path)


def fresh_python(code: str, **env: str) -> dict:
    """Run code in a new interpreter in the repo (the real packages, not tests/webapp's
    namespace shadow) with a clean DSBA_* environment; return the JSON of its last line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DSBA_")}
    clean.pop("SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


URL_MAP = """
import json
from webapp import create_app
app = create_app()
print(json.dumps(sorted(
    (method, rule.rule, rule.endpoint)
    for rule in app.url_map.iter_rules()
    for method in rule.methods - {"HEAD", "OPTIONS"}
)))
"""

START_APP = """
import json
from dsba.errors import DsbaError
from webapp import create_app
try:
    app = create_app()
except DsbaError as error:
    print(json.dumps({"error": type(error).__name__, "message": error.message}))
else:
    keys = ("SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE")
    print(json.dumps({key: app.config[key] for key in keys}))
"""


@pytest.fixture(scope="module")
def url_rules(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) for every route of create_app(), HEAD and OPTIONS aside."""
    registry = tmp_path_factory.mktemp("url_map")
    return [tuple(row) for row in fresh_python(URL_MAP, DSBA_REGISTRY_DIR=str(registry))]


@pytest.fixture(scope="module")
def openapi(secure_server) -> dict:
    """The live server's OpenAPI document (public)."""
    response = http().get(f"{secure_server.url}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def openapi_operations(spec: dict) -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in an OpenAPI document."""
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    )


def test_every_api_operation_in_openapi_is_refused_without_credentials(secure_server, openapi):
    operations = openapi_operations(openapi)
    # The document lists the whole API; an empty one would prove nothing.
    assert len(operations) >= 13, operations
    session = http()
    answered = {}
    for method, path in operations:
        response = session.request(method, secure_server.url + fill(path), json={}, timeout=10)
        answered[(method, path)] = response.status_code
        if (method, path) in PUBLIC:
            assert response.status_code == 200, (method, path, response.text[:200])
            continue
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["message"] == "missing or invalid API token"
    public_in_spec = {op for op, status in answered.items() if status != 401}
    assert public_in_spec == {("GET", "/healthz"), ("GET", "/readyz")}


def test_every_api_route_of_the_app_is_in_the_openapi_document(url_rules, openapi):
    documented = {(method, fill(path)) for method, path in openapi_operations(openapi)}
    routed = {
        (method, fill(rule))
        for method, rule, _ in url_rules
        if rule.startswith("/api/") and rule not in ("/api/openapi.json", "/api/docs")
    }
    assert routed <= documented, routed - documented


def test_only_probes_and_api_docs_are_public(secure_server):
    session = http()
    for method, path in sorted(PUBLIC):
        response = session.request(method, secure_server.url + path, timeout=10)
        assert response.status_code == 200, (path, response.status_code)


def test_every_route_answers_an_anonymous_caller_with_401_or_a_login_redirect(
    secure_server, url_rules
):
    session = http()
    # A CSRF token of this anonymous session, so page POSTs reach the auth check itself.
    token = csrf_token(session.get(f"{secure_server.url}/login", timeout=10).text)
    checked = 0
    for method, rule, endpoint in url_rules:
        if (method, rule) in PUBLIC or rule in SIGN_IN_AND_ASSETS:
            continue
        url = secure_server.url + fill(rule)
        data = {"csrf_token": token} if method != "GET" else None
        response = session.request(method, url, data=data, allow_redirects=False, timeout=10)
        checked += 1
        if rule.startswith("/api/"):
            assert response.status_code == 401, (method, rule, response.status_code)
            assert response.headers["Content-Type"] == "application/json"
        elif rule == "/metrics":  # a scraper, not a browser: no login page
            assert response.status_code == 401, response.status_code
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert response.status_code == 302, (method, rule, response.status_code)
            location = response.headers["Location"]
            assert location.startswith("/login?next="), (method, rule, location)
    page_gets = [r for m, r, e in url_rules if m == "GET" and e.startswith("pages.")]
    assert {"/", "/train", "/models/<name>"} <= set(page_gets)
    assert checked >= 25


def test_anonymous_page_visit_keeps_where_it_was_going(secure_server):
    response = http().get(f"{secure_server.url}/models/penguins?version=1", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/models/penguins?version%3D1"


def test_wrong_token_gets_exactly_the_answer_of_a_missing_one(secure_server, tokens):
    session = http()
    url = f"{secure_server.url}/api/models"
    headers_variants = [
        {},
        bearer("wrong"),
        bearer(tokens.reader[:-1] + ("x" if tokens.reader[-1] != "x" else "y")),
        bearer(hash_token(tokens.writer)),  # the configured hash is not a token
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {base64.b64encode(b'wanda:' + tokens.writer.encode()).decode()}"},
        {"Authorization": tokens.writer},  # no scheme
    ]
    answers = set()
    for headers in headers_variants:
        response = session.get(url, headers=headers, timeout=10)
        answers.add((response.status_code, response.text, response.headers.get("WWW-Authenticate")))
    assert len(answers) == 1, answers
    status, body, challenge = answers.pop()
    assert status == 401
    assert json.loads(body) == {
        "code": 401,
        "status": "Unauthorized",
        "message": "missing or invalid API token",
    }
    assert challenge == 'Bearer realm="dsba"'


def test_authenticate_compares_every_hash_in_constant_time(monkeypatch):
    tokens = {role: new_token() for role in ("w", "r1", "r2")}
    table = TokenTable(
        {
            hash_token(tokens["w"]): User("w", WRITER),
            hash_token(tokens["r1"]): User("r1", READER),
            hash_token(tokens["r2"]): User("r2", READER),
        }
    )
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def counting(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for presented, expected in [
        (tokens["w"], User("w", WRITER)),
        (tokens["r2"], User("r2", READER)),
        ("wrong", None),
        (None, None),
    ]:
        calls.clear()
        assert table.authenticate(presented) == expected
        # Every configured hash is compared, found or not, so timing says nothing of which.
        assert sorted(b for _, b in calls) == sorted(table.users)
        assert {a for a, _ in calls} == {hash_token(presented or "")}


def test_reader_is_refused_every_writer_action_and_the_store_is_untouched(
    secure_server, tokens, penguins_csv
):
    session = http()
    session.headers.update(bearer(tokens.reader))
    base = secure_server.url
    model_dir = secure_server.registry_dir / "models" / "penguins"
    before = sorted(p.name for p in model_dir.iterdir())
    # The server is shared: other files' writers may have stored datasets before this test.
    datasets_before = stored_datasets(secure_server.registry_dir)
    refused = [
        session.post(f"{base}/api/datasets", files={"file": ("p.csv", penguins_csv)}),
        session.post(
            f"{base}/api/train", json={"source": "penguins.csv", "target": "species", "name": "x"}
        ),
        session.put(f"{base}/api/models/penguins/aliases/production", json={"version": 1}),
        session.delete(f"{base}/api/models/penguins/versions/1"),
        session.post(f"{base}/api/feedback", json={"feedback": [{"id": "x", "label": "Adelie"}]}),
    ]
    for response in refused:
        assert response.status_code == 403, (response.request.method, response.request.url)
        assert response.json()["message"] == "user 'rita' (reader) may not do this"
    assert sorted(p.name for p in model_dir.iterdir()) == before
    assert stored_datasets(secure_server.registry_dir) == datasets_before


def stored_datasets(registry_dir) -> list[str]:
    """Everything under the store's datasets folder, relative to it (none if it is absent)."""
    root = registry_dir / "datasets"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_reader_may_list_read_metadata_and_predict(secure_server, tokens):
    session = http()
    session.headers.update(bearer(tokens.reader))
    base = secure_server.url
    answers = [
        session.get(f"{base}/api/models"),
        session.get(f"{base}/api/models/penguins/metadata"),
        session.get(f"{base}/api/jobs"),
        session.get(f"{base}/api/datasets"),
        session.post(f"{base}/api/predict", json={"model": "penguins", "records": [RECORD]}),
        session.post(
            f"{base}/api/models/penguins/invocations", json={"dataframe_records": [RECORD]}
        ),
        session.get(f"{base}/api/models/penguins/monitoring"),
        session.get(f"{base}/api/models/penguins/predictions?format=csv"),
    ]
    for response in answers:
        assert response.status_code == 200, (response.request.url, response.text[:300])
    assert "penguins" in [model["name"] for model in answers[0].json()]
    assert answers[4].json()["predictions"][0]["label"] == "Gentoo"


def test_writer_may_do_writer_actions(secure_server, tokens):
    session = http()
    session.headers.update(bearer(tokens.writer))
    base = secure_server.url
    alias = session.put(f"{base}/api/models/penguins/aliases/staging", json={"version": 1})
    assert alias.status_code == 200, alias.text
    assert alias.json()["aliases"]["staging"] == 1
    # Past auth, a delete of a version that does not exist is the store's 404, not a 401/403.
    missing = session.delete(f"{base}/api/models/penguins/versions/999")
    assert missing.status_code == 404
    labels = session.post(f"{base}/api/feedback", json={"feedback": [{"id": "x", "label": "y"}]})
    assert (
        labels.status_code == 200
        and labels.json()["invalid"] == []
        and labels.json()["unmatched"] == 1
    )


def test_reader_signed_in_reads_pages_but_cannot_post_writer_forms(secure_server, tokens):
    session = signed_in(secure_server.url, "rita", tokens.reader)
    page = session.get(f"{secure_server.url}/models/penguins", timeout=10)
    assert page.status_code == 200
    assert "rita" in page.text
    # The page offers a reader no writer forms; a hand-made POST still needs a CSRF token.
    token = csrf_token(session.get(f"{secure_server.url}/login", timeout=10).text)
    refused = session.post(
        f"{secure_server.url}/models/penguins/aliases",
        data={"csrf_token": token, "alias": "production", "version": "1"},
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 403
    assert "text/html" in refused.headers["Content-Type"]
    assert "may not do this" in refused.text


def test_login_form_sets_a_protected_session_cookie_and_logout_ends_it(secure_server, tokens):
    base = secure_server.url
    session = http()
    response = login(session, base, "wanda", tokens.writer)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # only in production, behind HTTPS
    assert tokens.writer not in cookie
    home = session.get(f"{base}/", allow_redirects=False, timeout=10)
    assert home.status_code == 200
    assert "Signed in as" in home.text and "wanda" in home.text
    # A session cookie works for GETs under /api too (same origin, no CSRF risk).
    assert session.get(f"{base}/api/models", timeout=10).status_code == 200
    # ...but never for API writes, where only a bearer token counts.
    write = session.put(f"{base}/api/models/penguins/aliases/x", json={"version": 1}, timeout=10)
    assert write.status_code == 401

    # Signing out is a POST with the CSRF token, so another site cannot sign a user out.
    assert session.get(f"{base}/logout", allow_redirects=False, timeout=10).status_code == 405
    out = session.post(
        f"{base}/logout",
        data={"csrf_token": csrf_token(home.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 302
    again = session.get(f"{base}/", allow_redirects=False, timeout=10)
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/login")


def test_login_with_a_wrong_token_or_name_is_refused(secure_server, tokens):
    for name, token in [("wanda", "wrong"), ("rita", tokens.writer), ("nobody", tokens.reader)]:
        session = http()
        response = login(session, secure_server.url, name, token)
        assert response.status_code == 401
        assert "Unknown user or wrong token." in response.text
        assert session.get(f"{secure_server.url}/", allow_redirects=False).status_code == 302


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example"],
)
def test_login_never_redirects_off_site(secure_server, tokens, target):
    session = http()
    page = session.get(f"{secure_server.url}/login", timeout=10)
    response = session.post(
        f"{secure_server.url}/login",
        params={"next": target},
        data={"csrf_token": csrf_token(page.text), "name": "wanda", "token": tokens.writer},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    # Read the Location as a browser does: tabs and newlines dropped, backslashes as slashes.
    location = re.sub(r"[\t\n\r]", "", response.headers["Location"]).replace("\\", "/")
    landing = urljoin(f"{secure_server.url}/login", location)
    assert urlsplit(landing).netloc == urlsplit(secure_server.url).netloc, location


def test_auth_off_shows_the_banner(live_server):
    page = http().get(f"{live_server.url}/", timeout=10)
    assert page.status_code == 200
    assert "Authentication is off" in page.text


def test_auth_on_hides_the_banner(secure_server, tokens):
    session = signed_in(secure_server.url, "wanda", tokens.writer)
    assert "Authentication is off" not in session.get(f"{secure_server.url}/").text


def test_production_refuses_to_start_without_secret_key(tmp_path, tokens):
    env = {"DSBA_REGISTRY_DIR": str(tmp_path), "DSBA_API_TOKENS": tokens.env}
    result = fresh_python(START_APP, DSBA_ENV="production", **env)
    assert result == {
        "error": "InvalidInput",
        "message": "DSBA_ENV=production needs SECRET_KEY to be set",
    }


def test_production_refuses_to_start_without_tokens(tmp_path):
    env = {"DSBA_REGISTRY_DIR": str(tmp_path), "SECRET_KEY": "k" * 64}
    result = fresh_python(START_APP, DSBA_ENV="production", **env)
    assert result["error"] == "InvalidInput"
    assert result["message"].startswith("DSBA_ENV=production needs DSBA_API_TOKENS")


def test_production_with_both_starts_with_secure_cookies(tmp_path, tokens):
    env = {"DSBA_REGISTRY_DIR": str(tmp_path), "DSBA_API_TOKENS": tokens.env}
    result = fresh_python(START_APP, DSBA_ENV="production", SECRET_KEY="k" * 64, **env)
    assert result == {
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }


def test_gunicorn_refuses_to_start_in_production_without_secret_key(tmp_path, tokens):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSBA_", "WEB_CONC"))}
    env.pop("SECRET_KEY", None)
    env.update(
        DSBA_ENV="production",
        DSBA_API_TOKENS=tokens.env,
        DSBA_REGISTRY_DIR=str(tmp_path),
        DSBA_BIND="127.0.0.1:0",
        WEB_CONCURRENCY="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "DSBA_ENV=production needs SECRET_KEY to be set" in done.stderr
    assert tokens.writer not in done.stderr + done.stdout
