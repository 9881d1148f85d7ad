"""Accessibility checks in a real browser: axe-core (from npm) run on the page as it stands.

axe is evaluated by Playwright (the DevTools protocol), not added to the page as a <script>:
the portal's Content-Security-Policy stays enforced and still governs the page's own scripts,
and the check also runs where the page's JavaScript is switched off.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


@functools.cache
def _axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


# With JavaScript switched off, Chromium runs no timers, and axe waits on them: the check's
# own script gets timers that run at once (the page's scripts are off, so nothing else sees them).
IMMEDIATE_TIMERS = """() => {
  const soon = (run) => { Promise.resolve().then(run); return 0; };
  window.setTimeout = (run, _delay, ...args) => soon(() => run(...args));
  window.clearTimeout = () => {};
  window.requestAnimationFrame = (run) => soon(() => run(performance.now()));
}"""


def violations(page: Page, *, javascript: bool = True) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        if not javascript:
            page.evaluate(IMMEDIATE_TIMERS)
        # Evaluated by Playwright rather than added as a <script>, so that it also runs on a
        # page whose own scripts are switched off (the no-JavaScript journeys).
        page.evaluate(_axe_source() + "\n;undefined")
    result: dict[str, Any] = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_AA_TAGS,
    )
    found: list[dict[str, Any]] = result["violations"]
    return found


def assert_accessible(page: Page, *, javascript: bool = True) -> None:
    """No WCAG 2.2 A or AA violation on the page, or a message naming each one and where.
    `javascript` says whether the page's own scripts run in this browser."""
    found = violations(page, javascript=javascript)
    described = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:5])
        for violation in found
    ]
    assert not found, f"{page.url}:\n" + "\n".join(described)
