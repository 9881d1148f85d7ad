"""The warning before an idle session times out (WCAG 2.2 success criterion 2.2.1, Timing
Adjustable), in a real browser against the whole portal: the person can stay signed in with one
key press, and someone who does nothing is signed out and told why. Playwright's clock moves the
page's time; the server's is moved by ageing the session's row, as in test_journeys.py."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser import steps
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]
# The idle limit is 30 minutes and the warning comes 2 minutes before it.
BEFORE_THE_WARNING = "27:00"
INTO_THE_WARNING = "28:30"
PAST_THE_LIMIT = "02:00"
WARNING = "You will be signed out soon"


def is_keep_alive(response_url: str) -> bool:
    return response_url.endswith("/session/keep-alive")


def test_a_warned_person_stays_signed_in_by_keyboard_or_escape(people: People) -> None:
    person = people(keyboard=True)
    page = person.page
    page.clock.install()
    steps.sign_in(person, steps.SCHOOL_LEAD)
    where_they_were = page.get_by_role("link", name="Accessibility statement")
    where_they_were.focus()

    page.clock.fast_forward(INTO_THE_WARNING)
    warning = page.get_by_role("dialog", name=WARNING)
    expect(warning).to_be_visible()
    stay = warning.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()
    expect(warning).to_contain_text(
        re.compile(r"you will be signed out in 1 minute and \d+ seconds\s+if you do nothing")
    )
    person.check("session-timeout-warning")

    with page.expect_response(lambda response: is_keep_alive(response.url)) as answer:
        person.hands.click(stay, navigates=False)
    assert answer.value.status == 204
    expect(warning).to_be_hidden()
    expect(where_they_were).to_be_focused()

    # The whole idle time again, counted from the keep-alive.
    page.clock.fast_forward(BEFORE_THE_WARNING)
    expect(warning).to_be_hidden()
    page.clock.fast_forward("01:30")  # 28:30 since the keep-alive
    expect(warning).to_be_visible()

    # Escape closes the warning as "Stay signed in" does: the time never runs out unseen.
    with page.expect_response(lambda response: is_keep_alive(response.url)) as answer:
        page.keyboard.press("Escape")
    assert answer.value.status == 204
    expect(warning).to_be_hidden()


def test_a_person_who_does_nothing_is_signed_out_and_told_why(
    people: People, stack: PortalStack
) -> None:
    person = people()
    page = person.page
    page.clock.install()
    steps.sign_in(person, steps.SCHOOL_LEAD)
    person.go("/inbox")
    person.check()

    page.clock.fast_forward(INTO_THE_WARNING)
    expect(page.get_by_role("dialog", name=WARNING)).to_be_visible()
    # The server's clock does not follow the page's: the session's last activity is moved back
    # by the idle limit, as the time would have moved it.
    stack.age_session(page)
    page.clock.fast_forward(PAST_THE_LIMIT)

    page.wait_for_url(re.compile(r"/sign-in\?next=/inbox"))
    expect(page.get_by_role("region", name="Important")).to_contain_text(
        "You had not done anything for a while"
    )
    person.check()


def test_when_the_portal_cannot_be_reached_the_warning_stays_and_says_so(
    people: People,
) -> None:
    """Loading the page would fail too and lose what was typed: the person is told, and
    tries again."""
    person = people(keyboard=True)
    page = person.page
    page.clock.install()
    steps.sign_in(person, steps.SCHOOL_LEAD)
    page.clock.fast_forward(INTO_THE_WARNING)
    warning = page.get_by_role("dialog", name=WARNING)
    stay = warning.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()

    page.route("**/session/keep-alive", lambda route: route.abort("internetdisconnected"))
    person.hands.click(stay, navigates=False)
    expect(warning.get_by_role("alert")).to_contain_text("could not be reached")
    expect(warning).to_be_visible()
    expect(stay).to_be_focused()
    person.check()

    page.unroute("**/session/keep-alive")
    with page.expect_response(lambda response: is_keep_alive(response.url)) as answer:
        person.hands.click(stay, navigates=False)
    assert answer.value.status == 204
    expect(warning).to_be_hidden()
