"""My requests lists exactly what the request pages let council staff open: the visibility rule
as a WHERE clause (portal/requests/access.py council_sees) agrees with the rule itself
(council_may_see) for every person and request. It names the children (a read of their
details, on the record, only for the rows shown), filters by case, partner and status, pages,
and the home page counts what needs doing from the same rule."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import date, timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.audit import AuditAction
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus, OutboxStatus, RequestStatus
from portal.models import (
    AuditEvent,
    Case,
    Child,
    Contribution,
    DelegationRequest,
    Organisation,
    OrganisationKind,
    OutboxMessage,
    Role,
    Team,
    User,
)
from portal.requests import case_pages, mine
from portal.requests.access import (
    council_decides,
    council_may_change,
    council_may_see,
    council_sees,
)
from tests.conftest import both_backends
from tests.factories import make_organisation, make_request, make_user, sign_in
from tests.support.statements import statements_run


def team_case(session: Session, cipher: RecordCipher, team: Team, *names: str) -> Case:
    case = Case(cms_reference=f"NCC-{uuid.uuid4().hex[:6].upper()}", team=team)
    session.add(case)
    for position, name in enumerate(names):
        child = Child(case=case, position=position)
        cipher.seal_text(child, "name_enc", name)
        cipher.seal_text(child, "date_of_birth_enc", "2015-03-14")
        session.add(child)
    session.flush()
    return case


def about(request: DelegationRequest, case: Case) -> DelegationRequest:
    request.children = list(case.children)
    return request


def children_read(session: Session) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CHILD_DETAILS_VIEWED.value)
        )
    )


class Council:
    """A council with two teams, each with a case, and a school to ask."""

    def __init__(self, session: Session, keyring: FileKeyring) -> None:
        self.session = session
        self.cipher = RecordCipher(keyring, session)
        self.council = make_organisation(session, OrganisationKind.COUNCIL)
        self.east = Team(organisation=self.council, name="CIN East")
        self.west = Team(organisation=self.council, name="CIN West")
        session.add_all([self.east, self.west])
        self.school = make_organisation(session, OrganisationKind.SCHOOL, "Ashby Lane Primary")
        self.police = make_organisation(session, OrganisationKind.POLICE, "Northshire Police")
        self.worker = make_user(session, self.council, Role.SOCIAL_WORKER, team=self.east)
        self.west_worker = make_user(session, self.council, Role.SOCIAL_WORKER, team=self.west)
        self.east_case = team_case(session, self.cipher, self.east, "Amelia Hart", "Oliver Hart")
        self.west_case = team_case(session, self.cipher, self.west, "Noah Reed")

    def request(
        self,
        case: Case,
        partner: Organisation | None = None,
        by: User | None = None,
        status: RequestStatus = RequestStatus.ISSUED,
        due_in: int = 7,
    ) -> DelegationRequest:
        made = make_request(
            self.session, self.cipher, case, partner or self.school, by or self.worker
        )
        made.status = status
        made.due_on = date.today() + timedelta(days=due_in)
        about(made, case)
        self.session.flush()
        return made

    def stopped_delivery(self, request: DelegationRequest) -> None:
        contribution = Contribution(
            request_id=request.id,
            version=1,
            status=ContributionStatus.ACCEPTED,
            created_by_id=request.requested_by_id,
        )
        self.session.add(contribution)
        self.session.flush()
        self.session.add(
            OutboxMessage(
                contribution_id=contribution.id,
                idempotency_key=f"test-{contribution.id}",
                status=OutboxStatus.DEAD_LETTERED,
            )
        )
        self.session.flush()


def everyone(db_session: Session, council: Council) -> dict[str, User]:
    east, west = council.east, council.west
    return {
        "east worker": council.worker,
        "east colleague": make_user(db_session, council.council, Role.SOCIAL_WORKER, team=east),
        "east manager": make_user(db_session, council.council, Role.TEAM_MANAGER, team=east),
        "west worker": make_user(db_session, council.council, Role.SOCIAL_WORKER, team=west),
        "west manager": make_user(db_session, council.council, Role.TEAM_MANAGER, team=west),
        "worker without a team": make_user(db_session, council.council, Role.SOCIAL_WORKER),
        "IG officer in east": make_user(db_session, council.council, Role.IG_OFFICER, team=east),
        "partner": make_user(db_session, council.school, Role.PARTNER_LEAD),
    }


def every_request(
    db_session: Session, council: Council, people: dict[str, User]
) -> list[DelegationRequest]:
    """A request by each person on each team's case in each status."""
    for case, issuer, status in itertools.product(
        (council.east_case, council.west_case), people.values(), RequestStatus
    ):
        council.request(case, by=issuer, status=status)
    return list(
        db_session.scalars(
            sa.select(DelegationRequest).options(sa.orm.joinedload(DelegationRequest.case))
        ).all()
    )


def clause_agrees_with_rule(
    db_session: Session,
    keyring: FileKeyring,
    clause: Callable[[User], sa.ColumnElement[bool]],
    rule: Callable[[User, DelegationRequest], bool],
) -> dict[str, int]:
    """For every person and every request, the clause lists what the rule allows; how many
    requests the rule allows each person."""
    council = Council(db_session, keyring)
    people = everyone(db_session, council)
    requests = every_request(db_session, council, people)
    for name, person in people.items():
        expected = {r.id for r in requests if rule(person, r)}
        listed = set(db_session.scalars(sa.select(DelegationRequest.id).where(clause(person))))
        assert listed == expected, name
    return {name: sum(rule(p, r) for r in requests) for name, p in people.items()}


def test_the_clause_and_the_rule_agree_for_every_person_and_request(
    db_session: Session, keyring: FileKeyring
) -> None:
    seen = clause_agrees_with_rule(db_session, keyring, council_sees, council_may_see)
    # Both sides of the rule are exercised: the team's cases (every issuer's), and one's own
    # on another team's case; without a casework role or a team, only one's own.
    n = len(RequestStatus)
    assert seen["east worker"] == seen["east manager"] == len(seen) * n + n
    assert seen["worker without a team"] == seen["IG officer in east"] == 2 * n


def test_who_decides_as_a_clause_agrees_with_the_rule_for_every_person_and_request(
    db_session: Session, keyring: FileKeyring
) -> None:
    """council_decides (what awaits a person's review) is council_may_change row by row."""
    decides = clause_agrees_with_rule(db_session, keyring, council_decides, council_may_change)
    n = len(RequestStatus)
    # A manager decides the team's requests and their own; a worker only their own.
    assert decides["east manager"] == len(decides) * n + n
    assert decides["east worker"] == decides["east colleague"] == 2 * n


def test_my_requests_names_the_children_and_records_only_the_rows_shown(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    for due_in in range(mine.PAGE_SIZE + 2):
        council.request(council.east_case, due_in=due_in)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)

    page = client.get("/requests").get_data(as_text=True)

    assert "Amelia Hart, Oliver Hart" in page
    assert f'href="/cases/{council.east_case.cms_reference}"' in page
    assert "Ashby Lane Primary" in page
    assert f"Showing 1 to {mine.PAGE_SIZE} of {mine.PAGE_SIZE + 2} requests." in page
    reads = children_read(db_session)
    assert len(reads) == mine.PAGE_SIZE  # the rows on the page, not the 27
    assert {e.details["shown_in"] for e in reads} == {"my_requests"}
    assert {e.object_type for e in reads} == {"delegation_request"}
    assert {e.case_reference for e in reads} == {council.east_case.cms_reference}
    shown = {e.object_id for e in reads}
    assert all(reference in page for reference in shown)


def test_my_requests_orders_review_first_then_due_and_pages(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    later = council.request(council.east_case, due_in=9)
    review = council.request(council.east_case, status=RequestStatus.SUBMITTED, due_in=30)
    sooner = council.request(council.east_case, status=RequestStatus.RETURNED, due_in=2)
    done = council.request(council.east_case, status=RequestStatus.ACCEPTED, due_in=-5)
    with app.test_request_context():
        page = mine.my_requests_page(
            db_session, council.cipher, council.worker, mine.Filters(), date.today()
        )
    assert page is not None
    assert [row.reference for row in page.rows] == [
        review.reference,
        sooner.reference,
        later.reference,
        done.reference,
    ]
    for _ in range(mine.PAGE_SIZE):
        council.request(council.east_case, due_in=40)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)
    second = client.get("/requests?page=2&status=issued").get_data(as_text=True)
    total = mine.PAGE_SIZE + 1  # the issued ones
    assert f"Showing {mine.PAGE_SIZE + 1} to {total} of {total} requests matching" in second
    assert "Your requests (page 2 of 2)" in second
    assert 'href="/requests?page=1&amp;status=issued"' in second
    # Past the last page: to the last page, filters kept; 0 or less is page 1.
    for beyond in ("3", "100001", str(2**70)):
        gone = client.get(f"/requests?page={beyond}&status=issued")
        assert (gone.status_code, gone.location) == (302, "/requests?page=2&status=issued")
    for first in ("0", "-1"):
        shown = client.get(f"/requests?page={first}&status=issued").get_data(as_text=True)
        assert f"Showing 1 to {mine.PAGE_SIZE} of {total} requests matching" in shown


def test_my_requests_filters_by_case_partner_and_status(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    other_case = team_case(db_session, council.cipher, council.east, "Isla Moss")
    school_one = council.request(council.east_case)
    police_one = council.request(council.east_case, partner=council.police)
    other_one = council.request(other_case, status=RequestStatus.SUBMITTED)
    late = council.request(other_case, status=RequestStatus.IN_PROGRESS, due_in=-1)
    stopped = council.request(other_case, status=RequestStatus.ACCEPTED)
    council.stopped_delivery(stopped)
    not_mine = council.request(council.west_case, by=council.west_worker)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)

    def listed(query: str) -> set[str]:
        page = client.get(f"/requests?{query}").get_data(as_text=True)
        every = (school_one, police_one, other_one, late, stopped, not_mine)
        return {r.reference for r in every if r.reference in page}

    ours = {r.reference for r in (school_one, police_one, other_one, late, stopped)}
    assert listed("") == ours
    case = council.east_case.cms_reference
    assert listed(f"case={case}") == {school_one.reference, police_one.reference}
    # Matched as the case page and the find-a-case lookup match it: exactly, once trimmed.
    assert listed(f"case=+{case}+") == {school_one.reference, police_one.reference}
    assert listed(f"case={case.lower()}") == set()
    assert listed(f"partner={council.police.id}") == {police_one.reference}
    assert listed(f"case={case}&partner={council.police.id}") == {police_one.reference}
    assert listed("status=submitted") == {other_one.reference}
    assert listed("status=overdue") == {late.reference}
    assert listed("status=delivery_stopped") == {stopped.reference}
    assert listed(f"case={council.west_case.cms_reference}") == set()
    # Values nobody chose from the form are left out, never an error.
    assert listed("status=nonsense&partner=not-a-uuid") == ours
    empty = client.get("/requests?case=NCC-999999").get_data(as_text=True)
    assert "No requests match the filters." in empty and "Clear filters" in empty
    form = client.get(f"/requests?partner={council.police.id}").get_data(as_text=True)
    assert f'<option value="{council.police.id}" selected>' in form
    assert "Northshire Police" in form and 'href="/requests">Clear filters' in form


def test_the_home_page_counts_what_needs_doing_in_one_query(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    council.request(council.east_case, status=RequestStatus.SUBMITTED)
    council.request(council.east_case, status=RequestStatus.SUBMITTED)
    council.request(council.east_case, status=RequestStatus.RETURNED, due_in=-2)
    council.request(council.east_case, status=RequestStatus.ISSUED, due_in=-1)
    council.request(council.east_case, status=RequestStatus.ACCEPTED, due_in=-9)
    council.stopped_delivery(council.request(council.east_case, status=RequestStatus.ACCEPTED))
    council.request(council.west_case, by=council.west_worker, status=RequestStatus.SUBMITTED)

    db_session.flush()
    with statements_run(db_session) as statements:
        section = mine.council_to_do(db_session, council.worker, date.today())
    counts = {item.label: (item.count, item.args) for item in section.to_do}
    assert counts == {
        "requests to review": (2, {"status": "submitted"}),
        "requests returned, awaiting the partner": (1, {"status": "returned"}),
        "overdue requests": (2, {"status": "overdue"}),
        "deliveries to the case record stopped": (1, {"status": "delivery_stopped"}),
    }
    assert len(statements) == 1
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/requests?status=submitted">requests to review' in home
    assert 'href="/requests?status=delivery_stopped">deliveries to the case record' in home


def test_nothing_to_do_says_so(app: Flask, db_session: Session, keyring: FileKeyring) -> None:
    council = Council(db_session, keyring)
    council.request(council.east_case, status=RequestStatus.ACCEPTED, due_in=-3)
    section = mine.council_to_do(db_session, council.worker, date.today())
    assert [item.count for item in section.to_do] == [0, 0, 0, 0]
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)
    assert "Nothing needs your attention at the moment." in client.get("/").get_data(as_text=True)


def test_a_case_page_lists_its_children_and_requests_for_its_team_only(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    council.east_case.allocated_worker_id = council.worker.id
    asked = council.request(council.east_case, partner=council.police)
    west_request = council.request(council.west_case, by=council.worker)  # issued, moved team
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)
    reference = council.east_case.cms_reference

    page = client.get(f"/cases/{reference}").get_data(as_text=True)

    assert f"Case {reference}" in page and "CIN East, allocated to you" in page
    assert "Amelia Hart" in page and "Born 14 March 2015" in page
    assert asked.reference in page and "Northshire Police" in page
    assert west_request.reference not in page
    assert 'action="/requests/new"' in page and f'name="reference" value="{reference}"' in page
    reads = children_read(db_session)
    # One read for the page: the case's children, whom its requests name too.
    assert [(e.object_type, e.object_id, e.details["shown_in"]) for e in reads] == [
        ("case", reference, "case_page")
    ]
    # Another team's case is as if it were not there, as is one the portal does not hold.
    assert client.get(f"/cases/{council.west_case.cms_reference}").status_code == 404
    assert client.get("/cases/NCC-NOPE").status_code == 404
    other = app.test_client()
    sign_in(app, other, council.west_worker)
    assert other.get(f"/cases/{reference}").status_code == 404
    assert len(children_read(db_session)) == 1  # refused pages read nothing
    # My requests lists the request on the other team's case, without a link to its page.
    listed = client.get("/requests").get_data(as_text=True)
    assert west_request.reference in listed
    assert f'href="/cases/{council.west_case.cms_reference}"' not in listed
    assert f'href="/cases/{reference}"' in listed


def test_your_cases_lists_the_teams_cases_allocated_first(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    quiet = team_case(db_session, council.cipher, council.east, "Isla Moss")
    mine_case = team_case(db_session, council.cipher, council.east, "Zara Quinn")
    mine_case.allocated_worker_id = council.worker.id
    council.request(council.east_case)
    council.request(council.east_case, status=RequestStatus.ACCEPTED)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)

    page = client.get("/cases").get_data(as_text=True)

    order = [mine_case.cms_reference, council.east_case.cms_reference, quiet.cms_reference]
    assert sorted(order, key=page.index) == order
    assert council.west_case.cms_reference not in page and "Noah Reed" not in page
    assert "Amelia Hart, Oliver Hart" in page and "Showing 1 to 3 of 3 cases." in page
    assert f'href="/cases/{quiet.cms_reference}"' in page
    reads = children_read(db_session)
    assert sorted(e.object_id for e in reads) == sorted(order)
    assert {e.details["shown_in"] for e in reads} == {"your_cases"}
    nobody = make_user(db_session, council.council, Role.SOCIAL_WORKER)
    db_session.commit()
    alone = app.test_client()
    sign_in(app, alone, nobody)
    assert "You are not in a team" in alone.get("/cases").get_data(as_text=True)
    assert alone.get("/cases?page=2").location == "/cases?page=1"


def test_the_list_of_partners_to_filter_by_is_theirs(
    db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    council.request(council.east_case, partner=council.police)
    other_school = make_organisation(db_session, OrganisationKind.SCHOOL)
    council.request(council.west_case, partner=other_school, by=council.west_worker)
    assert mine.partners_of(db_session, council.worker) == [
        (council.police.id, "Northshire Police")
    ]


@both_backends
def test_the_list_the_filters_and_the_counts_on_either_database(
    db_session: Session, keyring: FileKeyring
) -> None:
    """The demo runs on SQLite: the window count, FILTER and the EXISTS work there too."""
    council = Council(db_session, keyring)
    review = council.request(council.east_case, status=RequestStatus.SUBMITTED)
    late = council.request(council.east_case, due_in=-1)
    stopped = council.request(council.east_case, status=RequestStatus.ACCEPTED)
    council.stopped_delivery(stopped)
    council.request(council.west_case, by=council.west_worker)
    today = date.today()
    with Flask(__name__).test_request_context():
        every = mine.my_requests_page(
            db_session, council.cipher, council.worker, mine.Filters(), today
        )
        overdue = mine.my_requests_page(
            db_session, council.cipher, council.worker, mine.Filters(status="overdue"), today
        )
        halted = mine.my_requests_page(
            db_session,
            council.cipher,
            council.worker,
            mine.Filters(case=council.east_case.cms_reference, status="delivery_stopped"),
            today,
        )
        cases = case_pages.team_cases_page(db_session, council.cipher, council.worker)
    assert every is not None and overdue is not None and halted is not None
    assert [row.reference for row in every.rows] == [
        review.reference,
        late.reference,
        stopped.reference,
    ]
    assert every.total == 3 and every.rows[0].children == ("Amelia Hart", "Oliver Hart")
    assert [row.reference for row in overdue.rows] == [late.reference]
    assert [row.reference for row in halted.rows] == [stopped.reference]
    counts = mine.council_to_do(db_session, council.worker, today)
    assert [item.count for item in counts.to_do] == [1, 0, 1, 1]
    assert cases is not None and [
        (c.reference, c.requests, c.open_requests) for c in cases.rows
    ] == [(council.east_case.cms_reference, 3, 1)]


def test_a_child_whose_name_is_no_longer_held_is_said_so_and_not_read(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    gone = team_case(db_session, council.cipher, council.east, "Ruby Lane")
    shredded = council.request(gone)
    kept = council.request(council.east_case)
    (ruby,) = gone.children
    assert ruby.data_key is not None
    ruby.data_key.wrapped_key = None  # destroyed: crypto-shredded
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)

    html = client.get("/requests").get_data(as_text=True)

    assert "Name no longer held" in html and "Amelia Hart, Oliver Hart" in html
    # Only the row still naming someone is a read of the children's details.
    assert [event.object_id for event in children_read(db_session)] == [kept.reference]
    assert shredded.reference in html
