"""A search in Chromium against the real gunicorn: choose it, follow it, read its leaderboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

TRAINING_TIMEOUT_MS = 180_000
SEARCH_SECONDS = "10"

pytestmark = pytest.mark.usefixtures("no_csp_violations")


def test_a_custom_search_shows_its_trials_then_its_leaderboard_and_retrain_keeps_it(
    training_server, page: Page, screenshot, penguins_csv
):
    page.goto(f"{training_server.url}/train")
    page.locator("#file").set_input_files(str(penguins_csv))
    page.get_by_role("button", name="Upload and profile").click()
    expect(page).to_have_url(re.compile(r"/datasets/[0-9a-f]{16}$"))

    # "Optimize for" offers the metrics of the target's task.
    optimize = page.locator("#optimize")
    page.locator("#target").select_option("body_mass_g")
    expect(optimize).to_have_value("rmse")
    expect(optimize.locator("optgroup[label=Classification]")).to_be_disabled()
    page.locator("#target").select_option("species")
    expect(optimize).to_have_value("accuracy")
    expect(optimize.locator("optgroup[label=Regression]")).to_be_disabled()
    optimize.select_option("balanced_accuracy")

    seconds = page.locator("#search_seconds")
    expect(seconds).to_be_hidden()
    page.locator("#search").select_option("custom")
    expect(seconds).to_be_visible()
    seconds.fill(SEARCH_SECONDS)
    page.locator("#name").fill("searched")
    page.get_by_test_id("search-choice").scroll_into_view_if_needed()
    screenshot(page, "search-form")
    page.get_by_test_id("train-submit").click()

    # The job page follows the search: trials done, time left, best score so far.
    expect(page.get_by_test_id("job-search-asked")).to_contain_text(
        f"for {SEARCH_SECONDS} s, by balanced accuracy"
    )
    status = page.get_by_test_id("job-search")
    expect(status).to_have_text(
        re.compile(
            r"^Searching: \d+ trials? done · \d+ s left · "
            r"best balanced accuracy so far [01](\.\d+)?\.$"
        ),
        timeout=60_000,
    )
    screenshot(page, "search-job")
    page.wait_for_url(re.compile(r"/models/searched\?version=1$"), timeout=TRAINING_TIMEOUT_MS)

    # The model page keeps the leaderboard, the winner first and highlighted.
    summary = page.get_by_test_id("search-summary")
    expect(summary).to_contain_text("scored by balanced accuracy")
    rows = page.get_by_test_id("leaderboard").locator("tbody tr")
    assert rows.count() >= 1
    winner = page.get_by_test_id("leaderboard-winner")
    expect(winner).to_have_count(1)
    expect(winner).to_have_class(re.compile(r"\btable-success\b"))
    expect(winner.locator("td").first).to_have_text("1")
    expect(winner).to_contain_text(page.get_by_test_id("search-winner").inner_text())
    more = page.get_by_test_id("leaderboard-more")
    if more.count():  # more than 20 trials: the others fold away until asked for
        expect(rows).to_have_count(20)
        expect(page.get_by_test_id("leaderboard-rest")).to_be_hidden()
        more.locator("summary").click()
        expect(page.get_by_test_id("leaderboard-rest")).to_be_visible()
    complete = page.locator("tr[data-state=complete] [data-testid=leaderboard-score]")
    scores = [float(s) for s in complete.all_inner_texts()]
    assert scores == sorted(scores, reverse=True)  # balanced accuracy: higher is better
    summary.scroll_into_view_if_needed()
    screenshot(page, "search-leaderboard")

    # Retrain comes back with the same search and metric chosen.
    page.get_by_test_id("retrain-link").click()
    expect(page.locator("#search")).to_have_value("custom")
    expect(seconds).to_have_value(SEARCH_SECONDS)
    expect(seconds).to_be_visible()
    expect(optimize).to_have_value("balanced_accuracy")
