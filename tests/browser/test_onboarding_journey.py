"""From proposing an organisation to its first request, in real browsers, every portal page
checked (axe, reflow at 320 pixels, ids used once, no markup shown as text).

Juniper Hill Primary School is in no part of the portal yet, as a real school is before it
joins: the development OpenID provider serves its identity provider (config/demo-identity-
providers.toml's [[unregistered_provider]]), which nothing has registered. The partner
engagement officer adds the school and records its checklist; a portal admin registers its
provider (a proposal) and an IG officer approves it; the school's safeguarding lead signs in
(the test sign-in; she waits for approval, the provider being new); the officer proposes her as
partner lead and the IG officer approves; the school goes live, having first been refused with
what was missing; a social worker, not offered the school before, sends it a request; and the
new partner lead is told by e-mail and finds it in her inbox."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from playwright.sync_api import expect

from portal.demo.seed import UNREGISTERED_SCHOOL
from portal.uk_time import uk_today
from tests.browser import steps
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]
OFFICER = ("peo-1@northmoor.example", "Rachel Adeyemi")
PORTAL_ADMIN = ("admin-1@northmoor.example", "Hannah Byrne")
SCHOOL = UNREGISTERED_SCHOOL
SCHOOL_DOMAIN = "juniperhill.sch.example"
NEW_LEAD = (f"lead-1@{SCHOOL_DOMAIN}", "Grace Whitfield")
CASE, CHILD = "NCC-101955", "Isla Williams"


def test_from_proposing_an_organisation_to_its_first_request(
    people: People, stack: PortalStack
) -> None:
    officer = people()
    steps.sign_in(officer, OFFICER)
    add_the_school(officer)
    record_the_checklist(officer)
    go_live(officer, missing=("partner lead", "identity provider", "test sign-in"))

    admin = people()
    steps.sign_in(admin, PORTAL_ADMIN)
    register_the_provider(admin, stack)
    approver = people()
    steps.sign_in(approver, steps.IG_OFFICER)
    approve(approver, f"Add the identity provider {SCHOOL} (juniper-hill)")

    lead = people()
    steps.sign_in_to_wait(lead, NEW_LEAD)
    propose_the_partner_lead(officer)
    approve(approver, f"Make {NEW_LEAD[1]} partner lead")

    worker = people()
    steps.sign_in(worker, steps.SOCIAL_WORKER)
    assert SCHOOL not in steps.offered_organisations(worker, CASE)
    go_live(officer)
    reference = steps.issue_request(worker, CASE, CHILD, organisation=SCHOOL)

    # Told by e-mail (a reference and a link, nothing about the child), and in her inbox.
    message = stack.wait_for_mail(reference)
    assert NEW_LEAD[0] in message and CHILD not in message
    steps.sign_in(lead, NEW_LEAD)
    steps.open_request(lead, reference)
    expect(lead.page.locator("main")).to_contain_text(CHILD)


def add_the_school(officer: Person) -> None:
    """A new school with its e-mail domain, proposed, then onboarding."""
    page = officer.page
    officer.hands.click(steps.menu_link(page, "Organisations"))
    officer.check()
    officer.hands.click(page.get_by_role("button", name="Add an organisation"))
    officer.check()
    officer.hands.fill(page.get_by_label("Name"), SCHOOL)
    officer.hands.check(page.get_by_role("radio", name="School"))
    officer.hands.fill(page.get_by_label("E-mail domains"), SCHOOL_DOMAIN)
    officer.hands.click(page.get_by_role("button", name="Add organisation"))
    expect(page.get_by_role("heading", name=SCHOOL)).to_be_visible()
    expect(page.get_by_text("0 of 6 items met")).to_be_visible()
    officer.check()
    officer.hands.click(page.get_by_role("button", name="Start onboarding"))
    officer.check()


def record_the_checklist(officer: Person) -> None:
    """The agreement, the DPIA's reference and the MFA decision: 3 of 6."""
    page, hands = officer.page, officer.hands
    hands.click(page.get_by_role("link", name="Record the information-sharing agreement"))
    officer.check()
    hands.fill(page.get_by_label("Agreement name"), "Northmoor schools ISA")
    hands.fill(page.get_by_label("Version"), "2.1")
    hands.fill(page.get_by_label("Signatories’ roles"), "Headteacher")
    steps.fill_date(officer, "Date signed", uk_today())
    steps.fill_date(officer, "Review date", uk_today() + timedelta(days=365))
    hands.click(page.get_by_role("button", name="Record agreement"))
    officer.check()
    hands.click(page.get_by_role("link", name="Record the DPIA reference"))
    officer.check()
    hands.fill(page.get_by_label("DPIA reference"), "NCC-DPIA-2026-112")
    hands.click(page.get_by_role("button", name="Record reference"))
    officer.check()
    hands.click(page.get_by_role("link", name="Record the MFA decision"))
    officer.check()
    hands.check(page.get_by_role("radio", name="No, MFA is not required"))
    hands.fill(page.get_by_label("Why is MFA not required?"), "Managed devices on site")
    hands.click(page.get_by_role("button", name="Record decision"))
    expect(page.get_by_text("3 of 6 items met")).to_be_visible()
    officer.check()


def go_live(officer: Person, missing: tuple[str, ...] = ()) -> None:
    """From the school's page: refused with what is `missing`, or live when nothing is."""
    page = officer.page
    officer.hands.click(steps.menu_link(page, "Organisations"))
    officer.check()
    officer.hands.click(page.get_by_role("link", name=SCHOOL))
    officer.check()
    officer.hands.click(page.get_by_role("button", name="Go live"))
    if missing:
        refusal = page.get_by_role("alert")
        expect(refusal).to_contain_text("It cannot go live until its checklist is complete")
        for item in missing:
            expect(refusal).to_contain_text(item)
    else:
        expect(page.get_by_text("6 of 6 items met")).to_be_visible()
        expect(page.get_by_role("button", name="Pause")).to_be_visible()
    officer.check()


def register_the_provider(admin: Person, stack: PortalStack) -> None:
    """What the school's IT told the council, typed into the admin's page: a proposal."""
    spec, secret = stack.unregistered["juniper-hill"]
    page, hands = admin.page, admin.hands
    admin.go("/admin/identity-providers")
    admin.check()
    hands.click(page.get_by_role("button", name="Add an identity provider"))
    admin.check()
    hands.select(page.get_by_label("Organisation"), SCHOOL)
    hands.fill(page.get_by_label("Slug"), spec.slug)
    hands.fill(page.get_by_label("Display name"), spec.display_name)
    hands.fill(page.get_by_label("Issuer", exact=True), spec.issuer)
    hands.fill(page.get_by_label("Client ID"), spec.client_id)
    hands.fill(page.get_by_label("Client secret", exact=True), secret or "")
    hands.fill(page.get_by_label("Allowed email domains"), SCHOOL_DOMAIN)
    hands.click(page.get_by_role("button", name="Save identity provider"))
    expect(page.get_by_text(f"{SCHOOL}, a new identity provider, was proposed")).to_be_visible()
    admin.check()


def approve(approver: Person, change: str) -> None:
    """An IG officer approves `change` on /approvals."""
    page = approver.page
    approver.hands.click(page.get_by_role("link", name="Approvals", exact=True))
    approver.check()
    approver.hands.click(page.get_by_role("link", name=change))
    approver.check()
    approver.hands.click(page.get_by_role("button", name="Approve"))
    expect(page.get_by_text(f"Approved: {change} has taken effect")).to_be_visible()
    approver.check()


def propose_the_partner_lead(officer: Person) -> None:
    """On who can act for the school: its safeguarding lead, who has signed in once."""
    page = officer.page
    officer.hands.click(steps.menu_link(page, "Organisations"))
    officer.check()
    officer.hands.click(page.get_by_role("link", name=SCHOOL))
    expect(page.get_by_text("5 of 6 items met")).to_be_visible()  # its test sign-in too
    officer.check()
    access = page.get_by_role("link", name="Who can act for this organisation", exact=True)
    officer.hands.click(access)
    officer.check()
    officer.hands.check(page.get_by_role("radio", name=re.compile(NEW_LEAD[1])))
    officer.hands.click(page.get_by_role("button", name="Propose as partner lead"))
    expect(page.get_by_text(f"{NEW_LEAD[1]} was proposed as partner lead")).to_be_visible()
    officer.check()
