"""The right child, as the social worker meets it in a real browser: finding a two-sibling case
shows what the CMS holds for each child, and asking a school about a child without a UPN warns
before sending. Every portal page reached passes axe (WCAG 2.2 A and AA).

The partner's side (confirming each child before answering) follows in the partner journeys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from playwright.sync_api import Locator, expect

from tests.browser import steps
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]
NOT_HELD = "Not held in the case management system"


def find_case(person: Person, case: str) -> None:
    hands, page = person.hands, person.page
    hands.click(page.get_by_role("link", name="Requests", exact=True))
    person.check()
    hands.click(page.get_by_role("button", name="Ask a partner for information"))
    person.check()
    hands.fill(page.get_by_label("What is the case reference?"), case)
    hands.click(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", name="Ask a partner for information")).to_be_visible()
    person.check()


def card(person: Person, child: str) -> Locator:
    return person.page.locator(".govuk-summary-card").filter(
        has=person.page.get_by_role("heading", name=child, level=3)
    )


def held(person: Person, child: str, identifier: str) -> str:
    row = (
        card(person, child)
        .locator(".govuk-summary-list__row")
        .filter(has=person.page.locator("dt", has_text=re.compile(f"^\\s*{identifier}\\s*$")))
    )
    return row.locator("dd").inner_text().strip()


def ask_the_school(person: Person, children: list[str]) -> None:
    """Fill in the request to the school about these children, up to the check page."""
    hands, page = person.hands, person.page
    for child in children:
        hands.check(page.get_by_role("checkbox", name=child))
    hands.select(page.get_by_label("Organisation"), steps.SCHOOL)
    hands.select(page.get_by_label("Questions to ask"), steps.SCHOOL_FORM)
    hands.check(page.get_by_role("radio", name=re.compile("section 47")))
    hands.fill(page.get_by_label("Why you need this information"), steps.PURPOSE)
    steps.fill_date(person, "Due date", date.today() + timedelta(days=steps.DUE_IN_DAYS))
    steps.fill_date(person, "Closing date", date.today() + timedelta(days=30))
    hands.click(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", name="Check your request before sending it")).to_be_visible()
    person.check()


def send(person: Person) -> str:
    person.hands.click(person.page.get_by_role("button", name="Send request"))
    banner = person.page.get_by_role("alert").filter(has_text="Success")
    expect(banner).to_contain_text(f"sent to {steps.SCHOOL}")
    person.check()
    found = re.search(r"Request (DR-[A-Z0-9]+) sent", banner.inner_text())
    assert found, banner.inner_text()
    return found.group(1)


def test_7_a_social_worker_sees_what_the_cms_holds_and_is_warned_before_asking(
    people: People, stack: PortalStack
) -> None:
    worker = people()
    page = worker.page
    steps.sign_in(worker, steps.SOCIAL_WORKER)

    # Two siblings: every identifier the CMS holds, as people read them.
    find_case(worker, "NCC-100234")
    assert held(worker, "Amelia Hart", "CMS person id") == "P-100234-1"
    assert held(worker, "Amelia Hart", "NHS number") == "999 002 3417"
    assert held(worker, "Amelia Hart", "UPN") == "H801210119341"
    assert held(worker, "Oliver Hart", "NHS number") == "999 002 3425"
    assert held(worker, "Oliver Hart", "UPN") == "V801210121342"
    expect(page.locator(".govuk-warning-text")).to_have_count(0)
    ask_the_school(worker, ["Amelia Hart", "Oliver Hart"])
    expect(page.locator(".govuk-warning-text")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("their UPN where the case management system")
    reference = send(worker)
    assert not any(re.search(r"999\d{7}|801\d{9}", url) for url in worker.reached)

    # A child whose UPN the CMS does not hold: the school can only match on name and date of
    # birth. A warning, not an error: the worker may still send it.
    find_case(worker, "NCC-102310")
    assert held(worker, "Ruby Chen", "UPN") == NOT_HELD
    ask_the_school(worker, ["Ruby Chen"])
    expect(page.locator(".govuk-warning-text")).to_contain_text(
        f"holds no UPN for Ruby Chen: {steps.SCHOOL} can only match the child on name and "
        "date of birth"
    )
    assert send(worker) != reference
    # The school is told by e-mail: a reference and a link, never a name or an identifier.
    mail = stack.wait_for_mail(reference)
    assert not re.search(r"999 ?\d{3} ?\d{4}|[A-Z]801\d{9}", mail) and "Amelia" not in mail
