"""The right child, end to end in a real browser: finding a two-sibling case shows what the CMS
holds for each child, and asking a school about a child without a UPN warns before sending; the
school confirms each child before answering (one it knows by UPN, one that is not the child it
knows), answers only about the one it knows, the social worker sees what the school said, and
the CMS files the answers under that child's person id; a school that knows neither child closes
the request and the social worker is told. Every portal page reached passes axe (WCAG 2.2 A
and AA).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

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


def say_of(person: Person, child: str, answer: str, matched_on: str | None = None) -> None:
    """On the confirmation page: what the school says of one child."""
    page = person.page
    group = page.get_by_role("group", name=f"Do you hold a record for {child}?")
    person.hands.check(group.get_by_role("radio", name=answer))
    if matched_on:
        matched = page.get_by_role("group", name=re.compile(f"If you hold a record for {child}"))
        person.hands.check(matched.get_by_role("radio", name=matched_on, exact=True))


def confirmation_page(person: Person, reference: str) -> None:
    steps.open_request(person, reference)
    person.hands.click(person.page.get_by_role("button", name=re.compile("Answer the questions")))
    expect(person.page.get_by_role("heading", name="Confirm the children")).to_be_visible()
    person.check()


def test_8_the_school_confirms_each_child_and_the_cms_files_answers_on_the_right_one(
    people: People, stack: PortalStack, tmp_path: Path
) -> None:
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    find_case(worker, "NCC-101955")
    ask_the_school(worker, ["Noah Williams", "Isla Williams"])
    reference = send(worker)

    lead = people()
    page = lead.page
    steps.sign_in(lead, steps.SCHOOL_LEAD)
    confirmation_page(lead, reference)
    # A school sees the UPN it keys pupils by, never the NHS number.
    main = page.locator("main")
    expect(main).to_contain_text("Z801210214551")
    expect(main).not_to_contain_text("999 019 5560")
    expect(main).not_to_contain_text("9990195560")
    # Saying it knows a child without saying on what: an error on the field, nothing saved.
    say_of(lead, "Noah Williams", "We hold a record for this child")
    say_of(lead, "Isla Williams", "This is not the child we know")
    steps.save(lead)
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    lead.check()
    say_of(lead, "Noah Williams", "We hold a record for this child", "UPN")
    steps.save(lead)
    expect(page.locator("form#section-answers")).to_be_visible()
    lead.check()
    # Questions about Noah only: Isla is not the child the school knows.
    expect(page.locator("main")).not_to_contain_text("Isla")
    document = tmp_path / "attendance-report.pdf"
    document.write_bytes(steps.PDF)
    steps.answer_remaining_parts(lead, document)
    expect(page.locator("main")).to_contain_text(
        "You hold a record for this child (matched on UPN)"
    )
    steps.send_answers(lead)

    steps.open_answers(worker, reference, 1)
    told = worker.page.locator("main")
    expect(told).to_contain_text(f"{steps.SCHOOL} holds a record for this child (matched on UPN)")
    expect(told).to_contain_text(f"{steps.SCHOOL} says this is not the child it knows")
    steps.decide(worker, "Accept them and add them to the case record")
    worker.check()
    status = steps.delivery_status(worker, reference)
    # Other journeys on this stack may have filed records on the same case before this one
    # (files run in any order, and two processes each have a stack): this request's record is
    # the one of the case that its delivery status names, and there must be exactly one.
    [record] = [
        r
        for r in stack.cms.records()
        if r["case_reference"] == "NCC-101955" and f"CMS record {r['record_id']}" in status
    ]
    filed = {
        child["person_id"]: child for child in stack.cms.received(record["record_id"])["children"]
    }
    assert filed["P-101955-1"]["confirmation"] == "known"
    assert filed["P-101955-1"]["matched_on"] == "upn" and filed["P-101955-1"]["answers"]
    assert filed["P-101955-2"]["confirmation"] == "not_this_child"
    assert filed["P-101955-2"]["answers"] == {}


def test_9_a_school_that_knows_neither_child_closes_the_request(
    people: People, stack: PortalStack
) -> None:
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    find_case(worker, "NCC-100234")
    ask_the_school(worker, ["Amelia Hart", "Oliver Hart"])
    reference = send(worker)

    lead = people(keyboard=True)
    page = lead.page
    steps.sign_in(lead, steps.SCHOOL_LEAD)
    confirmation_page(lead, reference)
    say_of(lead, "Amelia Hart", "We do not know this child")
    say_of(lead, "Oliver Hart", "We do not know this child")
    steps.save(lead)
    # Asked again before anything happens.
    expect(page.get_by_role("heading", name="You do not know any of the children")).to_be_visible()
    lead.check()
    lead.hands.click(page.get_by_role("button", name="Close the request"))
    page.wait_for_load_state()
    main = page.locator("main")
    expect(main).to_contain_text("Closed: child not known")
    expect(main).not_to_contain_text("Amelia")
    lead.check()

    worker.go(f"/requests/{reference}")
    expect(worker.page.locator("main")).to_contain_text("Closed: child not known")
    worker.check()
    # The social worker is told by e-mail: the reference and a link, never a name.
    mail = stack.wait_for_mail(f"Request {reference} closed: the partner does not know the child")
    assert "sw-1@northmoor.example" in mail
    assert "Amelia" not in mail and "Oliver" not in mail and "NCC-100234" not in mail
    assert not re.search(r"[A-Z]801\d{9}|999 ?\d{3} ?\d{4}", mail)
