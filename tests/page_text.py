"""Reading a rendered page's marked-up values in tests that fetch HTML without a browser."""

from __future__ import annotations

import html
import re


def by_testid(page: str, testid: str) -> str:
    """The text of the element carrying data-testid (no nested tags), entities decoded."""
    match = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', page)
    assert match, f"no {testid} on the page"
    return html.unescape(match.group(1)).strip()
