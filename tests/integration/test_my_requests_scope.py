"""Whose requests My requests lists, and what it asks the person to review: a social worker's
own (issued by them, or on a case allocated to them) unless they widen it to their team's; a
team manager's team's from the start. What awaits their review, counted, filtered and put
first, is only what they may decide. And the filters refuse what is not theirs to apply: a
partner the list never offered, a case "reference" that is not one (a child's name, say)."""

from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from portal.lifecycle import RequestStatus
from portal.models import OrganisationKind, Role
from portal.requests import mine
from tests.factories import make_organisation, make_user, sign_in
from tests.integration.test_my_requests import Council, children_read, team_case


class Team:
    """The east team: the worker, a colleague and their manager, and a request the colleague
    issued and the school sent back, on a case not allocated to the worker."""

    def __init__(self, db_session: Session, keyring: FileKeyring) -> None:
        self.council = council = Council(db_session, keyring)
        self.colleague = make_user(
            db_session, council.council, Role.SOCIAL_WORKER, team=council.east
        )
        self.manager = make_user(db_session, council.council, Role.TEAM_MANAGER, team=council.east)
        allocated = team_case(db_session, council.cipher, council.east, "Isla Moss")
        allocated.allocated_worker_id = council.worker.id
        self.colleagues = council.request(
            council.east_case, by=self.colleague, status=RequestStatus.SUBMITTED, due_in=1
        )
        self.own = council.request(council.east_case, due_in=5)
        self.own_review = council.request(
            council.east_case, status=RequestStatus.SUBMITTED, due_in=20
        )
        self.on_allocated = council.request(allocated, by=self.colleague, due_in=3)
        db_session.commit()


def listed(page: mine.MyRequestsPage | None) -> list[str]:
    assert page is not None
    return [row.reference for row in page.rows]


def test_a_social_worker_lists_their_own_and_reviews_only_what_they_may_decide(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    team = Team(db_session, keyring)
    worker, today = team.council.worker, date.today()
    cipher = team.council.cipher

    with app.test_request_context():
        own = mine.my_requests_page(db_session, cipher, worker, mine.Filters(), today)
    with app.test_request_context():
        teams = mine.my_requests_page(db_session, cipher, worker, mine.Filters(whose="team"), today)
        to_review = mine.my_requests_page(
            db_session, cipher, worker, mine.Filters(status="submitted", whose="team"), today
        )
    # Their own and the allocated case's, not the colleague's; the colleague's is theirs to
    # see when they widen the list, but not first, not theirs to review.
    assert listed(own) == [
        team.own_review.reference,
        team.on_allocated.reference,
        team.own.reference,
    ]
    assert listed(teams) == [
        team.own_review.reference,
        team.colleagues.reference,
        team.on_allocated.reference,
        team.own.reference,
    ]
    assert teams is not None
    assert [row.yours_to_review for row in teams.rows] == [True, False, False, False]
    assert listed(to_review) == [team.own_review.reference]
    section = mine.council_to_do(db_session, worker, today)
    assert section.to_do[0].label == "requests to review" and section.to_do[0].count == 1

    client = app.test_client()
    sign_in(app, client, worker)
    page = client.get("/requests").get_data(as_text=True)
    assert team.colleagues.reference not in page and team.own.reference in page
    # Only the rows shown are read: the colleague's children were never on the page.
    assert {event.object_id for event in children_read(db_session)} == set(listed(own))
    assert 'value="mine" checked' in page
    widened = client.get("/requests?whose=team").get_data(as_text=True)
    assert team.colleagues.reference in widened
    assert widened.count("Awaiting your review</strong>") == 1
    assert widened.count("Awaiting review</strong>") == 1


def test_a_manager_starts_with_the_teams_requests_and_reviews_them(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    team = Team(db_session, keyring)
    with app.test_request_context():
        page = mine.my_requests_page(
            db_session,
            team.council.cipher,
            team.manager,
            mine.Filters(whose=mine.usual_whose(team.manager)),
            date.today(),
        )
    assert page is not None and page.total == 4
    assert [row.yours_to_review for row in page.rows][:2] == [True, True]
    section = mine.council_to_do(db_session, team.manager, date.today())
    assert section.to_do[0].count == 2
    client = app.test_client()
    sign_in(app, client, team.manager)
    home = client.get("/").get_data(as_text=True)
    assert '2</strong> <a class="govuk-link" href="/requests?status=submitted">' in home
    listed_page = client.get("/requests?status=submitted").get_data(as_text=True)
    assert "Showing 1 to 2 of 2 requests matching the filters." in listed_page
    assert 'value="team" checked' in listed_page


def test_the_home_page_counts_for_a_worker_leave_out_a_colleagues_review(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    team = Team(db_session, keyring)
    client = app.test_client()
    sign_in(app, client, team.council.worker)
    home = client.get("/").get_data(as_text=True)
    assert '1</strong> <a class="govuk-link" href="/requests?status=submitted">' in home
    listed_page = client.get("/requests?status=submitted").get_data(as_text=True)
    assert "Showing 1 to 1 of 1 request matching the filters." in listed_page
    assert team.colleagues.reference not in listed_page


def test_a_name_typed_as_the_case_is_refused_not_applied_nor_shown_back(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    asked = council.request(council.east_case)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)

    for typed in ("Maya Patel", "Maya", "maya.patel"):
        response = client.get("/requests", query_string={"case": typed})
        page = response.get_data(as_text=True)
        assert "There is a problem" in page and "Enter a case reference, like NCC-100234" in page
        assert 'href="#case"' in page and page.count(typed) == 0, typed
        assert "<title>Error: Your requests" in page
        assert asked.reference in page  # the list as if no case were given
        assert "For example, NCC-100234" in page
    good = client.get(f"/requests?case={council.east_case.cms_reference}").get_data(as_text=True)
    assert "There is a problem" not in good and asked.reference in good


def test_a_partner_not_offered_is_not_applied(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    asked = council.request(council.east_case)
    stranger = make_organisation(db_session, OrganisationKind.SCHOOL, "Brookfield")
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)

    page = client.get(f"/requests?partner={stranger.id}").get_data(as_text=True)

    assert asked.reference in page and "matching the filters" not in page
    partner_select = page[
        page.index('name="partner"') : page.index("</select>", page.index('name="partner"'))
    ]
    assert "Any partner" in partner_select and "selected" not in partner_select
    assert str(stranger.id) not in page


def test_a_stopped_delivery_is_tagged(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    stopped = council.request(council.east_case, status=RequestStatus.ACCEPTED)
    council.stopped_delivery(stopped)
    council.request(council.east_case, status=RequestStatus.ACCEPTED)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)
    page = client.get("/requests").get_data(as_text=True)
    assert page.count("Delivery stopped</strong>") == 1
    row = page[page.index(stopped.reference) :]
    assert row.index("Delivery stopped") < row.index("</tr>")


def test_a_request_page_says_awaiting_your_review_only_to_who_decides(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    team = Team(db_session, keyring)
    path = f"/requests/{team.colleagues.reference}"
    for person, tag in (
        (team.colleague, "Awaiting your review</strong>"),
        (team.manager, "Awaiting your review</strong>"),
        (team.council.worker, "Awaiting review</strong>"),
    ):
        client = app.test_client()
        sign_in(app, client, person)
        page = client.get(path).get_data(as_text=True)
        assert tag in page, person.display_name
