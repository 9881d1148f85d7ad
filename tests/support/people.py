"""One person at their own browser in the browser tests (tests/browser/): the page, how they
work it (Hands), and the record of every portal page they reached and whether it was checked
(axe, reflow, ids) before they moved on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from tests.support.axe import (
    assert_accessible,
    assert_ids_unique,
    assert_no_markup_as_text,
    assert_reflows,
)
from tests.support.hands import Hands

VIEWPORT: ViewportSize = {"width": 1024, "height": 768}


def new_context(chromium: Browser, javascript: bool = True) -> BrowserContext:
    # The portal's Content-Security-Policy is enforced, as in people's browsers: axe is
    # evaluated by Playwright (tests/support/axe.py), which the policy does not govern, and
    # anything the policy refuses is a failure (Person.refused).
    return chromium.new_context(locale="en-GB", java_script_enabled=javascript, viewport=VIEWPORT)


@dataclass
class Person:
    """One person at their own browser."""

    page: Page
    hands: Hands
    portal_url: str
    screenshots: Path
    javascript: bool
    # Every document the browser loaded, in order, and which of them were checked; pages that
    # only pass the person on (auth/leaving.html) are not there long enough to check.
    reached: list[str] = field(default_factory=list)
    checked: set[int] = field(default_factory=set)
    passing: set[int] = field(default_factory=set)
    leaving: bool = False
    # What the browser reported the Content-Security-Policy refused.
    refused: list[str] = field(default_factory=list)

    def passes_through(self) -> None:
        """The next portal page moves the person straight on to their identity provider."""
        self.leaving = True

    def go(self, path: str) -> None:
        self.page.goto(self.portal_url + path)

    def check(self, shot: str | None = None) -> None:
        """axe finds no WCAG 2.2 A or AA violation on the page as it stands; `shot` names a
        screenshot of it for the docs."""
        self.page.wait_for_load_state()
        assert_accessible(self.page, javascript=self.javascript)
        assert_reflows(self.page)
        assert_ids_unique(self.page)
        assert_no_markup_as_text(self.page)
        self.checked.add(len(self.reached) - 1)
        if shot:
            # The whole page, down to a limit: the docs show a screen, not a scroll.
            height = self.page.evaluate("() => document.documentElement.scrollHeight")
            area = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": min(height, 1400)}
            path = self.screenshots / f"{shot}.png"
            self.page.screenshot(path=path, full_page=True, clip=area)

    def unchecked(self) -> list[str]:
        return [
            url
            for index, url in enumerate(self.reached)
            if url.startswith(self.portal_url) and index not in self.checked | self.passing
        ]
