"""Sign-in's error states in a real browser, and a guard on the accessibility check itself.
(Signing in is part of every journey in test_journeys.py.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.support.axe import assert_accessible, violations
from tests.support.people import Person


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_wrong_address_is_explained_accessibly(
    people: Callable[..., Person], javascript: bool
) -> None:
    person = people(javascript=javascript)
    person.go("/sign-in")
    person.check()
    person.hands.fill(person.page.get_by_label("Work email address"), "not-an-address")
    person.hands.click(person.page.get_by_role("button", name="Continue"))
    expect(person.page.get_by_role("alert")).to_contain_text("There is a problem")
    person.check("sign-in-error" if javascript else None)
    person.hands.fill(person.page.get_by_label("Work email address"), "someone@nowhere.example")
    person.hands.click(person.page.get_by_role("button", name="Continue"))
    expect(person.page.get_by_role("alert")).to_be_visible()
    person.check()


def test_the_page_that_passes_a_person_on_to_their_provider(
    people: Callable[..., Person],
) -> None:
    """The page between the work-email form and the provider moves on by itself at once;
    held here (the way on answers 204, so the browser stays), it is checked like any other,
    and its link serves where refresh is off."""
    person = people()
    person.page.route("**/sign-in/start/**", lambda route: route.fulfill(status=204))
    person.go("/sign-in")
    person.check()
    person.hands.fill(person.page.get_by_label("Work email address"), "sw-1@northmoor.example")
    person.hands.click(person.page.get_by_role("button", name="Continue"))
    expect(person.page.get_by_role("heading", name="Sign in")).to_be_visible()
    onward = person.page.get_by_role("button", name="Continue")
    expect(onward).to_have_attribute("href", "/sign-in/start/northmoor")
    person.check()


def test_the_accessibility_check_can_fail(page: Page) -> None:
    """A guard on the check itself: a page with known faults is caught, by rule."""
    page.set_content('<html><body><img src="data:image/png;base64,"><input></body></html>')
    rules = {violation["id"] for violation in violations(page)}
    assert {"image-alt", "label", "html-has-lang"} <= rules
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page)


def test_the_check_also_runs_with_javascript_off(people: Callable[..., Person]) -> None:
    person = people(javascript=False)
    person.page.set_content('<html><body><img src="data:image/png;base64,"></body></html>')
    rules = {v["id"] for v in violations(person.page, javascript=False)}
    assert {"image-alt", "html-has-lang"} <= rules


@pytest.mark.parametrize("path", ["/", "/accessibility", "/privacy", "/cookies", "/signed-out"])
def test_the_public_pages_are_accessible(people: Callable[..., Person], path: str) -> None:
    person = people()
    person.go(path)
    person.check("accessibility-statement" if path == "/accessibility" else None)
