"""Security headers on every response: the full set on documents, a short one on the rest."""

from __future__ import annotations

# No inline script or style anywhere: pages load JS and CSS from /static only.
DIRECTIVES = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]
CONTENT_SECURITY_POLICY = "; ".join(DIRECTIVES)
# Swagger UI's bundle writes style attributes while rendering; scripts stay 'self' only.
DOCS_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
DOCS_PATH = "/api/docs"
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# What a response that is not an HTML document needs (OWASP's REST security headers): it
# loads nothing and may not be framed; the page-only headers (X-Frame-Options, which
# frame-ancestors supersedes, COOP, Permissions-Policy) and the page policy's sources are
# left off. gunicorn checks every header value with a regular expression, so each header
# and each character of the page policy costs a JSON answer time: about 1.2 µs a header
# (gunicorn 27, measured).
RESOURCE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HSTS = ("Strict-Transport-Security", "max-age=31536000")


class _Set:
    """One set of ready-made headers: (lowercase name, (name, value)) pairs, and the pairs."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.keyed = [(name.lower(), (name, value)) for name, value in headers.items()]
        self.pairs = tuple(pair for _, pair in self.keyed)


class HeaderSets:
    """The ready-made headers for pages, the API docs page and everything else.

    Appending ready-made (name, value) pairs as the response starts costs about 1 µs; adding
    them to each Response through werkzeug's Headers, which checks every value, cost 20.
    """

    def __init__(self, headers: dict[str, str], resource_headers: dict[str, str]) -> None:
        self.page = _Set(headers)
        self.docs = _Set({**headers, "Content-Security-Policy": DOCS_POLICY})
        self.resource = _Set(resource_headers)
        self.names = {key for key, _ in self.page.keyed + self.docs.keyed + self.resource.keyed}

    def extend(self, headers: list, request_id: str, docs: bool = False) -> list:
        """The response's headers with its X-Request-ID and the security headers a view did not
        set itself (on /api/docs, the docs policy replaces the view's)."""
        if docs:
            headers = [h for h in headers if h[0].lower() != "content-security-policy"]
        present = []
        wanted = self.resource
        for name, value in headers:
            key = name.lower()
            if key == "content-type":
                if value.startswith("text/html"):
                    wanted = self.docs if docs else self.page
            elif key in self.names:
                present.append(key)
        if not present:  # the usual answer: every security header is ours to add
            return [*headers, ("X-Request-ID", request_id), *wanted.pairs]
        return [
            *headers,
            ("X-Request-ID", request_id),
            *[pair for key, pair in wanted.keyed if key not in present],
        ]


def header_sets(production: bool) -> HeaderSets:
    """The headers of every response; HSTS only where HTTPS is in front (production)."""
    headers, resource = dict(HEADERS), dict(RESOURCE_HEADERS)
    if production:
        headers[HSTS[0]] = resource[HSTS[0]] = HSTS[1]
    return HeaderSets(headers, resource)
