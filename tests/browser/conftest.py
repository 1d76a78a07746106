"""Playwright on Debian's Chromium: the browser, page and screenshot fixtures of tests/browser.

Recipe (Playwright 1.65 for Python, Debian's chromium 156): launch /usr/bin/chromium through
executable_path, no channel and no `playwright install`, which needs a download we cannot do.
Debian's /usr/bin/chromium is a shell wrapper that adds its own flags; Playwright accepts it.
Its dev-shm check may print "[: ...: unexpected operator" on hosts with two /dev/shm mounts:
harmless, and --disable-dev-shm-usage below makes the check moot.

While Playwright's sync API is alive it marks its event loop as running in the main thread
between calls, so asyncio.run() or an async Flask view in any later test would fail. Hence
the driver and the browser are module-scoped, not session-scoped: pytest stops them when it
leaves a browser test module (tests/ has no __init__.py, so "package" scope would last the
whole session). A launch costs about half a second per module.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import palmerpenguins
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1280, "height": 900}
BROWSER_TESTS = Path(__file__).resolve().parent
SCREENSHOT_DIR = BROWSER_TESTS.parent.parent / "test-artifacts" / "screenshots"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SCREENSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser as browser; skip them without Chromium."""
    missing = pytest.mark.skip(reason=f"{CHROMIUM} not found: run `make browser-deps`")
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(missing)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Run Playwright's driver for one test module, and check it released its event loop."""
    with sync_playwright() as driver:
        expect.set_options(timeout=TIMEOUT_MS)
        yield driver
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    pytest.fail(f"Playwright left its event loop running: {loop}")


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Launch one headless Debian Chromium for one test module."""
    chromium = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in {"http", "https", "ws", "wss"} or parts.hostname in LOOPBACK_HOSTS


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """Open a page in a fresh context; fail if it reached off the machine or threw."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    external: list[str] = []
    page_errors: list[str] = []
    # Assets are vendored: a request to another host means a CDN link crept in.
    context.route(
        lambda url: not _is_loopback(url),
        lambda route: (external.append(route.request.url), route.abort()),
    )
    new_page = context.new_page()
    new_page.on("pageerror", lambda error: page_errors.append(str(error)))
    yield new_page
    context.close()
    assert not external, f"the page requested other hosts: {external}"
    assert not page_errors, f"uncaught JavaScript errors: {page_errors}"


@pytest.fixture(scope="module")
def penguins_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """palmerpenguins as a CSV file, as an analyst would have it."""
    path = tmp_path_factory.mktemp("data") / "penguins.csv"
    palmerpenguins.load_penguins().to_csv(path, index=False)
    return path


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """Return shot(page, name) that saves a full-page PNG in test-artifacts/screenshots/."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)

    def shot(page: Page, name: str) -> Path:
        name = name.removesuffix(".png")
        assert SCREENSHOT_NAME.match(name), f"not a file name: {name!r}"
        path = SCREENSHOT_DIR / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


@pytest.fixture
def no_csp_violations(page: Page):
    """Fail a test whose pages broke the Content-Security-Policy (inline script or style)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield
    assert not violations, violations
