"""Two people for a change that widens who can act for a partner, in real browsers, every page
checked (axe, reflow at 320 pixels, ids used once, no markup shown as text): a portal admin
proposes on the organisation's access page; an IG officer refuses one change (after leaving the
reason out, to see the error); the school's partner lead approves the other."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser import steps
from tests.support.people import Person

People = Callable[..., Person]
PORTAL_ADMIN = ("admin-1@northmoor.example", "Hannah Byrne")
NEW_DOMAIN = "ashbylane-academy.example"


def test_a_change_proposed_by_one_person_and_decided_by_another(people: People) -> None:
    admin = people()
    steps.sign_in(admin, PORTAL_ADMIN)
    admin.go("/admin/organisations")
    admin.check()
    access = re.compile(f"^{steps.SCHOOL}.*who can act for it$")
    admin.hands.click(admin.page.get_by_role("link", name=access))
    heading = admin.page.get_by_role("heading", name=f"Who can act for {steps.SCHOOL}")
    expect(heading).to_be_visible()
    admin.check()
    admin.hands.click(admin.page.get_by_role("button", name="Propose turning self-provisioning on"))
    expect(admin.page.get_by_text("Self-provisioning was proposed")).to_be_visible()
    admin.check()
    domains = admin.page.get_by_label("Email domains")
    admin.hands.fill(domains, domains.input_value() + f"\n{NEW_DOMAIN}")
    admin.hands.click(admin.page.get_by_role("button", name="Save email domains"))
    expect(admin.page.get_by_text("The new email domains were proposed")).to_be_visible()
    admin.check()

    officer = people()
    steps.sign_in(officer, steps.IG_OFFICER)
    officer.hands.click(officer.page.get_by_role("link", name="Approvals"))
    officer.check()
    officer.hands.click(officer.page.get_by_role("link", name="Turn self-provisioning on"))
    officer.check()
    officer.hands.click(officer.page.get_by_role("button", name="Refuse"))
    expect(officer.page.get_by_role("link", name="Enter why you are refusing")).to_be_visible()
    officer.check()
    officer.hands.fill(
        officer.page.get_by_label("Why are you refusing it?"),
        "New people at this school are approved by its partner lead",
    )
    officer.hands.click(officer.page.get_by_role("button", name="Refuse"))
    expect(officer.page.get_by_text("Refused: Turn self-provisioning on")).to_be_visible()
    officer.check()

    lead = people()
    steps.sign_in(lead, steps.SCHOOL_LEAD)
    lead.hands.click(lead.page.get_by_role("link", name="Approvals"))
    lead.check()
    lead.hands.click(lead.page.get_by_role("link", name="Change the email domains"))
    lead.check()
    lead.hands.click(lead.page.get_by_role("button", name="Approve"))
    expect(lead.page.get_by_text("has taken effect")).to_be_visible()
    lead.check()
    lead.go("/approvals")
    lead.check()
