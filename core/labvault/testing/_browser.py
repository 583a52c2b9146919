"""Sign-in pages as a browser sees them: the form of a page (:func:`page_form`) and a
headless Chromium (``labvault_chromium``) for what only a real browser shows."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's ``chromium``, the browser ``labvault_chromium`` drives (no browser download)."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form" and (named.get("method") or "").lower() == "post":
            self.actions.append(named.get("action") or "")
        elif tag == "input" and named.get("type") == "hidden" and named.get("name"):
            self.fields[str(named["name"])] = named.get("value") or ""


def page_form(html: str) -> tuple[str, dict[str, str]]:
    """The one form of a sign-in page (an email link's, a link's confirmation): where it
    posts and the hidden fields a browser sends with it."""
    reader = _FormReader()
    reader.feed(html)
    assert len(reader.actions) == 1, f"expected one form that posts in:\n{html}"
    return reader.actions[0], reader.fields


@pytest.fixture(scope="module")
def labvault_chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``): Debian's ``chromium`` package,
    never Playwright's own download. Each test opens a context of its own."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install -y --no-install-recommends chromium; .ci/run does it). "
            "Playwright's own browser download is not used."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
