"""How a person works the page: with a mouse (Playwright's pointer actions) or with the
keyboard alone (Tab to reach a control, then Enter, Space, arrows and typing, as a keyboard or
switch user does). The journeys are written once against `Hands` and run with either."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

# More presses than any page of the portal has focusable elements.
MOST_TABS = 250
# Space on a file input: how long to wait for the chooser, and how often to press.
CHOOSER_WAIT_MS = 8_000
CHOOSER_ATTEMPTS = 3


class Hands:
    """With a mouse: Playwright's own actions."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def fill(self, field: Locator, text: str) -> None:
        field.fill(text)

    def click(self, target: Locator, *, navigates: bool = True) -> None:
        """A link or button; `navigates` says whether it loads a new page (a download or a
        control that stays on the page does not)."""
        target.click()

    def check(self, box: Locator) -> None:
        box.check()

    def select(self, field: Locator, label: str) -> None:
        field.select_option(label=label)

    def upload(self, field: Locator, path: Path) -> None:
        field.set_input_files(path)


class KeyboardHands(Hands):
    """With the keyboard alone: nothing is clicked, and every control is reached by Tab from
    where the focus is, so a control the keyboard cannot reach fails the journey."""

    def focused(self, target: Locator) -> bool:
        return bool(target.evaluate("element => element === document.activeElement"))

    def tab_to(self, target: Locator) -> None:
        target.wait_for(state="attached")
        for _ in range(MOST_TABS):
            if self.focused(target):
                return
            self.page.keyboard.press("Tab")
        raise AssertionError(f"Tab never reached {target} on {self.page.url}")

    def fill(self, field: Locator, text: str) -> None:
        self.tab_to(field)
        self.page.keyboard.press("ControlOrMeta+A")
        self.page.keyboard.press("Delete")
        self.page.keyboard.type(text)

    def click(self, target: Locator, *, navigates: bool = True) -> None:
        self.tab_to(target)
        if not navigates:
            self.page.keyboard.press("Enter")
            return
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def check(self, box: Locator) -> None:
        if box.get_attribute("type") != "radio":
            self.tab_to(box)
            if not box.is_checked():
                self.page.keyboard.press("Space")
            return
        # A radio group is one Tab stop; the arrow keys move through it and choose.
        name = box.get_attribute("name")
        for _ in range(MOST_TABS):
            if self.page.evaluate("() => document.activeElement?.name") == name:
                break
            self.page.keyboard.press("Tab")
        else:
            raise AssertionError(f"Tab never reached the radios {name!r} on {self.page.url}")
        options = self.page.locator(f'input[type="radio"][name="{name}"]').count()
        for _ in range(options + 1):
            if self.focused(box):
                if not box.is_checked():
                    self.page.keyboard.press("Space")
                return
            self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"the arrow keys never reached {box} on {self.page.url}")

    def select(self, field: Locator, label: str) -> None:
        self.tab_to(field)
        for _ in range(field.locator("option").count() + 1):
            chosen = field.evaluate("select => select.options[select.selectedIndex]?.label")
            if chosen == label:
                return
            self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"no option {label!r} in {field}")

    def upload(self, field: Locator, path: Path) -> None:
        """Space on the focused file input opens the chooser. Headless Chromium now and then
        drops that one press under load (a clean-clone CI run saw no chooser within 30 s, in
        a journey that passes on its own), so the press is repeated, from a field the keyboard
        has reached again, before the journey is failed; a field Tab cannot reach still fails
        at once."""
        for attempt in range(CHOOSER_ATTEMPTS):
            self.tab_to(field)
            try:
                with self.page.expect_file_chooser(timeout=CHOOSER_WAIT_MS) as chooser:
                    self.page.keyboard.press("Space")
            except PlaywrightTimeoutError:
                if attempt == CHOOSER_ATTEMPTS - 1:
                    raise
                continue
            chooser.value.set_files(path)
            return
