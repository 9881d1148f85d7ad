"""The inbox's columns, counts, filters and pages (portal/requests/inbox.py): the children
each request is about (read only for the page's rows, each shown row audited as a read of
their details), who it is with, and counts and filters the database works out, with the
same visibility rule as the list."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from portal.audit import AuditAction
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import RequestStatus
from portal.models import AuditEvent, Child, DelegationRequest, OrganisationKind, Role, User
from portal.requests import inbox
from portal.uk_time import uk_today
from tests.factories import make_case, make_organisation, make_request, make_user, sign_in
from tests.integration.test_session_queries import statements


class School:
    def __init__(self, session: Session, keyring: FileKeyring) -> None:
        self.session = session
        self.cipher = RecordCipher(keyring, session)
        self.case, amelia = make_case(session, self.cipher, "Amelia Hart")
        oliver = Child(case=self.case, position=1)
        self.cipher.seal_text(oliver, "name_enc", "Oliver Hart")
        self.cipher.seal_text(oliver, "date_of_birth_enc", "2017-09-02")
        session.add(oliver)
        self.children = [amelia, oliver]
        self.school = make_organisation(session, OrganisationKind.SCHOOL, "Ashby Lane Primary")
        self.worker = make_user(session, make_organisation(session), Role.SOCIAL_WORKER)
        self.lead = make_user(session, self.school, Role.PARTNER_LEAD)
        self.teacher = make_user(session, self.school, Role.PARTNER_CONTRIBUTOR)
        self.colleague = make_user(session, self.school, Role.PARTNER_CONTRIBUTOR)

    def request(
        self,
        due_in: int = 7,
        status: RequestStatus = RequestStatus.ISSUED,
        named: User | None = None,
        children: int = 1,
    ) -> DelegationRequest:
        made = make_request(self.session, self.cipher, self.case, self.school, self.worker)
        made.due_on = uk_today() + timedelta(days=due_in)
        made.status = status
        made.named_recipient_id = named.id if named else None
        made.children = self.children[:children]
        self.session.flush()
        return made


def page_of(app: Flask, person: User, query: str = "") -> str:
    client = app.test_client()
    sign_in(app, client, person)
    response = client.get(f"/inbox{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def row_of(html: str, reference: str) -> str:
    found = re.search(
        rf"<tr class=\"govuk-table__row\">\s*<td[^>]*><a[^>]*>{reference}</a>.*?</tr>", html, re.S
    )
    assert found, reference
    return found.group(0)


def children_read(session: Session) -> list[tuple[str | None, dict[str, object]]]:
    session.expire_all()
    return [
        (event.object_id, event.details)
        for event in session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CHILD_DETAILS_VIEWED.value)
        )
    ]


def test_each_row_names_its_children_and_who_it_is_with(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    world = School(db_session, keyring)
    both = world.request(children=2)
    mine = world.request(named=world.lead)
    theirs = world.request(named=world.colleague)
    not_known = world.request(status=RequestStatus.CHILD_NOT_KNOWN)
    db_session.commit()

    html = page_of(app, world.lead)

    assert "Amelia Hart, Oliver Hart" in row_of(html, both.reference)
    assert "Anyone at Ashby Lane Primary" in row_of(html, both.reference)
    assert "Not passed to anyone yet" in row_of(html, both.reference)
    assert ">You<" in row_of(html, mine.reference)
    assert world.colleague.display_name in row_of(html, theirs.reference)
    assert "Amelia" not in row_of(html, not_known.reference)
    # One read of the children's details per row that shows them, and none for the other.
    read = children_read(db_session)
    assert sorted(str(ref) for ref, _ in read) == sorted(
        [both.reference, mine.reference, theirs.reference]
    )
    assert {details["shown_in"] for _, details in read} == {"inbox"}


def test_counts_filters_and_pages_are_the_databases_and_keep_the_filters(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    world = School(db_session, keyring)
    overdue = [world.request(due_in=-2) for _ in range(2)]
    this_week = [world.request(due_in=d) for d in (0, 3, 6)]
    later = world.request(due_in=7)  # a week today: not this week
    passed = [
        world.request(due_in=20, named=world.teacher) for _ in range(inbox.INBOX_PAGE_SIZE + 2)
    ]
    world.request(due_in=-5, status=RequestStatus.SUBMITTED)  # sent: not overdue
    returned = world.request(due_in=9, status=RequestStatus.RETURNED)
    world.request(due_in=1, named=world.colleague)  # the teacher cannot see it
    world.request(due_in=1, status=RequestStatus.REVOKED)  # nobody sees it
    db_session.commit()
    teacher = world.teacher
    today = uk_today()

    counts = inbox.inbox_counts(db_session, teacher, today)
    assert (counts.due_this_week, counts.overdue, counts.with_me) == (3, 2, len(passed))
    assert counts.returned == 1 and counts.to_answer == 2 + 3 + 1 + len(passed) + 1

    def refs(made: list[DelegationRequest]) -> set[str]:
        return {r.reference for r in made}

    def listed(**args: str) -> set[str]:
        filters = inbox.InboxFilters.from_args(args)
        found, number = set(), 1
        while (page := inbox.inbox_page(db_session, teacher, number, filters, today)) and page.rows:
            found |= {row.reference for row in page.rows}
            number += 1
        return found

    assert listed(due="overdue") == refs(overdue)
    assert listed(due="this-week") == refs(this_week)
    assert listed(status="returned") == {returned.reference}
    assert listed(**{"with": "me"}) == refs(passed)
    assert later.reference in listed(status="to-answer")
    assert listed(status="nonsense") == listed()  # an unknown value is no filter

    html = page_of(app, teacher, "?with=me&status=to-answer")
    assert f"Showing 1 to {inbox.INBOX_PAGE_SIZE} of {len(passed)} requests." in html
    assert 'href="/inbox?status=to-answer&amp;with=me&amp;page=2"' in html
    assert "Clear filters" in html
    assert re.search(r'<option value="to-answer" selected>', html)
    second = page_of(app, teacher, "?status=to-answer&with=me&page=2")
    assert "Showing 26 to 27 of 27 requests." in second
    assert "Clear filters" not in page_of(app, teacher)
    assert "No requests match these filters" in page_of(
        app, world.colleague, "?due=overdue&with=me"
    )
    # The counts at the top link to the lists they count.
    assert re.search(r'href="/inbox\?due=overdue"[^>]*><span[^>]*>2</span> Overdue', html)


def test_a_page_costs_the_same_statements_however_long_the_inbox_and_reads_only_its_rows(
    app: Flask, db_session: Session, keyring: FileKeyring, connection: Connection
) -> None:
    world = School(db_session, keyring)
    for _ in range(inbox.INBOX_PAGE_SIZE + 1):  # a full first page
        world.request(children=2)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, world.lead)
    client.get("/inbox")
    with statements(connection) as short:
        client.get("/inbox")
    for _ in range(inbox.INBOX_PAGE_SIZE * 3):
        world.request(children=2)
    db_session.commit()
    client.get("/inbox")
    before = len(children_read(db_session))
    with statements(connection) as long:
        html = client.get("/inbox").get_data(as_text=True)

    # Every row shown costs its audited read; beyond the page, nothing grows with the inbox.
    assert len(long) == len(short), (short, long)
    assert html.count("Amelia Hart, Oliver Hart") == inbox.INBOX_PAGE_SIZE
    selects = [s for s in long if s.startswith("SELECT")]
    # One statement for the page (LIMIT), one for the counts, one for the page's children.
    assert sum("OFFSET" in s and "delegation_requests" in s for s in selects) == 1
    assert sum("count(*) FILTER" in s for s in selects) == 1
    children = [s for s in selects if "request_children" in s]
    assert len(children) == 1
    # Exactly one read a row shown, for the rows on the page.
    read = children_read(db_session)[before:]
    assert len(read) == inbox.INBOX_PAGE_SIZE
    shown = set(re.findall(r'href="/inbox/([A-Z0-9-]+)"', html))
    assert {reference for reference, _ in read} == shown and len(shown) == len(read)


def test_a_child_whose_name_is_no_longer_held_is_said_so_and_not_read(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    world = School(db_session, keyring)
    gone = world.request(children=1)
    both = world.request(children=2)
    db_session.commit()
    amelia = world.children[0]
    assert amelia.data_key is not None
    amelia.data_key.wrapped_key = None  # destroyed: crypto-shredded
    db_session.commit()

    html = page_of(app, world.lead)

    assert "Name no longer held" in row_of(html, gone.reference)
    assert "Name no longer held, Oliver Hart" in row_of(html, both.reference)
    # Only the row that still shows a name is a read of the children's details.
    assert [reference for reference, _ in children_read(db_session)] == [both.reference]


def test_the_home_page_counts_what_the_partner_has_to_do_in_one_query(
    app: Flask, db_session: Session, keyring: FileKeyring, connection: Connection
) -> None:
    world = School(db_session, keyring)
    world.request(due_in=-1)
    world.request(due_in=2, named=world.teacher)
    world.request(due_in=30, status=RequestStatus.RETURNED)
    world.request(due_in=1, named=world.colleague)  # not the teacher's
    db_session.commit()

    section = inbox.partner_to_do(db_session, world.teacher, uk_today())
    counts = {item.label: (item.count, item.args) for item in section.to_do}
    assert counts["requests to answer"][0] == 3
    assert counts["requests passed to you"] == (1, {"status": "to-answer", "with": "me"})
    assert counts["requests due this week"][0] == 1
    assert counts["overdue requests"][0] == 1
    assert counts["answers returned for more information"][0] == 1
    assert [item.urgent for item in section.to_do if item.label == "overdue requests"] == [True]

    client = app.test_client()
    sign_in(app, client, world.teacher)
    client.get("/")
    with statements(connection) as ran:
        home = client.get("/").get_data(as_text=True)
    assert 'href="/inbox?due=overdue"' in home
    assert sum("FROM delegation_requests" in s for s in ran) == 1  # one aggregate, no list
