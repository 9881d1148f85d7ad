"""The whole product as people use it, in a real browser against the portal under gunicorn
with the development OpenID provider, the reference CMS, the delivery worker, the SMTP server
and PostgreSQL. Every portal page each journey reaches passes axe (WCAG 2.2 A and AA)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import steps
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]
WITH_AND_WITHOUT_JAVASCRIPT = pytest.mark.parametrize(
    "javascript", [True, False], ids=["javascript", "no-javascript"]
)


@WITH_AND_WITHOUT_JAVASCRIPT
def test_1_a_social_worker_asks_a_school(
    people: People, stack: PortalStack, javascript: bool
) -> None:
    worker = people(javascript=javascript)
    steps.sign_in(worker, steps.SOCIAL_WORKER, shot="sign-in" if javascript else None)
    due = date.today() + timedelta(days=steps.DUE_IN_DAYS)
    reference = steps.issue_request(
        worker, "NCC-100234", "Amelia Hart", shots=javascript, errors=True
    )
    expect(worker.page.locator("main")).to_contain_text(re.compile(f"Due\\s+{due.day} {due:%B %Y}"))
    # The school is told by e-mail: a reference and a link, never the child's name.
    mail = stack.wait_for_mail(reference)
    assert "Amelia" not in mail and "NCC-100234" not in mail


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "attendance-report.pdf"
    path.write_bytes(steps.PDF)
    return path


@pytest.mark.parametrize(
    ("keyboard", "javascript"),
    [(True, True), (False, False)],
    ids=["keyboard-only", "no-javascript"],
)
def test_2_the_school_answers_over_two_sittings(
    people: People, stack: PortalStack, document: Path, keyboard: bool, javascript: bool
) -> None:
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-100871", "Leo Barnes")

    lead = people(keyboard=keyboard, javascript=javascript)
    shots = keyboard
    page = lead.page
    steps.sign_in(lead, steps.SCHOOL_LEAD)
    steps.open_request(lead, reference, shot="partner-1-inbox" if shots else None)
    steps.start_answering(lead)
    attendance = page.get_by_label(re.compile("Attendance this academic year"))
    lead.hands.fill(attendance, "182")
    steps.save(lead)
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    lead.check("partner-2-answer-error" if shots else None)
    steps.fill_section(lead)
    lead.hands.fill(attendance, "91")
    steps.save(lead, "Save and come back later")
    expect(page.get_by_role("alert").filter(has_text="Success")).to_contain_text("saved")
    lead.check()
    steps.sign_out(lead)

    # Later, in a new session: what was saved is there.
    steps.sign_in(lead, steps.SCHOOL_LEAD)
    steps.open_request(lead, reference)
    steps.start_answering(lead)
    expect(page.get_by_label(re.compile("Attendance this academic year"))).to_have_value("91")
    steps.save(lead)
    lead.check()
    steps.answer_remaining_parts(lead, document, shots=shots)
    expect(page.get_by_text(document.name)).to_be_visible()
    receipt_page = steps.send_answers(lead, shots=shots)
    assert reference in receipt_page
    receipt = steps.download_receipt(lead, reference)
    assert receipt["sha256"] and receipt["signature"]
    # Nothing the school wrote is in the e-mail the council receives.
    mail = stack.wait_for_mail(f"New answer to review: request {reference}")
    assert "safeguarding log" not in mail and "Leo" not in mail


def returned_accepted_and_delivered(
    people: People, stack: PortalStack, document: Path, case: str, child: str, javascript: bool
) -> str:
    """Journey 3 on `case`: returns the request's reference."""
    # Other journeys may have filed records on the same case in this CMS: count only new ones.
    before = {r["record_id"] for r in stack.cms.records() if r["case_reference"] == case}
    worker = people(javascript=javascript)
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, case, child)
    lead = people(javascript=javascript)
    steps.contribute(lead, reference, document)

    steps.open_answers(worker, reference, 1, shot="sw-5-review" if javascript else None)
    worker.hands.click(worker.page.get_by_role("button", name="Confirm decision"))
    expect(worker.page.get_by_role("alert")).to_contain_text("There is a problem")
    worker.check()
    steps.decide(
        worker,
        "Ask for more information",
        part="Behaviour",
        note="Please say what helps at lunchtimes.",
    )
    expect(worker.page.locator("main")).to_contain_text("more information")
    worker.check()

    steps.open_request(lead, reference)
    expect(lead.page.locator("main")).to_contain_text("Please say what helps at lunchtimes.")
    steps.start_answering(lead)
    steps.step_through_to_check(lead, change="Behaviour", text="A lunchtime club helps.")
    steps.send_answers(lead)

    steps.open_answers(worker, reference, 2)
    expect(worker.page.locator("main")).to_contain_text("A lunchtime club helps.")
    steps.decide(worker, "Accept them and add them to the case record")
    worker.check()
    status = steps.delivery_status(worker, reference)
    # The CMS holds exactly one new record for this case, and the page names it.
    records = [
        r
        for r in stack.cms.records()
        if r["case_reference"] == case and r["record_id"] not in before
    ]
    assert len(records) == 1, records
    assert f"CMS record {records[0]['record_id']}" in status, status
    worker.check("sw-6-delivered" if javascript else None)
    return reference


@WITH_AND_WITHOUT_JAVASCRIPT
def test_3_more_information_then_accepted_and_delivered(
    people: People, stack: PortalStack, document: Path, javascript: bool
) -> None:
    case, child = ("NCC-102310", "Ruby Chen") if javascript else ("NCC-101955", "Noah Williams")
    returned_accepted_and_delivered(people, stack, document, case, child, javascript)


def test_4_information_governance_sees_every_event_for_the_case(
    people: People, stack: PortalStack, document: Path
) -> None:
    reference = returned_accepted_and_delivered(
        people, stack, document, "NCC-101402", "Maya Patel", javascript=True
    )
    officer = people()
    steps.sign_in(officer, steps.IG_OFFICER)
    page = officer.page
    officer.hands.click(steps.menu_link(page, "Audit trail"))
    officer.check()
    steps.fill_date(officer, "Date from", date.today())
    steps.fill_date(officer, "Date to", date.today() - timedelta(days=1))
    officer.hands.click(page.get_by_role("button", name="Search", exact=True))
    expect(page.get_by_role("alert")).to_contain_text("Date to must be the same as or after")
    officer.check()
    for group in ("Date from", "Date to"):
        for part in ("Day", "Month", "Year"):
            officer.hands.fill(page.get_by_role("group", name=group).get_by_label(part), "")
    officer.hands.fill(page.get_by_label("Case reference"), "NCC-101402")
    officer.hands.click(page.get_by_role("button", name="Search", exact=True))
    officer.check("ig-1-case-events")
    actions: list[str] = []
    cases: set[str] = set()
    for _ in range(20):  # every page of the results, newest first
        for row in page.locator("table tbody tr").all():
            actions.append(row.locator("td").nth(4).inner_text())
            cases.add(row.locator("td").nth(6).inner_text())
        older = page.get_by_role("link", name="Older events")
        if not older.count():
            break
        officer.hands.click(older)
        officer.check()
    else:
        raise AssertionError("more than 20 pages of events for one case")
    # The case's whole story, newest first: from the lookup to the delivery, with every time
    # the social worker was shown the answers: version 1 when opened and again with the
    # decision's error message, version 2 when opened, and version 1 again with it (what
    # changed since: reading the previous version is a read of it too).
    assert actions.count("Contribution viewed") == 4, actions
    for expected in (
        "Case looked up",
        "Request issued",
        "Request viewed",
        "Attachment uploaded",
        "Contribution submitted",
        "Contribution returned",
        "Contribution accepted",
        "Contribution delivered",
    ):
        assert expected in actions, (expected, actions)
    assert cases == {"NCC-101402"}

    officer.hands.click(page.get_by_role("link", name="Check the trail has not been altered"))
    expect(page.locator("main")).to_contain_text("Intact")
    officer.check("ig-2-verified")

    # A legal hold keeps the delivered request's content past its retention period.
    officer.hands.click(steps.menu_link(page, "Audit trail"))
    officer.check()
    officer.hands.click(page.get_by_role("link", name="Legal holds"))
    expect(page.locator("main")).to_contain_text("No request is on hold")
    officer.check()
    officer.hands.click(page.get_by_role("button", name="Place legal hold"))
    expect(page.get_by_role("alert")).to_contain_text("Enter the request reference")
    officer.check()
    officer.hands.fill(page.get_by_label("Request reference"), reference)
    reasons = page.get_by_role("group", name="Why must its content be kept?")
    officer.hands.check(reasons.get_by_label("A complaint being investigated"))
    officer.hands.click(page.get_by_role("button", name="Place legal hold"))
    held = page.locator("table tbody tr")
    expect(held).to_have_count(1)
    expect(held).to_contain_text(reference)
    expect(held).to_contain_text("A complaint being investigated")
    officer.check("ig-3-legal-hold")
    officer.hands.click(page.get_by_role("button", name=f"Release the hold on {reference}"))
    expect(page.locator("main")).to_contain_text("No request is on hold")
    officer.check()


def test_5_another_school_finds_no_trace_and_a_withdrawn_request_vanishes(
    people: People, stack: PortalStack
) -> None:
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-100234", "Oliver Hart")

    other = people()
    steps.sign_in(other, steps.OTHER_SCHOOL)
    other.hands.click(other.page.get_by_role("link", name="Requests", exact=True))
    other.check()
    assert reference not in other.page.locator("main").inner_text()
    addresses = (
        f"/inbox/{reference}",
        f"/inbox/{reference}/answer",
        f"/inbox/{reference}/answer/check",
    )
    for path in addresses:
        response = other.page.goto(stack.portal_url + path)
        assert response is not None and response.status == 404, path
        text = other.page.locator("main").inner_text()
        assert reference not in text and "Oliver" not in text
        other.check()

    lead = people()
    steps.sign_in(lead, steps.SCHOOL_LEAD)
    lead.hands.click(lead.page.get_by_role("link", name="Requests", exact=True))
    lead.check()
    expect(lead.page.get_by_role("link", name=reference)).to_be_visible()
    # The same addresses do open for the school it was sent to.
    for path in addresses:
        response = lead.page.goto(stack.portal_url + path)
        assert response is not None and response.status == 200, path
        lead.check()

    worker.go(f"/requests/{reference}")
    worker.check()
    worker.hands.click(worker.page.get_by_text("Withdraw this request"), navigates=False)
    worker.hands.click(worker.page.get_by_role("button", name="Withdraw request"))
    expect(worker.page.get_by_role("alert")).to_contain_text("Enter why you are withdrawing")
    worker.check()
    worker.hands.fill(
        worker.page.get_by_label("Why are you withdrawing this request?"),
        "Sent to the wrong school.",
    )
    worker.hands.click(worker.page.get_by_role("button", name="Withdraw request"))
    expect(worker.page.locator("main")).to_contain_text("Withdrawn")
    worker.check()

    lead.page.reload()
    lead.check()
    expect(lead.page.get_by_role("link", name=reference)).to_have_count(0)
    response = lead.page.goto(stack.portal_url + f"/inbox/{reference}")
    assert response is not None and response.status == 410  # withdrawn: when, by whom
    expect(lead.page.get_by_role("heading", name="This request has been withdrawn")).to_be_visible()
    expect(lead.page.locator("main")).not_to_contain_text("Sent to the wrong school.")
    lead.check()


def test_6_a_partner_who_idled_out_signs_in_again_and_loses_nothing_saved(
    people: People, stack: PortalStack
) -> None:
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-100234", "Amelia Hart")
    lead = people()
    page = lead.page
    steps.sign_in(lead, steps.SCHOOL_LEAD)
    steps.open_request(lead, reference)
    steps.start_answering(lead)
    steps.fill_section(lead)
    lead.hands.fill(page.get_by_label(re.compile("Attendance this academic year")), "87")
    steps.save(lead)
    lead.check()
    part_two = page.url

    # Half an hour passes with nothing done: the session's last activity moves back by the
    # idle limit, as the clock would move it (the portal's own check decides the rest).
    stack.age_session(page)
    steps.fill_section(lead)
    steps.save(lead)
    expect(page.get_by_role("region", name="Important")).to_contain_text(
        "You had not done anything for a while"
    )
    lead.check("partner-6-signed-out-idle")

    lead.hands.fill(page.get_by_label("Work email address"), steps.SCHOOL_LEAD[0])
    lead.passes_through()
    lead.hands.click(page.get_by_role("button", name="Continue"))
    lead.hands.click(page.get_by_role("button", name="Sign in"))
    page.wait_for_url(part_two)
    lead.check()
    lead.hands.click(page.get_by_role("link", name="Back to the request"))
    lead.check()
    steps.start_answering(lead)
    expect(page.get_by_label(re.compile("Attendance this academic year"))).to_have_value("87")
