"""The social worker's own pages in a real browser, each checked like every other page (axe,
reflow at 320 pixels, ids used once): My requests with the children's names and its filters,
Your cases, a case's page and asking a partner from it; and, when a school sends again after
a return, what changed since the version before."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.browser import steps
from tests.support.disarming import one_page_pdf
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]


def test_my_requests_and_a_case_page(people: People, stack: PortalStack) -> None:
    worker = people()
    page, hands = worker.page, worker.hands
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-101402", "Maya Patel")

    hands.click(page.get_by_role("link", name="Requests", exact=True))
    expect(page.get_by_role("heading", name="Your requests")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=reference)
    expect(row).to_contain_text("Maya Patel")
    expect(row).to_contain_text("NCC-101402")
    expect(row).to_contain_text(steps.SCHOOL)
    expect(page.get_by_text(re.compile(r"Showing 1 to \d+ of \d+ request"))).to_be_visible()
    worker.check()

    hands.fill(page.get_by_label("Case reference"), "NCC-101402")
    hands.select(page.get_by_label("Status"), "Sent")
    hands.click(page.get_by_role("button", name="Filter requests"))
    expect(page.get_by_text(re.compile("matching the filters"))).to_be_visible()
    cases = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert cases and set(cases) == {"NCC-101402"}, cases
    expect(page.get_by_role("row").filter(has_text=reference)).to_be_visible()
    worker.check()
    hands.fill(page.get_by_label("Case reference"), "NCC-999999")
    hands.click(page.get_by_role("button", name="Filter requests"))
    expect(page.get_by_text("No requests match the filters.")).to_be_visible()
    worker.check()
    # A child's name typed as the case: refused, neither applied nor shown back.
    hands.fill(page.get_by_label("Case reference"), "Maya Patel")
    hands.click(page.get_by_role("button", name="Filter requests"))
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Enter a case reference, like NCC-100234")
    expect(page.get_by_label("Case reference")).to_have_value("")
    expect(page.get_by_role("row").filter(has_text=reference)).to_contain_text("Maya Patel")
    worker.check()
    hands.click(summary.get_by_role("link", name="Enter a case reference, like NCC-100234"))
    expect(page.get_by_label("Case reference")).to_be_focused()
    # Widened to the team's requests, and back.
    hands.check(page.get_by_role("radio", name="My team’s"))
    hands.click(page.get_by_role("button", name="Filter requests"))
    expect(page.get_by_role("radio", name="My team’s")).to_be_checked()
    expect(page.get_by_role("row").filter(has_text=reference)).to_be_visible()
    worker.check()
    hands.click(page.get_by_role("link", name="Clear filters").first)
    expect(page.get_by_role("row").filter(has_text=reference)).to_be_visible()
    worker.check()

    # The case's page, from the list: its child, its requests, and a button to ask again.
    hands.click(
        page.get_by_role("row").filter(has_text=reference).get_by_role("link", name="NCC-101402")
    )
    expect(page.get_by_role("heading", name="Case NCC-101402")).to_be_visible()
    expect(page.locator("#children")).to_contain_text("Maya Patel")
    expect(page.locator("#children")).to_contain_text("Born 5 June 2016")
    expect(page.get_by_role("row").filter(has_text=reference)).to_contain_text(steps.SCHOOL)
    worker.check()
    hands.click(page.get_by_role("button", name="Ask a partner about this case"))
    expect(page.get_by_role("heading", name="Ask a partner for information")).to_be_visible()
    assert urlsplit(page.url).path == "/requests/new/NCC-101402"
    worker.check()

    # Your cases: the team's cases, so nobody needs to know the case number.
    hands.click(page.get_by_role("link", name="Cases", exact=True))
    expect(page.get_by_role("heading", name="Your cases")).to_be_visible()
    case_row = page.get_by_role("row").filter(has_text="NCC-101402")
    expect(case_row).to_contain_text("Maya Patel")
    worker.check()
    hands.click(case_row.get_by_role("link", name="NCC-101402"))
    expect(page.get_by_role("heading", name="Case NCC-101402")).to_be_visible()
    worker.check()
    hands.click(page.get_by_role("link", name=reference))
    expect(page.get_by_role("heading", name=f"Request {reference}")).to_be_visible()
    worker.check()

    # The home page counts what needs doing and links to the list.
    counts_match_their_lists(worker)


def counts_match_their_lists(worker: Person) -> dict[str, int]:
    """Each count on the home page is the number of requests its link lists; nothing to count
    says so. The counts, by what they count."""
    page = worker.page
    worker.go("/")
    expect(page.get_by_role("heading", name="Your requests to partners")).to_be_visible()
    worker.check()
    items = page.locator(".portal-to-do li").all()
    counted = {
        item.locator("a").inner_text(): (
            int(item.locator("strong").inner_text()),
            item.locator("a").get_attribute("href") or "",
        )
        for item in items
    }
    if not counted:
        expect(page.get_by_text("Nothing needs your attention at the moment.")).to_be_visible()
    for count, href in counted.values():
        worker.go(href)
        plural = "request" if count == 1 else "requests"
        showing = page.locator("#showing")
        expect(showing).to_contain_text(f" of {count} {plural} matching the filters", timeout=5000)
        worker.check()
    return {label: count for label, (count, _) in counted.items()}


def send_again(lead: Person, reference: str, part: str, text: str, document: Path) -> None:
    """After a return: rewrite every text answer on `part`, attach `document` on the
    documents part, and send version 2."""
    page = lead.page
    steps.open_request(lead, reference)
    steps.start_answering(lead)
    for _ in range(20):
        if urlsplit(page.url).path.endswith("/answer/check"):
            break
        if page.get_by_role("heading", level=1).inner_text() == part:
            for box in steps.answers_form(lead).locator("textarea").all():
                lead.hands.fill(box, text)
        upload = page.get_by_label("Upload a document")
        if upload.count():
            lead.hands.upload(upload, document)
            lead.hands.click(page.get_by_role("button", name="Upload", exact=True))
            expect(page.get_by_text(document.name)).to_be_visible()
            lead.check()
        steps.save(lead)
        lead.check()
    steps.send_answers(lead)


def test_the_worker_sees_what_changed_in_version_2(
    people: People, stack: PortalStack, tmp_path: Path
) -> None:
    first = tmp_path / "attendance-report.pdf"
    first.write_bytes(steps.PDF)
    corrected = tmp_path / "attendance-report-corrected.pdf"
    corrected.write_bytes(one_page_pdf("Attendance report, corrected"))
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-100871", "Leo Barnes")
    lead = people()
    steps.contribute(lead, reference, first)

    steps.open_answers(worker, reference, 1)
    expect(worker.page.get_by_role("heading", name="What changed since version 1")).to_have_count(0)
    steps.decide(
        worker, "Ask for more information", part="Behaviour", note="What helps at lunchtime?"
    )
    expect(worker.page.locator("main")).to_contain_text("more information")
    worker.check()

    send_again(lead, reference, "Behaviour", "A lunchtime club helps.", corrected)

    # Sent back: the worker's to review, counted on the home page and first in the list.
    counts = counts_match_their_lists(worker)
    assert counts.get("requests to review", 0) >= 1, counts
    worker.go("/requests?status=submitted")
    row = worker.page.get_by_role("row").filter(has_text=reference)
    expect(row.locator(".govuk-tag").first).to_have_text("Awaiting your review")
    worker.check()

    steps.open_answers(worker, reference, 2)
    page = worker.page
    expect(page.get_by_role("heading", name="What changed since version 1")).to_be_visible()
    cards = page.locator(".govuk-summary-card")
    asked = cards.first
    expect(asked).to_contain_text("Behaviour")
    expect(asked).to_contain_text("You asked about this")
    expect(asked).to_contain_text("Changed")
    expect(asked).to_contain_text("Now: A lunchtime club helps.")
    expect(asked).to_contain_text("Was: Seen by the school")
    documents = cards.filter(has_text="Supporting documents")
    expect(documents).to_contain_text("Removed")
    expect(documents).to_contain_text("attendance-report.pdf")
    expect(documents).to_contain_text("Added")
    expect(documents).to_contain_text("attendance-report-corrected.pdf")
    expect(cards.filter(has_text="Strengths")).to_contain_text("No changes")
    worker.check()
