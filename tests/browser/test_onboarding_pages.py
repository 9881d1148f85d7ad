"""The partner engagement officer's onboarding pages in a real browser, each checked like every
other page (axe, reflow at 320 pixels, ids used once, no markup shown as text), with their
error pages: adding an organisation, recording its checklist, moving it on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from playwright.sync_api import expect

from portal.uk_time import uk_today
from tests.browser import steps
from tests.support.people import Person

People = Callable[..., Person]
OFFICER = ("peo-1@northmoor.example", "Rachel Adeyemi")


def test_adding_an_organisation_and_recording_its_checklist(people: People) -> None:
    officer = people()
    page = officer.page
    steps.sign_in(officer, OFFICER)
    officer.hands.click(steps.menu_link(page, "Organisations"))
    expect(page.get_by_role("heading", name="Organisations")).to_be_visible()
    officer.check()

    officer.hands.click(page.get_by_role("button", name="Add an organisation"))
    officer.check()
    officer.hands.click(page.get_by_role("button", name="Add organisation"))
    expect(page.get_by_text("Enter the organisation’s name").first).to_be_visible()
    officer.check()
    officer.hands.fill(page.get_by_label("Name"), "Hollins Park Primary School")
    officer.hands.check(page.get_by_role("radio", name="School"))
    officer.hands.fill(page.get_by_label("E-mail domains"), "hollinspark.sch.example")
    officer.hands.click(page.get_by_role("button", name="Add organisation"))
    expect(page.get_by_role("heading", name="Hollins Park Primary School")).to_be_visible()
    expect(page.get_by_text("0 of 6 items met")).to_be_visible()
    officer.check()

    officer.hands.click(page.get_by_role("button", name="Start onboarding"))
    officer.check()
    officer.hands.click(page.get_by_role("button", name="Go live"))
    expect(
        page.get_by_text("It cannot go live until its checklist is complete").first
    ).to_be_visible()
    officer.check()

    officer.hands.click(page.get_by_role("link", name="Record the information-sharing agreement"))
    officer.check()
    officer.hands.fill(page.get_by_label("Agreement name"), "Northmoor schools ISA")
    officer.hands.fill(page.get_by_label("Version"), "2.1")
    officer.hands.fill(page.get_by_label("Signatories’ roles"), "Headteacher")
    today = uk_today()
    steps.fill_date(officer, "Date signed", today)
    steps.fill_date(officer, "Review date", today - timedelta(days=1))
    officer.hands.click(page.get_by_role("button", name="Record agreement"))
    expect(page.get_by_text("The review date must be after the date signed").first).to_be_visible()
    officer.check()
    steps.fill_date(officer, "Review date", today + timedelta(days=20))
    officer.hands.click(page.get_by_role("button", name="Record agreement"))
    expect(page.get_by_text("due for review in 20 days")).to_be_visible()
    officer.check()

    officer.hands.click(page.get_by_role("link", name="Record the DPIA reference"))
    officer.check()
    officer.hands.fill(page.get_by_label("DPIA reference"), "NCC-DPIA-2026-077")
    officer.hands.click(page.get_by_role("button", name="Record reference"))
    officer.check()
    officer.hands.click(page.get_by_role("link", name="Record the MFA decision"))
    officer.check()
    officer.hands.check(page.get_by_role("radio", name="No, MFA is not required"))
    officer.hands.click(page.get_by_role("button", name="Record decision"))
    expect(page.get_by_text("Enter why MFA is not required").first).to_be_visible()
    officer.check()
    officer.hands.fill(page.get_by_label("Why is MFA not required?"), "Managed devices on site")
    officer.hands.click(page.get_by_role("button", name="Record decision"))
    expect(page.get_by_text("3 of 6 items met")).to_be_visible()
    officer.check()


def test_a_live_and_a_paused_organisation_as_an_ig_officer_reads_them(people: People) -> None:
    officer = people()
    page = officer.page
    steps.sign_in(officer, OFFICER)
    officer.hands.click(steps.menu_link(page, "Organisations"))
    officer.check()
    officer.hands.click(page.get_by_role("link", name="Greystones Academy"))
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    officer.check()
    officer.hands.click(page.get_by_role("button", name="Resume"))
    expect(
        page.get_by_text("It cannot resume until its checklist is complete").first
    ).to_be_visible()
    officer.check()
    # Pausing a live partner needs a reason: asked without one, nothing changes.
    officer.hands.click(page.get_by_role("link", name="Back to organisations"))
    officer.check()
    officer.hands.click(page.get_by_role("link", name=steps.SCHOOL))
    officer.check()
    officer.hands.click(page.get_by_role("button", name="Pause"))
    expect(page.get_by_role("link", name="Select why it is being paused")).to_be_visible()
    officer.check()
    steps.sign_out(officer)

    reader = people()
    steps.sign_in(reader, steps.IG_OFFICER)
    reader.hands.click(steps.menu_link(reader.page, "Organisations"))
    reader.check()
    reader.hands.click(reader.page.get_by_role("link", name=steps.SCHOOL))
    expect(reader.page.get_by_text("6 of 6 items met")).to_be_visible()
    expect(reader.page.get_by_role("button", name="Pause")).to_have_count(0)
    reader.check()
