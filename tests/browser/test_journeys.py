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
from tests.browser.conftest import Person
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
    reference = steps.issue_request(
        worker, "NCC-100234", "Amelia Hart", shots=javascript, errors=True
    )
    due = date.today() + timedelta(days=steps.DUE_IN_DAYS)
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
    mail = stack.wait_for_mail(reference)
    assert "safeguarding log" not in mail and "Leo" not in mail


def test_3_more_information_then_accepted_and_delivered(
    people: People, stack: PortalStack, document: Path
) -> None:
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-102310", "Ruby Chen")
    lead = people()
    steps.contribute(lead, reference, document)

    steps.open_answers(worker, reference, 1, shot="sw-5-review")
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
    # The CMS holds exactly one record for this case, and the page names it.
    records = [r for r in stack.cms.records() if r["case_reference"] == "NCC-102310"]
    assert len(records) == 1, records
    assert f"CMS record {records[0]['record_id']}" in status, status
    worker.check("sw-6-delivered")
