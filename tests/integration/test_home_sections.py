"""The home page's sections for the IG officer, the portal admin and the partner engagement
officer: each count from the database, and no role landing on placeholder text."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.audit.signing import CheckpointSigner
from portal.home import HomeSection, home_sections
from portal.models import (
    AuditEvent,
    AuditLeaf,
    ChangeStatus,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    OrganisationStage,
    Role,
    RoleAssignment,
    Team,
    User,
    UserStatus,
)
from portal.onboarding.changes import propose_domains, propose_partner_lead
from tests.factories import make_agreement, make_organisation, make_user
from tests.integration.test_delivery_admin import accepted, stop
from tests.support.audit_log import settle
from tests.support.statements import statements_run
from tests.support.world import World, client_for

PLACEHOLDER = "appear here as the pilot adds them"


def counts(session: Session, person: User) -> dict[str, int]:
    session.expire_all()
    sections = home_sections(session, person, date.today())
    return {item.label: item.count for section in sections for item in section.to_do}


def section(session: Session, person: User) -> HomeSection:
    (only,) = home_sections(session, person, date.today())
    return only


def council(db_session: Session) -> Organisation:
    return make_organisation(db_session, OrganisationKind.COUNCIL)


def change_proposed(db_session: Session, by: User) -> None:
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    propose_domains(db_session, school, [f"{uuid.uuid4().hex[:8]}.example"], proposer=by)
    db_session.flush()


DECIDING = "changes to an organisation’s access waiting for your decision"
ALTERED = "The last check of the audit trail found it altered: see what it found"


def test_the_ig_officer_sees_changes_to_decide_but_not_their_own(
    app: Flask, db_session: Session
) -> None:
    officer = make_user(db_session, council(db_session), Role.IG_OFFICER)
    admin = make_user(db_session, council(db_session), Role.PORTAL_ADMIN)
    before = counts(db_session, officer)[DECIDING]
    with app.test_request_context():
        change_proposed(db_session, admin)
        assert counts(db_session, officer)[DECIDING] == before + 1
        change_proposed(db_session, officer)  # an officer never decides their own change
    assert counts(db_session, officer)[DECIDING] == before + 1
    assert section(db_session, officer).heading == "Information governance"


def test_the_ig_count_applies_the_whole_rule_on_who_may_decide(
    app: Flask, db_session: Session
) -> None:
    """Not the officer's own change, not one making them partner lead, and not one proposed
    by whoever gave them the IG role (refusal_to_decide)."""
    granter = make_user(db_session, council(db_session), Role.PORTAL_ADMIN)
    officer = make_user(db_session, council(db_session))
    officer.role_assignments = [RoleAssignment(role=Role.IG_OFFICER, granted_by_id=granter.id)]
    other = make_user(db_session, council(db_session), Role.PORTAL_ADMIN)
    db_session.flush()
    before = counts(db_session, officer)[DECIDING]
    with app.test_request_context():
        change_proposed(db_session, granter)  # the proposer gave them their role
        assert counts(db_session, officer)[DECIDING] == before
        school = make_organisation(db_session, OrganisationKind.SCHOOL)
        officer.organisation = school  # (to be proposed as its lead)
        db_session.flush()
        propose_partner_lead(db_session, officer, proposer=other)  # about the officer
        db_session.flush()
        assert counts(db_session, officer)[DECIDING] == before
        change_proposed(db_session, other)
    assert counts(db_session, officer)[DECIDING] == before + 1
    officer.status = UserStatus.SUSPENDED
    db_session.flush()
    assert counts(db_session, officer)[DECIDING] == 0


def test_the_ig_home_says_what_the_last_check_of_the_trail_found(
    app: Flask, db_session: Session, audit_key_path: Path
) -> None:
    officer = make_user(db_session, council(db_session), Role.IG_OFFICER)
    db_session.commit()
    client = client_for(app, officer)
    client.get("/audit/verify")
    assert settle(db_session, CheckpointSigner.load(audit_key_path))  # that check, signed
    db_session.commit()
    page = client.get("/").get_data(as_text=True)
    time = r"(\d{1,2}(:\d{2})?[ap]m|midday|midnight)"
    found = rf"last checked \d{{1,2}} \w+ \d{{4}} at {time} on the verification page: intact"
    assert re.search(found, page), page
    assert ALTERED not in counts(db_session, officer)
    for href in ("/audit/cases", "/audit/check-export", "/audit", "/audit/verify"):
        assert f'href="{href}"' in page
    first = sa.select(AuditLeaf.event_seq).where(AuditLeaf.leaf_index == 0).scalar_subquery()
    db_session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    db_session.execute(
        sa.update(AuditEvent).where(AuditEvent.seq == first).values(case_reference="X")
    )
    db_session.execute(sa.text("SET LOCAL session_replication_role = origin"))
    client.get("/audit/verify")
    assert counts(db_session, officer)[ALTERED] == 1
    page = client.get("/").get_data(as_text=True)
    assert '<strong class="govuk-tag govuk-tag--red">Altered</strong>' in page
    assert ">1</strong>" not in page and ": altered, " in page


STOPPED = "deliveries to the CMS stopped"
PEOPLE = "people at the council waiting for your approval"


def test_the_admin_sees_stopped_deliveries_and_council_people_to_approve_only(
    app: Flask, db_session: Session, world: World
) -> None:
    admin = make_user(db_session, council(db_session), Role.PORTAL_ADMIN)
    db_session.commit()
    before = counts(db_session, admin)
    stop(db_session, accepted(app, world, db_session).message)
    make_user(db_session, council(db_session), Role.SOCIAL_WORKER, status=UserStatus.PENDING)
    # A partner's people are its partner lead's to approve, changes a lead's or an IG
    # officer's to decide: the admin cannot act on either, so neither is counted.
    make_user(db_session, world.school, Role.PARTNER_CONTRIBUTOR, status=UserStatus.PENDING)
    with app.test_request_context():
        change_proposed(db_session, admin)
    after = counts(db_session, admin)
    assert {label: after[label] - before[label] for label in (STOPPED, PEOPLE)} == {
        STOPPED: 1,
        PEOPLE: 1,
    }
    assert set(after) == {STOPPED, PEOPLE}
    page = client_for(app, admin).get("/").get_data(as_text=True)
    assert "Portal administration" in page and 'href="/admin/deliveries"' in page


PAST = "agreements past their review date"
DUE = "agreements due for review in the next 30 days"
ONBOARDING = "organisations onboarding"
PAUSED = "organisations paused"


@pytest.fixture
def in_app(app: Flask) -> Iterator[None]:
    """The engagement officer's section reads the portal's settings."""
    with app.app_context():
        yield


@pytest.mark.usefixtures("in_app")
def test_the_engagement_officer_sees_reviews_due_and_organisations_not_live(
    db_session: Session,
) -> None:
    officer = make_user(db_session, council(db_session), Role.PARTNER_ENGAGEMENT_OFFICER)
    before = counts(db_session, officer)
    today = date.today()
    for review_on, stage in (
        (today - timedelta(days=1), OrganisationStage.LIVE),  # past
        (today + timedelta(days=10), OrganisationStage.PAUSED),  # due, and paused
        (today + timedelta(days=40), OrganisationStage.ONBOARDING),  # not yet due
        (today - timedelta(days=5), OrganisationStage.LEFT),  # left: no review is due
    ):
        found = make_organisation(db_session, OrganisationKind.SCHOOL, stage=stage)
        make_agreement(db_session, found, review_on=review_on)
    # An older agreement superseded by a newer one does not count.
    renewed = make_organisation(db_session, OrganisationKind.POLICE)
    make_agreement(db_session, renewed, review_on=today - timedelta(days=100))
    make_agreement(db_session, renewed, review_on=today + timedelta(days=300))
    make_organisation(db_session, OrganisationKind.SCHOOL, stage=OrganisationStage.PROPOSED)
    after = counts(db_session, officer)
    assert {label: after[label] - before[label] for label in (PAST, DUE, ONBOARDING, PAUSED)} == {
        PAST: 1,
        DUE: 1,
        ONBOARDING: 2,
        PAUSED: 1,
    }
    assert section(db_session, officer).heading == "Partner engagement"


WAITING = "changes waiting for a partner lead or IG officer to approve"


def test_the_engagement_officers_review_window_is_the_organisations_lists(
    app: Flask, db_session: Session
) -> None:
    settings = app.config["PORTAL_SETTINGS"]
    onboarding = settings.onboarding.model_copy(update={"agreement_warning_days": (60, 7)})
    app.config["PORTAL_SETTINGS"] = settings.model_copy(update={"onboarding": onboarding})
    officer = make_user(db_session, council(db_session), Role.PARTNER_ENGAGEMENT_OFFICER)
    with app.app_context():
        before = counts(db_session, officer).get("agreements due for review in the next 60 days")
        found = make_organisation(db_session, OrganisationKind.SCHOOL)
        make_agreement(db_session, found, review_on=date.today() + timedelta(days=40))
        after = counts(db_session, officer)["agreements due for review in the next 60 days"]
    assert before is not None and after == before + 1


def test_the_engagement_officers_waiting_changes_say_whose_and_link_where_they_are(
    app: Flask, db_session: Session
) -> None:
    officer = make_user(db_session, council(db_session), Role.PARTNER_ENGAGEMENT_OFFICER)
    db_session.execute(sa.update(OrganisationChange).values(status=ChangeStatus.WITHDRAWN))
    with app.test_request_context():
        change_proposed(db_session, officer)
        (waiting,) = [item for item in section(db_session, officer).to_do if item.label == WAITING]
        assert waiting.count == 1 and waiting.endpoint == "changes.access"  # its one place
        change_proposed(db_session, officer)
        (waiting,) = [item for item in section(db_session, officer).to_do if item.label == WAITING]
    assert waiting.count == 2 and waiting.endpoint == "onboarding.index"  # counted per row


@pytest.mark.parametrize(
    ("role", "kind", "heading"),
    [
        (Role.PARTNER_CONTRIBUTOR, OrganisationKind.SCHOOL, "Requests for"),
        (Role.PARTNER_LEAD, OrganisationKind.SCHOOL, "Requests for"),
        (Role.SOCIAL_WORKER, OrganisationKind.COUNCIL, "Your requests to partners"),
        (Role.TEAM_MANAGER, OrganisationKind.COUNCIL, "Your requests to partners"),
        (Role.IG_OFFICER, OrganisationKind.COUNCIL, "Information governance"),
        (Role.PORTAL_ADMIN, OrganisationKind.COUNCIL, "Portal administration"),
        (Role.PARTNER_ENGAGEMENT_OFFICER, OrganisationKind.COUNCIL, "Partner engagement"),
    ],
)
def test_every_role_lands_on_its_own_section_never_a_placeholder_or_none(
    app: Flask, db_session: Session, role: Role, kind: OrganisationKind, heading: str
) -> None:
    organisation = make_organisation(db_session, kind)
    team = (
        Team(organisation=organisation, name="Family support") if kind.value == "council" else None
    )
    person = make_user(db_session, organisation, role, team=team)
    db_session.commit()
    page = client_for(app, person).get("/").get_data(as_text=True)
    assert f'<h2 class="govuk-heading-m">{heading}' in page
    assert PLACEHOLDER not in page
    assert not re.search(r">\s*None\s*<|Team None", page)


def test_a_missing_value_prints_as_nothing_never_as_none(app: Flask) -> None:
    with app.app_context():
        rendered = app.jinja_env.from_string("Team {{ team }}, {{ 'None' }}").render(team=None)
    assert rendered == "Team , None"  # a word the page says itself still shows


@pytest.mark.usefixtures("in_app")
@pytest.mark.parametrize(
    ("role", "queries"),
    [(Role.IG_OFFICER, 2), (Role.PORTAL_ADMIN, 2), (Role.PARTNER_ENGAGEMENT_OFFICER, 3)],
)
def test_each_section_is_a_few_aggregate_queries_never_a_list(
    db_session: Session, role: Role, queries: int
) -> None:
    person = make_user(db_session, council(db_session), role)
    db_session.flush()
    db_session.expire_all()
    person = db_session.get_one(User, person.id)
    person.has_role(role)  # its roles loaded before counting
    with statements_run(db_session) as statements:
        home_sections(db_session, person, date.today())
    assert len(statements) == queries, statements
    assert all("count(" in statement.lower() or "LIMIT" in statement for statement in statements)
