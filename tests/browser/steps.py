"""What the people in the journeys do, page by page, through the portal as they see it:
labels, buttons and links by their names. Each step checks every portal page it reaches with
axe (`Person.check`) before moving on, including the error states it provokes on purpose."""

from __future__ import annotations

import json
import re
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, expect

from tests.support.disarming import one_page_pdf
from tests.support.people import Person

SOCIAL_WORKER = ("sw-1@northmoor.example", "Sam Okafor")
SCHOOL_LEAD = ("dsl-1@ashbylane.sch.example", "Joanne Mercer")
OTHER_SCHOOL = ("school-2@brookfield.sch.example", "Aisha Khan")
IG_OFFICER = ("ig-1@northmoor.example", "Gareth Lloyd")
SCHOOL = "Ashby Lane Primary School"
SCHOOL_FORM = "School contribution to a child protection conference or assessment (for school)"
DUE_IN_DAYS = 10
PURPOSE = "For the initial child protection conference on 9 December."
# A small, valid PDF of one page: what a school attaches (an attendance report), and what the
# disarm worker can rebuild as a safe copy.
PDF = one_page_pdf("Attendance report")


def menu_link(page: Page, name: str) -> Locator:
    """A section of the service's navigation, by its exact name: the home page links to the
    same places in words of its own ("Search the audit trail", "organisations paused")."""
    return page.get_by_role("navigation", name="Menu").get_by_role("link", name=name, exact=True)


def sign_in(person: Person, who: tuple[str, str], shot: str | None = None) -> None:
    """By work e-mail address, then at the organisation's own provider (not the portal's
    page, so not checked here), back to the portal."""
    email, name = who
    person.go("/sign-in")
    person.check(shot)
    person.hands.fill(person.page.get_by_label("Work email address"), email)
    person.passes_through()
    person.hands.click(person.page.get_by_role("button", name="Continue"))
    person.hands.check(person.page.get_by_role("radio", name=name))
    person.hands.click(person.page.get_by_role("button", name="Sign in"))
    expect(person.page.get_by_text(f"Signed in as {name}")).to_be_visible()
    person.check()


def sign_in_to_wait(person: Person, who: tuple[str, str]) -> None:
    """A first sign-in that the portal records but does not let in: the person waits for
    approval (a newcomer, or anyone first through a provider approved in the last 30 days)."""
    email, name = who
    person.go("/sign-in")
    person.check()
    person.hands.fill(person.page.get_by_label("Work email address"), email)
    person.passes_through()
    person.hands.click(person.page.get_by_role("button", name="Continue"))
    person.hands.check(person.page.get_by_role("radio", name=name))
    person.hands.click(person.page.get_by_role("button", name="Sign in"))
    heading = person.page.get_by_role("heading", name="Your account is waiting for approval")
    expect(heading).to_be_visible()
    person.check()


def sign_out(person: Person) -> None:
    """Out of the portal and, at its own page, out of the organisation's provider too."""
    person.passes_through()
    person.hands.click(person.page.get_by_role("button", name="Sign out"))
    person.hands.click(person.page.get_by_role("button", name="Yes, sign me out"))
    expect(person.page.get_by_role("heading", name="You have signed out")).to_be_visible()
    person.check()


def fill_date(person: Person, group: str, day: date) -> None:
    fieldset = person.page.get_by_role("group", name=group)
    person.hands.fill(fieldset.get_by_label("Day"), str(day.day))
    person.hands.fill(fieldset.get_by_label("Month"), str(day.month))
    person.hands.fill(fieldset.get_by_label("Year"), str(day.year))


def open_request_form(person: Person, case: str, shots: bool = False) -> None:
    """The social worker finds the case and reaches the form that asks a partner."""
    hands, page = person.hands, person.page
    hands.click(page.get_by_role("link", name="Requests", exact=True))
    person.check()
    hands.click(page.get_by_role("button", name="Ask a partner for information"))
    person.check("sw-1-find-case" if shots else None)
    hands.fill(page.get_by_label("What is the case reference?"), case)
    hands.click(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", name="Ask a partner for information")).to_be_visible()
    person.check()


def offered_organisations(person: Person, case: str) -> list[str]:
    """The organisations the request form offers for `case`."""
    open_request_form(person, case)
    options = person.page.get_by_label("Organisation").locator("option")
    return [text.strip() for text in options.all_inner_texts()]


def issue_request(
    person: Person,
    case: str,
    child: str,
    *,
    shots: bool = False,
    errors: bool = False,
    organisation: str = SCHOOL,
) -> str:
    """The social worker finds the case and asks the school (or `organisation`), with a due
    date; returns the request's reference. With `errors`, a first attempt with nothing filled
    in shows the error summary."""
    hands, page = person.hands, person.page
    open_request_form(person, case, shots)
    if errors:
        hands.click(page.get_by_role("button", name="Continue"))
        expect(page.get_by_role("alert")).to_contain_text("There is a problem")
        person.check("sw-2-request-errors" if shots else None)
    hands.check(page.get_by_role("checkbox", name=child))
    hands.select(page.get_by_label("Organisation"), organisation)
    hands.select(page.get_by_label("Questions to ask"), SCHOOL_FORM)
    hands.check(page.get_by_role("radio", name=re.compile("section 47")))
    hands.fill(page.get_by_label("Why you need this information"), PURPOSE)
    fill_date(person, "Due date", date.today() + timedelta(days=DUE_IN_DAYS))
    fill_date(person, "Closing date", date.today() + timedelta(days=30))
    hands.click(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", name="Check your request before sending it")).to_be_visible()
    person.check("sw-3-check-request" if shots else None)
    hands.click(page.get_by_role("button", name="Send request"))
    banner = page.get_by_role("alert").filter(has_text="Success")
    expect(banner).to_contain_text(f"sent to {organisation}")
    person.check("sw-4-request-sent" if shots else None)
    found = re.search(r"Request (DR-[A-Z0-9]+) sent", banner.inner_text())
    assert found, banner.inner_text()
    return found.group(1)


def open_request(person: Person, reference: str, shot: str | None = None) -> None:
    """The partner finds the request in their inbox and opens it."""
    person.hands.click(person.page.get_by_role("link", name="Requests", exact=True))
    person.check(shot)
    person.hands.click(person.page.get_by_role("link", name=reference))
    expect(person.page.get_by_role("heading", name=f"Request {reference}")).to_be_visible()
    person.check()


def answers_form(person: Person) -> Locator:
    return person.page.locator("form#section-answers")


def fill_section(person: Person) -> None:
    """Answer every question on this part, as a school would: numbers, yes/no, text, dates."""
    form = answers_form(person)
    done: set[str] = set()
    for field in form.locator("input:not([type=hidden]), textarea").all():
        name = field.get_attribute("name") or ""
        kind = field.get_attribute("type")
        ident = field.get_attribute("id") or ""
        if name in done or not field.is_visible():
            continue
        if kind == "radio":
            done.add(name)
            person.hands.check(field)
        elif ident.endswith(("-day", "-month", "-year")):
            part = ident.rsplit("-", 1)[1]
            person.hands.fill(field, {"day": "3", "month": "10", "year": "2026"}[part])
        elif field.evaluate("element => element.tagName") == "TEXTAREA":
            person.hands.fill(field, "Seen by the school; recorded in the safeguarding log.")
        else:
            person.hands.fill(field, "2")


def save(person: Person, button: str = "Save and continue") -> None:
    person.hands.click(person.page.get_by_role("button", name=button))
    person.page.wait_for_load_state()


def answer_remaining_parts(person: Person, document: Path, shots: bool = False) -> None:
    """Answer each part in turn up to the check-answers page, attaching `document` on the
    documents part."""
    page = person.page
    for _ in range(20):
        if urlsplit(page.url).path.endswith("/answer/check"):
            return
        upload = page.get_by_label("Upload a document")
        if upload.count():
            person.hands.upload(upload, document)
            person.hands.click(page.get_by_role("button", name="Upload", exact=True))
            expect(page.get_by_role("alert").filter(has_text="Success")).to_contain_text(
                "Document added"
            )
            expect(page.get_by_text(document.name)).to_be_visible()
            person.check("partner-3-document-added" if shots else None)
        else:
            fill_section(person)
        save(person)
        person.check()
    raise AssertionError(f"never reached the check-answers page; at {page.url}")


def send_answers(person: Person, shots: bool = False) -> str:
    """Check the answers, try to send without the declaration (an error), then send; returns
    the receipt page's text."""
    hands, page = person.hands, person.page
    expect(
        page.get_by_role("heading", name="Check your answers before sending them")
    ).to_be_visible()
    hands.click(page.get_by_role("button", name="Send answers"))
    expect(page.get_by_role("alert")).to_contain_text("Confirm the declaration")
    person.check("partner-4-declaration-error" if shots else None)
    hands.check(page.get_by_role("checkbox", name=re.compile("To the best of my knowledge")))
    hands.click(page.get_by_role("button", name="Send answers"))
    expect(page.get_by_role("link", name="Download the receipt")).to_be_visible()
    person.check("partner-5-receipt" if shots else None)
    return page.locator("main").inner_text()


def download_receipt(person: Person, reference: str) -> dict[str, object]:
    with person.page.expect_download() as download:
        link = person.page.get_by_role("link", name="Download the receipt")
        person.hands.click(link, navigates=False)
    path = download.value.path()
    receipt: dict[str, object] = json.loads(Path(path).read_text(encoding="utf-8"))
    assert reference in json.dumps(receipt)
    return receipt


def open_answers(person: Person, reference: str, version: int, shot: str | None = None) -> None:
    """The social worker opens the request and reads the partner's answers (a recorded read)."""
    person.go(f"/requests/{reference}")
    person.check()
    person.hands.click(person.page.get_by_role("link", name=re.compile(f"Version {version},")))
    expect(person.page.get_by_role("heading", name=f"{SCHOOL}’s answers")).to_be_visible()
    person.check(shot)


def decide(person: Person, decision: str, *, part: str | None = None, note: str = "") -> None:
    hands, page = person.hands, person.page
    hands.check(page.get_by_role("radio", name=decision))
    if part:
        hands.check(page.get_by_role("checkbox", name=part))
        fill_date(person, "New due date", date.today() + timedelta(days=5))
    if note:
        hands.fill(page.get_by_label(re.compile("What the partner needs to know")), note)
    hands.click(page.get_by_role("button", name="Confirm decision"))
    page.wait_for_load_state()


def start_answering(person: Person) -> None:
    """From the request page, the button that opens the questions (its words follow the
    request's state)."""
    button = person.page.get_by_role("button", name=re.compile("Answer the questions|Continue"))
    person.hands.click(button)
    if urlsplit(person.page.url).path.endswith("/children"):
        confirm_children(person)
    expect(person.page.locator("form#section-answers")).to_be_visible()
    person.check()


def confirm_children(person: Person) -> None:
    """Before the questions: the partner says it holds a record for each child, matched on
    name and date of birth (the choice revealed under "We hold a record for this child")."""
    page = person.page
    expect(page.get_by_role("heading", name=re.compile("Confirm the child"))).to_be_visible()
    person.check()
    for known in page.get_by_role("radio", name="We hold a record for this child").all():
        person.hands.check(known)
    for matched in page.get_by_role("radio", name="Name and date of birth").all():
        person.hands.check(matched)
    person.check()
    save(person)


def step_through_to_check(person: Person, change: str | None = None, text: str = "") -> None:
    """Save each part as it stands up to the check-answers page; on the part titled `change`,
    first replace every text answer with `text`."""
    page = person.page
    for _ in range(20):
        if urlsplit(page.url).path.endswith("/answer/check"):
            return
        if change and page.get_by_role("heading", level=1).inner_text() == change:
            for box in answers_form(person).locator("textarea").all():
                person.hands.fill(box, text)
        save(person)
        person.check()
    raise AssertionError(f"never reached the check-answers page; at {page.url}")


def contribute(person: Person, reference: str, document: Path) -> None:
    """The school answers every part and sends (the quick way through, with a mouse)."""
    sign_in(person, SCHOOL_LEAD)
    open_request(person, reference)
    start_answering(person)
    answer_remaining_parts(person, document)
    send_answers(person)


def delivery_status(person: Person, reference: str, timeout: float = 20) -> str:
    """Reload the request page until it says the answers reached the case record."""
    deadline = time.monotonic() + timeout
    while True:
        person.go(f"/requests/{reference}")
        person.check()
        text = person.page.locator("main").inner_text()
        if "Delivered to the case record" in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)
