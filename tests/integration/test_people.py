"""People management: partner leads for their own organisation, admins for everyone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.models import (
    AuditEvent,
    ChangeKind,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    Role,
    RoleAssignment,
    RoleSource,
    User,
    UserStatus,
    WebSession,
)
from portal.people.policy import Refused, check_roles, grantable_roles
from tests.factories import csrf_token, make_organisation, make_user, sign_in
from tests.support.audit_log import events

PENDING = UserStatus.PENDING


@pytest.fixture
def school(db_session: Session) -> Organisation:
    return make_organisation(db_session, OrganisationKind.SCHOOL)


@pytest.fixture
def council(db_session: Session) -> Organisation:
    return make_organisation(db_session, OrganisationKind.COUNCIL)


@pytest.fixture
def lead(db_session: Session, school: Organisation) -> User:
    return make_user(db_session, school, Role.PARTNER_LEAD)


@pytest.fixture
def admin(db_session: Session, council: Organisation) -> User:
    return make_user(db_session, council, Role.PORTAL_ADMIN)


def client_of(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    sign_in(app, client, user)
    return client


def post(client: FlaskClient, person: User, action: str, **fields: Any) -> TestResponse:
    token = csrf_token(client.get("/people").get_data(as_text=True))
    return client.post(f"/people/{person.id}/{action}", data={"csrf_token": token, **fields})


def reloaded(db_session: Session, user: User) -> User:
    db_session.expire_all()
    found = db_session.get(User, user.id)
    assert found is not None
    return found


def assert_no_personal_details(event: AuditEvent, person: User) -> None:
    text = str(event.details)
    assert person.display_name not in text and (person.email or "@") not in text


def test_a_lead_sees_their_own_organisations_people_waiting_ones_first(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    active = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    waiting = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=PENDING)
    elsewhere = make_user(db_session, make_organisation(db_session), status=PENDING)

    page = client_of(app, lead).get("/people").get_data(as_text=True)

    assert page.index(waiting.display_name) < page.index(active.display_name)
    assert "Waiting for approval" in page and f"/people/{waiting.id}" in page
    assert elsewhere.display_name not in page


def test_an_admin_sees_everyone(
    app: Flask, db_session: Session, school: Organisation, admin: User
) -> None:
    people = [make_user(db_session, make_organisation(db_session), status=PENDING) for _ in "ab"]
    page = client_of(app, admin).get("/people").get_data(as_text=True)
    assert all(person.display_name in page for person in people)


def test_a_lead_approves_a_waiting_person_of_their_organisation(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=PENDING)
    client = client_of(app, lead)
    assert "Approve" in client.get(f"/people/{person.id}").get_data(as_text=True)

    response = post(client, person, "approve", roles=["partner_contributor"])

    assert response.status_code == 302 and response.headers["Location"] == f"/people/{person.id}"
    approved = reloaded(db_session, person)
    assert approved.status == UserStatus.ACTIVE
    assert approved.roles == {Role.PARTNER_CONTRIBUTOR}
    [event] = events(db_session, "user_approved")
    assert event.actor_user_id == lead.id and event.object_id == str(person.id)
    assert event.details["roles"] == "partner_contributor"
    assert_no_personal_details(event, person)
    assert "govuk-notification-banner--success" in client.get(
        response.headers["Location"]
    ).get_data(as_text=True)


def test_nobody_approves_a_newcomer_straight_in_as_partner_lead(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=PENDING)

    response = post(client_of(app, lead), person, "approve", roles=["partner_lead"])

    assert response.status_code == 400
    assert "needs a second person’s approval" in response.get_data(as_text=True)
    assert reloaded(db_session, person).status == PENDING


def test_a_lead_proposes_a_colleague_as_partner_lead_and_another_person_approves(
    app: Flask, db_session: Session, school: Organisation, council: Organisation, lead: User
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)

    response = post(client_of(app, lead), person, "roles", roles=["partner_lead"])

    assert response.status_code == 302
    assert reloaded(db_session, person).roles == {Role.PARTNER_CONTRIBUTOR}  # not yet
    [change] = db_session.scalars(sa.select(OrganisationChange)).all()
    assert change.kind == ChangeKind.PARTNER_LEAD and change.proposal["user_id"] == str(person.id)
    assert events(db_session, "roles_changed") == []
    [proposed] = events(db_session, "change_proposed")
    assert proposed.actor_user_id == lead.id
    assert_no_personal_details(proposed, person)

    # The proposer cannot approve their own proposal.
    own = client_of(app, lead)
    token = csrf_token(own.get(f"/approvals/{change.id}").get_data(as_text=True))
    refused = own.post(f"/approvals/{change.id}/approve", data={"csrf_token": token})
    assert refused.status_code == 400
    assert "You proposed this change" in refused.get_data(as_text=True)
    assert reloaded(db_session, person).roles == {Role.PARTNER_CONTRIBUTOR}

    officer = make_user(db_session, council, Role.IG_OFFICER)
    client = client_of(app, officer)
    token = csrf_token(client.get(f"/approvals/{change.id}").get_data(as_text=True))
    assert (
        client.post(f"/approvals/{change.id}/approve", data={"csrf_token": token}).status_code
        == 302
    )
    assert reloaded(db_session, person).roles == {Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD}
    [granted] = events(db_session, "roles_changed")
    assert granted.actor_user_id == officer.id and granted.details["added"] == "partner_lead"


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("GET", ""),
        ("POST", "/approve"),
        ("POST", "/roles"),
        ("POST", "/suspend"),
        ("POST", "/reinstate"),
    ],
)
def test_a_lead_cannot_see_or_touch_another_organisations_people(
    app: Flask, db_session: Session, lead: User, method: str, action: str
) -> None:
    other = make_user(db_session, make_organisation(db_session), status=PENDING)
    client = client_of(app, lead)
    token = csrf_token(client.get("/people").get_data(as_text=True))

    path = f"/people/{other.id}{action}"
    response = (
        client.get(path)
        if method == "GET"
        else client.post(path, data={"csrf_token": token, "roles": ["partner_contributor"]})
    )

    assert response.status_code == 404  # the same answer as for nobody at all
    assert other.display_name not in response.get_data(as_text=True)
    assert reloaded(db_session, other).status == PENDING
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_an_unknown_or_malformed_person_is_not_found(app: Flask, lead: User) -> None:
    client = client_of(app, lead)
    assert client.get("/people/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/people/not-a-person").status_code == 404


@pytest.mark.parametrize("role", ["social_worker", "team_manager", "ig_officer", "portal_admin"])
def test_a_lead_cannot_give_council_roles(
    app: Flask, db_session: Session, school: Organisation, lead: User, role: str
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=PENDING)

    response = post(client_of(app, lead), person, "approve", roles=["partner_contributor", role])

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page and 'href="#roles"' in page
    assert f"You cannot give or remove the {Role(role).label.lower()} role" in page
    unchanged = reloaded(db_session, person)
    assert unchanged.status == PENDING and unchanged.roles == {Role.PARTNER_CONTRIBUTOR}
    assert events(db_session, "user_approved") == []


def test_an_admin_gives_council_roles_to_council_staff_only(
    app: Flask, db_session: Session, school: Organisation, council: Organisation, admin: User
) -> None:
    client = client_of(app, admin)
    worker = make_user(db_session, council, status=PENDING)
    teacher = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=PENDING)

    assert post(client, worker, "approve", roles=["social_worker"]).status_code == 302
    assert reloaded(db_session, worker).roles == {Role.SOCIAL_WORKER}

    refused = post(client, teacher, "approve", roles=["social_worker"])
    assert refused.status_code == 400
    assert "You cannot give or remove the social worker role" in refused.get_data(as_text=True)
    assert reloaded(db_session, teacher).status == PENDING

    # An administrator only narrows at a partner organisation: approving its people is its
    # partner lead's (or, for a first partner lead, a proposal a second person approves).
    refused = post(client, teacher, "approve", roles=["partner_contributor"])
    assert refused.status_code == 400
    assert f"Only {school.name}’s partner lead can approve its people" in refused.get_data(
        as_text=True
    )
    assert reloaded(db_session, teacher).status == PENDING


def test_approving_needs_a_role(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    person = make_user(db_session, school, status=PENDING)
    response = post(client_of(app, lead), person, "approve")
    assert response.status_code == 400
    assert "Select at least one role" in response.get_data(as_text=True)
    assert reloaded(db_session, person).status == PENDING


def test_a_lead_changes_roles_and_the_change_is_audited_by_code(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)

    response = post(client_of(app, lead), person, "roles", roles=["partner_contributor"])

    assert response.status_code == 302  # taking a role away is at once
    assert reloaded(db_session, person).roles == {Role.PARTNER_CONTRIBUTOR}
    [event] = events(db_session, "roles_changed")
    assert event.actor_user_id == lead.id
    assert event.details == {
        "source": "local",
        "roles": "partner_contributor",
        "added": "",
        "removed": "partner_lead",
    }
    assert_no_personal_details(event, person)


def test_roles_from_the_identity_provider_stay_and_cannot_be_changed_here(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    person.role_assignments.append(
        RoleAssignment(role=Role.PARTNER_LEAD, source=RoleSource.IDENTITY_PROVIDER)
    )
    db_session.flush()
    client = client_of(app, lead)
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    assert "from the identity provider" in page and "disabled" in page

    # Unticking everything offered leaves the provider's role, which is renewed at sign-in.
    assert post(client, person, "roles").status_code == 302
    after = reloaded(db_session, person)
    assert [(a.role, a.source) for a in after.role_assignments] == [
        (Role.PARTNER_LEAD, RoleSource.IDENTITY_PROVIDER)
    ]


def test_suspending_someone_ends_their_sessions_at_once(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    colleague = make_user(db_session, school, Role.PARTNER_LEAD)
    their_browser = client_of(app, colleague)
    assert their_browser.get("/people").status_code == 200

    response = post(client_of(app, lead), colleague, "suspend")

    assert response.status_code == 302
    assert reloaded(db_session, colleague).status == UserStatus.SUSPENDED
    remaining = db_session.scalar(
        sa.select(sa.func.count()).select_from(WebSession).where(WebSession.user_id == colleague.id)
    )
    assert remaining == 0
    next_request = their_browser.get("/people")
    assert next_request.status_code == 302
    assert next_request.headers["Location"].startswith("/sign-in?")
    [event] = events(db_session, "user_suspended")
    assert event.actor_user_id == lead.id
    assert event.details == {"previous_status": "active", "sessions_ended": 1}


def test_nobody_suspends_themselves(app: Flask, db_session: Session, lead: User) -> None:
    client = client_of(app, lead)
    assert "Suspend" not in client.get(f"/people/{lead.id}").get_data(as_text=True)

    response = post(client, lead, "suspend")

    assert response.status_code == 400
    assert "You cannot suspend yourself" in response.get_data(as_text=True)
    assert reloaded(db_session, lead).status == UserStatus.ACTIVE
    assert client.get("/people").status_code == 200  # still signed in


@pytest.mark.parametrize(
    ("role", "organisation_kind", "roles", "message"),
    [
        ("partner_lead", OrganisationKind.SCHOOL, ["partner_contributor"], "your own partner lead"),
        (
            "portal_admin",
            OrganisationKind.COUNCIL,
            ["portal_admin", "social_worker"],
            "give yourself a role",
        ),
        ("portal_admin", OrganisationKind.COUNCIL, [], "your own portal administrator"),
    ],
)
def test_nobody_takes_away_their_own_managing_role_or_gives_themselves_one(
    app: Flask,
    db_session: Session,
    role: str,
    organisation_kind: OrganisationKind,
    roles: list[str],
    message: str,
) -> None:
    me = make_user(db_session, make_organisation(db_session, organisation_kind), Role(role))

    response = post(client_of(app, me), me, "roles", roles=roles)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert reloaded(db_session, me).roles == {Role(role)}
    assert events(db_session, "roles_changed") == []


def test_a_suspended_person_is_reinstated(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=UserStatus.SUSPENDED)
    client = client_of(app, lead)
    assert "Reinstate" in client.get(f"/people/{person.id}").get_data(as_text=True)

    assert post(client, person, "reinstate").status_code == 302

    assert reloaded(db_session, person).status == UserStatus.ACTIVE
    [event] = events(db_session, "user_reinstated")
    assert event.actor_user_id == lead.id and event.details == {"roles": "partner_contributor"}
    again = post(client, person, "reinstate")
    assert again.status_code == 400 and "is not suspended" in again.get_data(as_text=True)


@pytest.mark.parametrize("action", ["approve", "roles", "suspend", "reinstate"])
def test_every_change_needs_the_csrf_token(
    app: Flask, db_session: Session, school: Organisation, lead: User, action: str
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=PENDING)
    response = client_of(app, lead).post(
        f"/people/{person.id}/{action}", data={"roles": ["partner_lead"]}
    )
    assert response.status_code == 400
    assert reloaded(db_session, person).status == PENDING
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_the_navigation_offers_people_to_leads_only(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    page = client_of(app, lead).get("/").get_data(as_text=True)
    assert 'href="/people"' in page and "/admin/identity-providers" not in page
    contributor = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    assert 'href="/people"' not in client_of(app, contributor).get("/").get_data(as_text=True)
    assert client_of(app, contributor).get("/people").status_code == 403


def test_the_policy_on_its_own(db_session: Session, school: Organisation, lead: User) -> None:
    council = make_organisation(db_session, OrganisationKind.COUNCIL)
    admin = make_user(db_session, council, Role.PORTAL_ADMIN)
    teacher = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    worker = make_user(db_session, council, Role.SOCIAL_WORKER)
    partner_roles = {Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD}

    assert grantable_roles(lead, teacher) == partner_roles
    assert grantable_roles(lead, worker) == frozenset()
    assert grantable_roles(admin, teacher) == partner_roles
    assert grantable_roles(admin, worker) == frozenset(Role) - partner_roles
    with pytest.raises(Refused):
        check_roles(lead, teacher, teacher.roles, frozenset({Role.TEAM_MANAGER}))
    check_roles(admin, worker, worker.roles, frozenset({Role.TEAM_MANAGER}))


def test_an_admin_only_narrows_at_a_partner_organisation(
    app: Flask, db_session: Session, school: Organisation, admin: User
) -> None:
    client = client_of(app, admin)
    both = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)
    suspended = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=UserStatus.SUSPENDED)
    page = client.get(f"/people/{suspended.id}").get_data(as_text=True)
    assert f"Only {school.name}’s partner lead can approve its people" in page
    assert "Reinstate" not in page

    refused = post(client, suspended, "reinstate")
    assert refused.status_code == 400
    assert "partner lead can reinstate its people" in refused.get_data(as_text=True)
    assert reloaded(db_session, suspended).status == UserStatus.SUSPENDED

    # Taking a role away and suspending are at once.
    assert post(client, both, "roles", roles=["partner_contributor"]).status_code == 302
    assert reloaded(db_session, both).roles == {Role.PARTNER_CONTRIBUTOR}
    assert post(client, both, "suspend").status_code == 302
    assert reloaded(db_session, both).status == UserStatus.SUSPENDED


def test_the_last_sign_in_is_shown_in_uk_time(
    app: Flask, db_session: Session, school: Organisation, lead: User
) -> None:
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    person.last_signed_in_at = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # 12:30am in BST
    db_session.commit()
    page = client_of(app, lead).get(f"/people/{person.id}").get_data(as_text=True)
    assert "1 July 2026 at 12:30am" in page and "30 June 2026" not in page
