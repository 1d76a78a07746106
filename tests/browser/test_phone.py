"""Phone-sized screens (390 x 844, an iPhone 12-15) in Chromium: nothing is cut off or split."""

from __future__ import annotations

from collections.abc import Iterator

import palmerpenguins
import pytest
import requests
from datagen import penguins_model
from playwright.sync_api import Browser, Page, expect

PHONE = {"width": 390, "height": 844}
# Long enough to need wrapping on a phone, as real model names are.
NAME = "penguin-species-from-measurements"

# Words of the visible text of selector that a line break cuts in two. Words end at spaces,
# hyphens, en dashes ("0.05–1"), and the underscores and dots a <wbr> follows (breakable).
SPLIT_WORDS = """(selector) => {
  const split = [];
  for (const element of document.querySelectorAll(selector)) {
    if (!element.getClientRects().length) continue;
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/[^\\s\u2013_.-]+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const boxes = Array.from(range.getClientRects()).filter((r) => r.width > 0);
        const lines = new Set(boxes.map((r) => Math.round(r.top)));
        if (lines.size > 1) split.push(match[0]);
      }
    }
  }
  return split;
}"""


@pytest.fixture(scope="module")
def store(live_server) -> dict[str, str]:
    """A trained model with a long name and the dataset it came from, on the live server."""
    penguins_model(live_server.registry_dir, rounds=10, name=NAME)
    http = requests.Session()
    http.trust_env = False
    csv = palmerpenguins.load_penguins().to_csv(index=False).encode()
    files = {"file": ("palmer-penguins-measurements.csv", csv)}
    uploaded = http.post(f"{live_server.url}/api/datasets", files=files, timeout=60)
    assert uploaded.status_code == 201, uploaded.text
    return {"dataset": uploaded.json()["id"]}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A page in a phone-sized window, as a phone's browser reports itself."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    yield page
    context.close()


def right_edge(page: Page, selector: str) -> float:
    """The largest right edge of the visible elements matching selector, in CSS pixels."""
    return page.evaluate(
        """(selector) => Math.max(...Array.from(document.querySelectorAll(selector))
            .filter((e) => e.getClientRects().length)
            .map((e) => e.getBoundingClientRect().right))""",
        selector,
    )


def test_models_table_keeps_name_and_accuracy_in_view(live_server, store, phone, screenshot):
    phone.goto(f"{live_server.url}/")
    table = phone.get_by_test_id("models-table")
    expect(table).to_be_visible()
    screenshot(phone, "phone-models")
    name = table.get_by_role("link", name=NAME)
    accuracy = table.get_by_test_id("model-accuracy")
    for cell in (name, accuracy):
        expect(cell).to_be_in_viewport(ratio=1)
        box = cell.bounding_box()
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.evaluate(SPLIT_WORDS, "[data-testid=models-table], h1, .btn") == []


def test_dataset_columns_wrap_inside_the_screen(live_server, store, phone, screenshot):
    phone.goto(f"{live_server.url}/datasets/{store['dataset']}")
    columns = phone.get_by_test_id("profile-table")
    expect(columns).to_be_visible()
    phone.locator("details.advanced summary").click()
    screenshot(phone, "phone-dataset")
    assert (
        right_edge(phone, "[data-testid=profile-table] th, [data-testid=profile-table] td")
        <= (PHONE["width"])
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.evaluate(SPLIT_WORDS, "label, th, .badge, h1, .form-text") == []


def test_model_page_fits_and_splits_no_label(live_server, store, phone, screenshot):
    phone.goto(f"{live_server.url}/models/{NAME}")
    expect(phone.get_by_test_id("metric-accuracy")).to_be_visible()
    screenshot(phone, "phone-model")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.evaluate(SPLIT_WORDS, "label, th, .metric-label, .badge, h1") == []


def test_predict_form_fits_and_splits_no_label(live_server, store, phone, screenshot):
    phone.goto(f"{live_server.url}/models/{NAME}/predict")
    expect(phone.locator("form label").first).to_be_visible()
    screenshot(phone, "phone-predict")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.evaluate(SPLIT_WORDS, "label, th, .badge, h1, .form-text") == []
