"""Journey 10, safe copies in a real browser: the school attaches a Word document; the disarm
worker (its own process, as in the demo) rebuilds it as a PDF; the social worker sees "Safe copy
ready" and downloads "Attendance report.pdf"; the original is downloaded only once a reason is
chosen (sent without one, the form shows an error); the IG officer finds that download in the
audit trail with its reason in words. Every portal page reached passes axe (WCAG 2.2 A and AA).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import expect

from loopback.documents import docx
from loopback.processes import wait_until
from portal.models import Attachment, Contribution, DelegationRequest, SafeCopyStatus
from tests.browser import steps
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]
DOCX = docx(["Attendance since September: 82 per cent"])
LEGAL = "Needed as evidence in legal proceedings"


def safe_copies_made(stack: PortalStack, reference: str) -> bool:
    with stack.engine.connect() as connection:
        statuses = connection.scalars(
            sa.select(Attachment.safe_status)
            .join(Contribution, Attachment.contribution_id == Contribution.id)
            .join(DelegationRequest, Contribution.request_id == DelegationRequest.id)
            .where(DelegationRequest.reference == reference)
        ).all()
    return bool(statuses) and set(statuses) == {SafeCopyStatus.READY}


def test_10_the_social_worker_reads_the_safe_copy_and_the_original_only_with_a_reason(
    people: People, stack: PortalStack, tmp_path: Path
) -> None:
    document = tmp_path / "Attendance report.docx"
    document.write_bytes(DOCX)
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-100871", "Leo Barnes")
    lead = people()
    steps.contribute(lead, reference, document)

    # The disarm worker converts it in the background: nobody waits on a page for it.
    wait_until(lambda: safe_copies_made(stack, reference), 120, "the safe copy")
    steps.open_answers(worker, reference, 1)
    page = worker.page
    main = page.locator("main")
    expect(main).to_contain_text("Safe copy ready")
    with page.expect_download() as safe_copy:
        worker.hands.click(page.get_by_role("link", name="Attendance report.pdf"), navigates=False)
    assert safe_copy.value.suggested_filename == "Attendance report.pdf"
    assert Path(safe_copy.value.path()).read_bytes().startswith(b"%PDF")

    worker.hands.click(page.get_by_role("link", name="Download the original of Attendance"))
    expect(page.get_by_role("heading", name="Download the original document")).to_be_visible()
    worker.check()
    worker.hands.click(page.get_by_role("button", name="Download the original"))
    expect(page.get_by_role("alert")).to_contain_text("Select why you need the original")
    worker.check()
    worker.hands.check(page.get_by_role("radio", name=LEGAL))
    with page.expect_download() as original:
        worker.hands.click(
            page.get_by_role("button", name="Download the original"), navigates=False
        )
    assert original.value.suggested_filename == "Attendance report.docx"
    assert Path(original.value.path()).read_bytes() == DOCX

    officer = people()
    steps.sign_in(officer, steps.IG_OFFICER)
    officer.go("/audit?action=attachment_original_downloaded&case_reference=NCC-100871")
    officer.check()
    rows = officer.page.locator("table tbody tr")
    expect(rows.first).to_contain_text("Original document downloaded")
    officer.hands.click(rows.first.get_by_role("link"))
    officer.check()
    expect(officer.page.locator("main")).to_contain_text(LEGAL)
