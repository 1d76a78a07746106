"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response

# No inline script anywhere: pages load JS from /static only. Inline style attributes stay
# allowed because Bootstrap components and progress widths set them.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
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

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
