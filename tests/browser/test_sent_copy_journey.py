"""The school keeps a copy of what it sent and anyone can check its receipt, in a real browser:
the partner sends, opens the copy, downloads its PDF, signs out, and uploads the PDF (then
something that is not a receipt) to the public page. Every page passes axe and reflows."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pikepdf
from playwright.sync_api import expect

from tests.browser import steps
from tests.support.pdf_font import require_pdf_font
from tests.support.pdf_text import pdf_text
from tests.support.people import Person

People = Callable[..., Person]


def test_the_school_keeps_a_copy_and_anyone_checks_its_receipt(
    people: People, tmp_path: Path
) -> None:
    require_pdf_font()
    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    reference = steps.issue_request(worker, "NCC-100871", "Leo Barnes")
    document = tmp_path / "attendance-report.pdf"
    document.write_bytes(steps.PDF)

    lead = people()
    page = lead.page
    steps.contribute(lead, reference, document)
    receipt = page.locator("main")
    expect(receipt).to_contain_text(re.compile(r"Sent at\s+\d{1,2} \w+ \d{4} at "))
    expect(receipt).not_to_contain_text("UTC")
    expect(receipt).not_to_contain_text("+00:00")

    lead.hands.click(page.get_by_role("link", name="See a copy of what you sent"))
    expect(
        page.get_by_role("heading", name=f"What you sent: {reference}, version 1")
    ).to_be_visible()
    expect(page.locator("main")).to_contain_text("recorded in the safeguarding log")
    expect(page.locator("main")).to_contain_text(document.name)
    # The receipt's proof from the audit log: a link once a witnessed checkpoint covers it,
    # until then when it will be ready (the stack witnesses on its own time).
    expect(page.locator("#receipt-proof")).to_contain_text(
        re.compile("available within a few minutes|Download the receipt with its proof")
    )
    lead.check()

    with page.expect_download() as download:
        lead.hands.click(
            page.get_by_role("link", name="Download this copy as a PDF"), navigates=False
        )
    copy = tmp_path / "copy.pdf"
    download.value.save_as(copy)
    with pikepdf.open(copy) as pdf:
        assert {"receipt.json", "content.json"} <= set(pdf.attachments)
    text = pdf_text(copy.read_bytes())
    assert "recorded in the safeguarding log" in text and document.name in text
    assert hashlib.sha256(steps.PDF).hexdigest() in text.replace("\n", "").replace("\r", "")
    steps.sign_out(lead)

    lead.go("/receipts/verify")
    expect(page.get_by_role("heading", name="Check a receipt")).to_be_visible()
    lead.check()
    lead.hands.click(page.get_by_role("button", name="Check the receipt"))
    expect(page.get_by_role("alert")).to_contain_text("Select the receipt file or the PDF copy")
    lead.check()
    lead.hands.upload(page.get_by_label("Receipt or PDF copy"), copy)
    lead.hands.click(page.get_by_role("button", name="Check the receipt"))
    expect(page.get_by_text("This receipt is genuine")).to_be_visible()
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text(f"{steps.SCHOOL} sent version 1 of request {reference}")
    expect(verdict).to_contain_text(re.compile(r"on \d{1,2} \w+ \d{4} at \d{1,2}(:\d\d)?(am|pm)"))
    expect(page.locator("#content-verdict")).to_contain_text("matches the receipt’s digest")
    expect(page.locator("#content-verdict")).to_contain_text("visible pages were not checked")
    expect(page.locator("main")).not_to_contain_text("safeguarding log")
    lead.check()

    expect(page.get_by_role("link", name="published key")).to_have_attribute(
        "href", "/receipts/keys"
    )
    lead.hands.click(page.get_by_role("link", name="Check another receipt"))
    lead.check()
    lead.hands.upload(page.get_by_label("Receipt or PDF copy"), document)  # a PDF, no receipt
    lead.hands.click(page.get_by_role("button", name="Check the receipt"))
    expect(page.get_by_role("alert")).to_contain_text("This PDF does not carry a receipt")
    lead.check()

    lead.go("/receipts/keys")
    expect(page.get_by_role("heading", name="The keys receipts are signed with")).to_be_visible()
    expect(page.locator("main")).to_contain_text("signs receipts now")
    lead.check()
