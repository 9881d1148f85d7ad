"""The inbox lists exactly what the request pages let a partner open: the visibility rule as a
WHERE clause (portal/requests/access.py partner_sees) agrees with the rule itself
(partner_may_see) for every status, named recipient, lapse, role and organisation. It orders
open requests first, then by due date, and shows them a page at a time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import RequestStatus
from portal.models import DelegationRequest, OrganisationKind, Role, User
from portal.requests import inbox
from portal.requests.access import partner_may_see, partner_sees
from portal.uk_time import uk_today
from tests.factories import make_case, make_organisation, make_request, make_user, sign_in


def test_the_clause_and_the_rule_agree_on_every_kind_of_request(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    case, _child = make_case(db_session, cipher, "Amelia Hart")
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    other = make_organisation(db_session, OrganisationKind.SCHOOL)
    worker = make_user(db_session, make_organisation(db_session), Role.SOCIAL_WORKER)
    people = {
        "lead": make_user(db_session, school, Role.PARTNER_LEAD),
        "contributor": make_user(db_session, school, Role.PARTNER_CONTRIBUTOR),
        "colleague": make_user(db_session, school, Role.PARTNER_CONTRIBUTOR),
        "no role": make_user(db_session, school),
        "other school": make_user(db_session, other, Role.PARTNER_LEAD),
    }
    now = datetime.now(UTC)
    for status, named, lapsed in itertools.product(
        RequestStatus, (None, "contributor", "colleague"), (False, True)
    ):
        request = make_request(db_session, cipher, case, school, worker)
        request.status = status
        request.named_recipient_id = people[named].id if named else None
        request.expires_at = now + (timedelta(days=-1) if lapsed else timedelta(days=1))
    db_session.flush()
    requests = db_session.scalars(sa.select(DelegationRequest)).all()

    for name, person in people.items():
        expected = {r.id for r in requests if partner_may_see(person, r, now)}
        listed = set(
            db_session.scalars(sa.select(DelegationRequest.id).where(partner_sees(person, now)))
        )
        assert listed == expected, name
    assert len({r.id for r in requests if partner_may_see(people["contributor"], r, now)}) > 1


def test_the_inbox_lists_open_requests_first_then_by_due_date(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    case, _child = make_case(db_session, cipher, "Amelia Hart")
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    worker = make_user(db_session, make_organisation(db_session), Role.SOCIAL_WORKER)
    lead: User = make_user(db_session, school, Role.PARTNER_LEAD)
    made = {}
    for name, status, due in (
        ("sent later", RequestStatus.ISSUED, 9),
        ("awaiting review", RequestStatus.SUBMITTED, 1),
        ("returned", RequestStatus.RETURNED, 5),
        ("sent sooner", RequestStatus.IN_PROGRESS, 2),
    ):
        request = make_request(db_session, cipher, case, school, worker)
        request.status, request.due_on = status, uk_today() + timedelta(days=due)
        made[request.reference] = name
    db_session.flush()

    page = inbox.inbox_page(db_session, lead)
    assert page is not None
    listed = [made[row.reference] for row in page.rows]
    assert listed == ["sent sooner", "returned", "sent later", "awaiting review"]


def test_a_long_inbox_is_shown_a_page_at_a_time(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    case, _child = make_case(db_session, cipher, "Amelia Hart")
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    worker = make_user(db_session, make_organisation(db_session), Role.SOCIAL_WORKER)
    lead = make_user(db_session, school, Role.PARTNER_LEAD)
    made = []
    for days in range(inbox.INBOX_PAGE_SIZE + 3):
        request = make_request(db_session, cipher, case, school, worker)
        request.due_on = uk_today() + timedelta(days=days)
        made.append(request.reference)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, lead)

    first = client.get("/inbox").get_data(as_text=True)
    second = client.get("/inbox?page=2").get_data(as_text=True)

    size = inbox.INBOX_PAGE_SIZE
    assert [ref for ref in made if ref in first] == made[:size]  # the soonest due first
    assert [ref for ref in made if ref in second] == made[size:]
    assert f"Showing 1 to {size} of {size + 3} requests." in first
    assert f"Showing {size + 1} to {size + 3} of {size + 3} requests." in second
    assert "<title>Requests for your organisation (page 2 of 2)" in second
    assert 'href="/inbox?page=2"' in first and 'rel="next"' in first
    assert 'href="/inbox?page=1"' in second and 'rel="prev"' in second
    assert 'aria-current="page"' in second
    # Past the last page (a bookmark, a list that has shrunk): to the last page, filters kept.
    for beyond in ("3", "100001", str(2**63 - 1), str(2**70)):
        gone = client.get(f"/inbox?page={beyond}")
        assert (gone.status_code, gone.location) == (302, "/inbox?page=2"), beyond
    filtered = client.get("/inbox?page=9&status=to-answer&with=me")
    assert filtered.location == "/inbox?status=to-answer&with=me&page=1"  # none are with them
    for first in ("0", "-1"):  # page 1
        assert [
            ref for ref in made if ref in client.get(f"/inbox?page={first}").get_data(as_text=True)
        ] == made[:size]
    not_a_number = client.get("/inbox?page=x").get_data(as_text=True)
    assert [ref for ref in made if ref in not_a_number] == made[:size]  # page 1


def test_an_empty_inbox_says_so_on_its_one_page(app: Flask, db_session: Session) -> None:
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    lead = make_user(db_session, school, Role.PARTNER_LEAD)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, lead)
    page = client.get("/inbox").get_data(as_text=True)
    assert "There are no requests for you at the moment." in page
    assert "govuk-pagination" not in page
    assert client.get("/inbox?page=2").location == "/inbox?page=1"
