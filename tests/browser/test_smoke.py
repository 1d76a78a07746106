"""Chromium reaches the app served by the real gunicorn: the browser plumbing works."""

import json
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "static" / "vendor"


def _vendored_version(package: str) -> str:
    return (VENDOR / package / "VERSION").read_text().strip()


def test_healthz_in_chromium(live_server, page, screenshot):
    response = page.goto(f"{live_server.url}/healthz")

    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(page.inner_text("body")) == {"status": "ok"}
    path = screenshot(page, "smoke-healthz")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_vendored_assets_load_from_the_app(live_server, page):
    # An empty document at the app's origin: the app's own answers carry a policy that
    # forbids what this test injects (JSON gets default-src 'none', pages only their scripts).
    blank = f"{live_server.url}/blank-for-test"
    page.route(
        blank,
        lambda route: route.fulfill(
            status=200, content_type="text/html", body="<!doctype html><title>blank</title>"
        ),
    )
    page.goto(blank)
    static = f"{live_server.url}/static/vendor"

    page.add_style_tag(url=f"{static}/bootstrap/css/bootstrap.min.css")
    page.add_style_tag(url=f"{static}/swagger-ui/swagger-ui.css")
    for script in (
        "bootstrap/js/bootstrap.bundle.min.js",
        "chartjs/chart.umd.min.js",
        "swagger-ui/swagger-ui-standalone-preset.js",
        "swagger-ui/swagger-ui-bundle.js",
    ):
        page.add_script_tag(url=f"{static}/{script}")

    assert page.evaluate("bootstrap.Tooltip.VERSION") == _vendored_version("bootstrap")
    assert page.evaluate("Chart.version") == _vendored_version("chartjs")
    assert page.evaluate("document.styleSheets.length") == 2
    page.evaluate(
        """() => {
            document.body.innerHTML = '<div id="swagger-ui"></div>';
            SwaggerUIBundle({
                dom_id: "#swagger-ui",
                spec: {openapi: "3.0.3", info: {title: "vendored", version: "1"}, paths: {}},
            });
        }"""
    )
    assert page.locator("#swagger-ui .info .title").inner_text().startswith("vendored")
