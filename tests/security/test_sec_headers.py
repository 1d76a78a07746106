"""Security headers on every kind of response, and no inline script anywhere in the UI."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from security_helpers import bearer, http, signed_in, wait_for_job

REPO = Path(__file__).resolve().parent.parent.parent
SAFE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}
UNSAFE_SCRIPT_SOURCES = {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"}
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}


def csp_directives(header: str) -> dict[str, list[str]]:
    """Parse a Content-Security-Policy header into {directive: [sources]}."""
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_security_headers(response) -> None:
    """The four headers of issue 6 (and a request id) on one response.

    A directive a policy leaves out falls back to default-src, as browsers apply it.
    """
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    headers = response.headers
    assert "Content-Security-Policy" in headers, where
    csp = csp_directives(headers["Content-Security-Policy"])
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts, where
    assert not UNSAFE_SCRIPT_SOURCES & set(scripts), (where, scripts)
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("object-src", csp.get("default-src")) == ["'none'"], where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in SAFE_REFERRER_POLICIES, where
    assert headers.get("X-Request-ID"), where


@pytest.fixture(scope="module")
def job_and_dataset(secure_server, tokens, penguins_csv) -> tuple[str, str]:
    """A stored dataset and a finished job on the shared server, for their pages."""
    session = http()
    session.headers.update(bearer(tokens.writer))
    stored = session.post(
        f"{secure_server.url}/api/datasets", files={"file": ("penguins.csv", penguins_csv)}
    )
    assert stored.status_code == 201, stored.text
    dataset_id = stored.json()["id"]
    body = {
        "dataset_id": dataset_id,
        "target": "species",
        "name": "headers",
        "params": {"n_estimators": 5},
    }
    started = session.post(f"{secure_server.url}/api/train", json=body)
    assert started.status_code == 202, started.text
    job = wait_for_job(secure_server.url, started.json()["id"], tokens.reader)
    assert job["state"] == "succeeded", job
    return job["id"], dataset_id


@pytest.fixture(scope="module")
def responses(secure_server, tokens, job_and_dataset) -> dict[str, object]:
    """One response of every kind the server gives, by a name for the failure message."""
    job_id, dataset_id = job_and_dataset
    base = secure_server.url
    anonymous = http()
    reader = http()
    reader.headers.update(bearer(tokens.reader))
    browser = signed_in(base, "wanda", tokens.writer)
    return {
        "API JSON": reader.get(f"{base}/api/models"),
        "API 401": anonymous.get(f"{base}/api/models"),
        "API 403": reader.delete(f"{base}/api/models/penguins/versions/1"),
        "API 404": reader.get(f"{base}/api/models/nope/metadata"),
        "API 405": reader.get(f"{base}/api/train"),
        "API 400": reader.post(f"{base}/api/predict", json={"model": "penguins"}),
        "OpenAPI": anonymous.get(f"{base}/api/openapi.json"),
        "Swagger UI": anonymous.get(f"{base}/api/docs"),
        "health": anonymous.get(f"{base}/healthz"),
        "ready": anonymous.get(f"{base}/readyz"),
        "metrics": reader.get(f"{base}/metrics"),
        "metrics 401": anonymous.get(f"{base}/metrics"),
        "static JS": anonymous.get(f"{base}/static/js/job.js"),
        "static CSS": anonymous.get(f"{base}/static/vendor/bootstrap/css/bootstrap.min.css"),
        "static 404": anonymous.get(f"{base}/static/nope.js"),
        "login page": anonymous.get(f"{base}/login"),
        "login redirect": anonymous.get(f"{base}/", allow_redirects=False),
        "home page": browser.get(f"{base}/"),
        "train page": browser.get(f"{base}/train"),
        "model page": browser.get(f"{base}/models/penguins"),
        "predict page": browser.get(f"{base}/models/penguins/predict"),
        "dataset page": browser.get(f"{base}/datasets/{dataset_id}"),
        "job page": browser.get(f"{base}/jobs/{job_id}"),
        "error page 404": browser.get(f"{base}/models/nope"),
        "error page no route": browser.get(f"{base}/no/such/page"),
        "page CSRF 400": browser.post(f"{base}/train", data={}),
    }


def test_every_kind_of_response_carries_the_security_headers(responses):
    statuses = {name: response.status_code for name, response in responses.items()}
    # The set really covers successes, redirects and client errors of both kinds.
    assert {200, 302, 400, 401, 403, 404, 405} <= set(statuses.values()), statuses
    assert "text/html" in responses["error page 404"].headers["Content-Type"]
    assert statuses["error page 404"] == 404
    for response in responses.values():
        assert_security_headers(response)


class ScriptAudit(HTMLParser):
    """Collect inline scripts with code, on* handler attributes and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._inline_script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"<{tag} {name}=...> handler at line {self.getpos()[0]}")
            if value and re.match(r"\s*javascript:", value, re.IGNORECASE):
                self.problems.append(f"<{tag} {name}='javascript:...'> at line {self.getpos()[0]}")
        if tag == "script" and "src" not in values:
            kind = (values.get("type") or "").lower()
            self._inline_script = None if kind in DATA_SCRIPT_TYPES else ""

    def handle_data(self, data: str) -> None:
        if self._inline_script is not None:
            self._inline_script += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            if self._inline_script is not None and self._inline_script.strip():
                self.problems.append(f"inline <script> with code ending at line {self.getpos()[0]}")
            self._inline_script = None


def audit_html(text: str) -> list[str]:
    """Problems of one HTML document or template."""
    parser = ScriptAudit()
    parser.feed(text)
    parser.close()
    return parser.problems


def test_audit_finds_what_it_looks_for():
    page = (
        '<script>alert(1)</script><script type="application/json">{"a": 1}</script>'
        '<a href="javascript:go()">x</a><button onclick="go()">y</button>'
        '<script src="/static/js/x.js"></script>'
    )
    assert len(audit_html(page)) == 3


def test_templates_have_no_inline_script_or_handlers():
    templates = sorted((REPO / "templates").rglob("*.html"))
    assert len(templates) >= 8
    problems = {
        str(path.relative_to(REPO)): found
        for path in templates
        if (found := audit_html(path.read_text()))
    }
    assert problems == {}


def test_rendered_pages_have_no_inline_script_or_handlers(responses):
    pages = {
        name: response
        for name, response in responses.items()
        if "text/html" in response.headers.get("Content-Type", "")
    }
    assert len(pages) >= 10
    problems = {name: found for name, r in pages.items() if (found := audit_html(r.text))}
    assert problems == {}


def test_our_javascript_builds_no_inline_handlers_and_evaluates_no_strings():
    scripts = sorted((REPO / "static" / "js").glob("*.js"))
    assert scripts
    handler_in_markup = re.compile(r"""<[a-z][^>]*\son[a-z]+\s*=""", re.IGNORECASE)
    handler_attribute = re.compile(r"""setAttribute\(\s*["']on""", re.IGNORECASE)
    evaluation = re.compile(
        r"""\beval\s*\(|\bnew\s+Function\s*\(|set(?:Timeout|Interval)\(\s*["'`]"""
    )
    problems = {
        path.name: pattern.pattern
        for path in scripts
        for pattern in (handler_in_markup, handler_attribute, evaluation)
        if pattern.search(path.read_text())
    }
    assert problems == {}


PAGE_ONLY = ("X-Frame-Options", "Cross-Origin-Opener-Policy", "Permissions-Policy")


def test_documents_get_the_page_set_and_other_answers_the_short_one(responses):
    for name, response in responses.items():
        html = "text/html" in response.headers.get("Content-Type", "")
        csp = csp_directives(response.headers["Content-Security-Policy"])
        if html:
            assert all(response.headers.get(h) for h in PAGE_ONLY), name
            assert csp["script-src"] == ["'self'"], name
        else:
            # A JSON answer, a script or a stylesheet loads nothing and may not be framed.
            assert not any(h in response.headers for h in PAGE_ONLY), name
            assert csp == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}, name


def _headers_added(content_type: str, production: bool) -> dict[str, str]:
    """The headers the request layer gives a response of content_type from a one-line WSGI app."""
    from webapp.middleware import RequestLayer
    from webapp.security import header_sets

    def wsgi(environ, start_response):
        start_response("200 OK", [("Content-Type", content_type)])
        return [b""]

    layer = RequestLayer(wsgi, header_sets(production))
    started = []
    layer({"PATH_INFO": "/x"}, lambda status, headers, exc=None: started.extend(headers))
    return dict(started)


def test_production_adds_hsts_to_pages_and_to_json_answers():
    page = _headers_added("text/html; charset=utf-8", production=True)
    answer = _headers_added("application/json", production=True)
    assert page["Strict-Transport-Security"] == answer["Strict-Transport-Security"]
    assert "X-Frame-Options" in page and "X-Frame-Options" not in answer
    assert "Strict-Transport-Security" not in _headers_added("application/json", production=False)
