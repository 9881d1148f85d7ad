"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium, installed by
`make test` when missing; no browser download), headless, against the whole portal on loopback
(tests/support/portal_stack.py).

Each person in a journey has a browser of their own (`people`), with JavaScript on or off and
a mouse or the keyboard alone. Every portal page a person reaches must be checked with axe
before they move on (`Person.check`); a page reached and not checked fails the test. Key
screens are photographed for docs/accessibility.md: into $PORTAL_SCREENSHOTS when it is set
(`make screenshots`), otherwise into the test's temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Frame,
    Page,
    sync_playwright,
)
from sqlalchemy.engine import Engine

from portal.crypto import FileKeyring
from tests.support.hands import Hands, KeyboardHands
from tests.support.people import Person, new_context
from tests.support.portal_stack import PortalStack, portal_stack

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is not installed: `make test` installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox cannot start.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    opened = new_context(chromium)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def stack(
    postgres_admin: Engine,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PortalStack]:
    """The portal under gunicorn with the demo's data and every real part beside it."""
    with portal_stack(
        postgres_admin, keyring, keyring_path, audit_key_path, tmp_path_factory.mktemp("stack")
    ) as running:
        yield running


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("PORTAL_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def people(
    chromium: Browser, stack: PortalStack, screenshots: Path
) -> Iterator[Callable[..., Person]]:
    """people(keyboard=False, javascript=True): a person with a browser of their own."""
    opened: list[tuple[BrowserContext, Person]] = []

    def open_person(*, keyboard: bool = False, javascript: bool = True) -> Person:
        context = new_context(chromium, javascript)
        page = context.new_page()
        hands = KeyboardHands(page) if keyboard else Hands(page)
        person = Person(page, hands, stack.portal_url, screenshots, javascript)

        def navigated(frame: Frame) -> None:
            if frame == page.main_frame:
                if person.leaving and frame.url.startswith(person.portal_url):
                    person.passing.add(len(person.reached))
                    person.leaving = False
                person.reached.append(frame.url)

        def console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                person.refused.append(f"{page.url}: {message.text}")

        page.on("framenavigated", navigated)
        page.on("console", console)
        opened.append((context, person))
        return person

    yield open_person
    missed = [url for _context, person in opened for url in person.unchecked()]
    refused = [report for _context, person in opened for report in person.refused]
    for context, _person in opened:
        context.close()
    assert not missed, f"pages reached but never checked with axe: {missed}"
    assert not refused, f"the Content-Security-Policy refused: {refused}"
    assert not stack.failures(), stack.logs()
