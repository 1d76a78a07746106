"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response, request

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


def init_security(app: Flask, production: bool) -> None:
    """Set the headers on every response; HSTS only where HTTPS is in front (production)."""
    headers = dict(HEADERS)
    if production:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    wanted = [(name.lower(), name, value) for name, value in headers.items()]

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        # One pass over the view's own headers, then appends: Headers.setdefault scans the
        # list and raises a KeyError for each absent name (about 20 µs on every response).
        present = {name.lower() for name in response.headers.keys()}  # noqa: SIM118
        for key, name, value in wanted:
            if key not in present:
                response.headers.add(name, value)
        if request.path == DOCS_PATH:
            response.headers["Content-Security-Policy"] = DOCS_POLICY
        return response
