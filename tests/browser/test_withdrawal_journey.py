"""A partner's inbox and a withdrawal while they work, in real browsers against the whole stack
(every page checked with axe and at 320 pixels): the council withdraws a request while a
teacher has its questions open; the teacher's next save lands on a page saying it was
withdrawn, when and by which team, and the e-mail arrives. The school's lead finds requests
in the inbox by child and by who has them, filters and pages through them, and passes one to
a colleague, who is e-mailed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    Case,
    ChildConfirmation,
    DelegationRequest,
    Notification,
    Organisation,
    RequestOpening,
    User,
    request_children,
)
from tests.browser import steps
from tests.factories import make_request
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]
TEACHER = ("school-1@ashbylane.sch.example", "Tom Ashworth")


def test_a_request_withdrawn_while_the_teacher_answers_says_so_and_e_mails_them(
    people: People, stack: PortalStack
) -> None:
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-100871", "Leo Barnes")

    teacher = people()
    steps.sign_in(teacher, TEACHER)
    steps.open_request(teacher, reference)
    steps.start_answering(teacher)
    steps.fill_section(teacher)  # typing, not yet saved

    worker.go(f"/requests/{reference}")
    worker.hands.click(worker.page.get_by_text("Withdraw this request"), navigates=False)
    worker.hands.fill(
        worker.page.get_by_label("Why are you withdrawing this request?"), "Case closed"
    )
    worker.check()
    worker.hands.click(worker.page.get_by_role("button", name="Withdraw request"))
    expect(worker.page.locator("main")).to_contain_text("Withdrawn")
    worker.check()

    steps.save(teacher)
    heading = teacher.page.get_by_role("heading", name="This request has been withdrawn")
    expect(heading).to_be_visible()
    main = teacher.page.locator("main")
    expect(main).to_contain_text("What you just sent could not be saved")
    expect(main).to_contain_text(
        re.compile(r"Children in Need Team East withdrew this request on \d+ \w+ \d{4} at ")
    )
    expect(main).to_contain_text("Anything not yet sent was not shared")
    expect(main).not_to_contain_text("Leo Barnes")
    expect(main).not_to_contain_text("Case closed")
    teacher.check()
    teacher.hands.click(teacher.page.get_by_role("link", name="Go to your organisation’s requests"))
    expect(teacher.page.get_by_role("link", name=reference)).to_have_count(0)
    teacher.check()

    mail = stack.wait_for_mail(f"Request {reference} has been withdrawn")
    assert TEACHER[0] in mail
    assert "Leo" not in mail and "NCC-100871" not in mail and "Case closed" not in mail


@pytest.fixture
def many_requests(stack: PortalStack, keyring: FileKeyring) -> Iterator[int]:
    """Enough more open requests at the school for a second page of its inbox, due after
    the journeys' own (so theirs stay on the first page); removed again afterwards."""
    made: list[str] = []
    with Session(stack.engine) as session:
        cipher = RecordCipher(keyring, session)
        case = session.scalars(sa.select(Case).where(Case.cms_reference == "NCC-100871")).one()
        school = session.scalars(
            sa.select(Organisation).where(Organisation.name == steps.SCHOOL)
        ).one()
        worker = session.scalars(sa.select(User).where(User.display_name == "Sam Okafor")).one()
        for days in range(30):
            request = make_request(session, cipher, case, school, worker)
            request.due_on = date.today() + timedelta(days=60 + days)
            request.children = list(case.children)
            made.append(request.reference)
        session.commit()
    yield len(made)
    remove_requests(stack, made)


def remove_requests(stack: PortalStack, references: list[str]) -> None:
    """Take the fixture's requests out of the shared stack altogether, and anything the
    journey left about them (children, confirmations, openings, e-mails): withdrawn but left
    behind, they would count in later journeys' pilot figures."""
    with Session(stack.engine) as session:
        ids = sa.select(DelegationRequest.id).where(DelegationRequest.reference.in_(references))
        for table in (
            request_children,
            ChildConfirmation.__table__,
            RequestOpening.__table__,
            Notification.__table__,
        ):
            session.execute(sa.delete(table).where(table.c.request_id.in_(ids)))
        session.execute(
            sa.delete(DelegationRequest).where(DelegationRequest.reference.in_(references))
        )
        session.commit()


def test_the_lead_filters_pages_and_passes_a_request_to_a_colleague(
    people: People, stack: PortalStack, many_requests: int
) -> None:
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-100871", "Leo Barnes")

    lead = people()
    steps.sign_in(lead, steps.SCHOOL_LEAD)
    page = lead.page
    lead.hands.click(page.get_by_role("link", name="Requests", exact=True))
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=reference))
    expect(row).to_contain_text("Leo Barnes")
    expect(row).to_contain_text(f"Anyone at {steps.SCHOOL}")
    expect(page.locator("#showing")).to_contain_text(re.compile(r"Showing 1 to 25 of \d+"))
    lead.check()

    # The next page keeps the filter chosen.
    lead.hands.select(page.get_by_label("Status"), "To answer")
    lead.hands.click(page.get_by_role("button", name="Apply filters"))
    expect(page.get_by_role("link", name="Clear filters")).to_be_visible()
    lead.check()
    lead.hands.click(page.get_by_role("link", name="Next"))
    expect(page).to_have_url(re.compile(r"status=to-answer.*page=2"))
    expect(page.locator("#showing")).to_contain_text(re.compile(r"Showing 26 to \d+ of \d+"))
    lead.check()
    lead.hands.click(page.get_by_role("link", name="Clear filters"))
    expect(page).to_have_url(re.compile(r"/inbox$"))
    lead.check()

    steps.open_request(lead, reference)
    lead.hands.select(page.get_by_label("Who should answer it?"), TEACHER[1])
    lead.hands.click(page.get_by_role("button", name="Send to colleague"))
    expect(page.get_by_text("Request sent to your colleague.")).to_be_visible()
    lead.check()
    mail = stack.wait_for_mail(f"A request has been passed to you: {reference}")
    assert TEACHER[0] in mail and "Leo" not in mail

    lead.hands.click(page.get_by_role("link", name="Requests", exact=True))
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=reference))
    expect(row).to_contain_text(TEACHER[1])
    lead.check()

    teacher = people()
    steps.sign_in(teacher, TEACHER)
    teacher.hands.click(teacher.page.get_by_role("link", name="Passed to you"))
    expect(teacher.page.get_by_role("link", name=reference)).to_be_visible()
    expect(teacher.page.get_by_role("checkbox", name="Only requests passed to me")).to_be_checked()
    teacher.check()
