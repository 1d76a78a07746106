"""Swagger UI in Chromium: the introduction, a way back to the app, and the Authorize button."""

from __future__ import annotations

from urllib.parse import urljoin

from playwright.sync_api import Page, expect


def test_swagger_shows_the_quick_start_and_authorize(live_server, page: Page, screenshot):
    page.goto(f"{live_server.url}/api/docs")

    info = page.locator(".swagger-ui .info")
    expect(info.get_by_role("heading", name="Quick start")).to_be_visible()
    authorize = page.locator(".swagger-ui button.authorize")
    expect(authorize).to_be_visible()
    authorize.click()
    expect(page.locator(".swagger-ui .auth-container")).to_contain_text("bearerAuth")
    expect(page.locator(".swagger-ui .auth-container")).to_contain_text("http, Bearer")
    page.keyboard.press("Escape")
    expect(page.locator(".swagger-ui .auth-container")).to_have_count(0)
    screenshot(page, "api-docs")

    # Swagger UI opens description links in a new tab: follow the link's own address.
    href = info.get_by_role("link", name="web app").get_attribute("href")
    page.goto(urljoin(page.url, href))
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_visible()
