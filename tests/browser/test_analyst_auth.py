"""With authentication on: a writer signs in and trains (the job page polls with the session
cookie), a reader signs in and may browse and score but sees no way to change anything."""

from __future__ import annotations

import re

import palmerpenguins
import pytest
from playwright.sync_api import Page, expect

from dsba.auth import hash_token, new_token

TRAINING_TIMEOUT_MS = 180_000


@pytest.fixture
def tokens() -> dict[str, str]:
    """A writer's and a reader's token."""
    return {"wanda": new_token(), "rita": new_token()}


def _sign_in(page: Page, base: str, name: str, token: str) -> None:
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.locator("#name").fill(name)
    page.locator("#token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in")).to_contain_text(f"Signed in as {name}")


def test_writers_train_and_readers_only_score(start_gunicorn, page, screenshot, tokens, tmp_path):
    entries = f"wanda:writer:{hash_token(tokens['wanda'])},rita:reader:{hash_token(tokens['rita'])}"
    server = start_gunicorn(DSBA_API_TOKENS=entries, DSBA_TRAIN_THREADS="1")
    base = server.url
    data = tmp_path / "penguins.csv"
    palmerpenguins.load_penguins().to_csv(data, index=False)

    _sign_in(page, base, "wanda", tokens["wanda"])
    expect(page.get_by_test_id("auth-off")).to_have_count(0)
    page.get_by_test_id("train-button").click()
    page.locator("#file").set_input_files(str(data))
    page.get_by_role("button", name="Upload and profile").click()
    page.locator("#target").select_option("species")
    page.get_by_text("Advanced settings").click()
    page.locator("#param_n_estimators").fill("10")
    page.get_by_test_id("train-submit").click()
    page.wait_for_url(re.compile(r"/models/penguins\?version=1$"), timeout=TRAINING_TIMEOUT_MS)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))

    _sign_in(page, base, "rita", tokens["rita"])
    expect(page.get_by_test_id("signed-in")).to_contain_text("reader")
    expect(page.get_by_test_id("train-button")).to_have_count(0)
    expect(page.get_by_role("link", name="Train", exact=True)).to_have_count(0)
    page.goto(f"{base}/models/penguins")
    expect(page.get_by_test_id("metric-accuracy")).to_be_visible()
    expect(page.get_by_test_id("alias-form")).to_have_count(0)
    expect(page.get_by_test_id("delete-v1")).to_have_count(0)
    screenshot(page, "model-reader")
    page.goto(f"{base}/train")
    expect(page.get_by_test_id("read-only")).to_be_visible()

    page.goto(f"{base}/models/penguins/predict")
    page.get_by_test_id("predict-submit").click()
    expect(page.get_by_test_id("predicted-label")).to_have_text(
        re.compile(r"^(Adelie|Chinstrap|Gentoo)$")
    )
