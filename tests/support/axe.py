"""Accessibility checks in a real browser: axe-core (from npm) run on the page as it stands,
and what axe does not check: reflow at 320 pixels (WCAG 1.4.10), ids used once, and no markup
shown as text.

axe is evaluated by Playwright (the DevTools protocol), not added to the page as a <script>:
the portal's Content-Security-Policy stays enforced and still governs the page's own scripts,
and the check also runs where the page's JavaScript is switched off.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, ViewportSize

AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
# A 1280-pixel screen zoomed to 400%.
NARROW: ViewportSize = {"width": 320, "height": 256}


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


def assert_reflows(page: Page) -> None:
    """Reflow (WCAG 1.4.10): at 320 pixels wide nothing makes the page scroll sideways; wide
    tables scroll in their own box (templates/_scrolling.html), long words wrap."""
    before = page.viewport_size
    page.set_viewport_size(NARROW)
    try:
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        culprits = page.evaluate(_WIDER_THAN_THE_PAGE) if wide > NARROW["width"] else []
    finally:
        if before is not None:
            page.set_viewport_size(before)
    assert wide <= NARROW["width"], f"{page.url} is {wide} pixels wide at 320: {culprits}"


# The innermost elements whose box or content ends past the page's right edge (an unbroken
# word overflows a box that fits), to name in a failure.
_WIDER_THAN_THE_PAGE = r"""() => {
  const edge = document.documentElement.clientWidth;
  const ends = (e) => e.getBoundingClientRect().left + Math.max(
    e.getBoundingClientRect().width, e.scrollWidth);
  const past = [...document.body.querySelectorAll('*')].filter((e) => ends(e) > edge + 0.5);
  return past.filter((e) => !past.some((other) => other !== e && e.contains(other)))
    .slice(0, 5)
    .map((e) => e.tagName.toLowerCase() + (e.getAttribute('class') ? '.' : '')
      + (e.getAttribute('class') || '').trim().split(/\s+/).join('.'));
}"""


def assert_ids_unique(page: Page) -> None:
    """No two elements share an id (labels, error links and ARIA references find the first)."""
    repeated: list[str] = page.evaluate(
        """() => {
          const seen = new Map();
          for (const e of document.querySelectorAll('[id]')) {
            seen.set(e.id, (seen.get(e.id) || 0) + 1);
          }
          return [...seen].filter(([, count]) => count > 1).map(([id]) => id);
        }"""
    )
    assert not repeated, f"{page.url} repeats the ids {repeated}"


# An HTML tag a template meant as markup but escaped into text, like a hash's <code>.
_TAGS_AS_TEXT = re.compile(r"</?(?:a|b|br|code|div|em|li|p|span|strong|ul)(?: [^>]*)?>", re.I)


def assert_no_markup_as_text(page: Page) -> None:
    shown = _TAGS_AS_TEXT.findall(page.locator("body").inner_text())
    assert not shown, f"{page.url} shows markup as text: {shown}"
