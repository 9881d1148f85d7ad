"""`portal organisations` and `portal people`: cutting off access in an incident, from the
command line, against the real database and a real signed-in client."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal import cli
from portal.models import (
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    Role,
    UserStatus,
    WebSession,
)
from tests.factories import make_organisation, make_user, sign_in
from tests.support.audit_log import events


@pytest.fixture
def portal(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The `portal` command, run against the test's app (and so its rolled-back transaction)."""
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    return CliRunner()


def run(runner: CliRunner, *arguments: str) -> Result:
    return runner.invoke(cli.cli, list(arguments))


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("portal: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_suspending_an_organisation_ends_its_sessions_and_stops_its_people(
    portal: CliRunner, app: Flask, client: FlaskClient, db_session: Session
) -> None:
    school = make_organisation(db_session, OrganisationKind.SCHOOL, name="Ashby Primary")
    other = make_organisation(db_session, OrganisationKind.SCHOOL, name="Brook Primary")
    teacher = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    bystander = make_user(db_session, other, Role.PARTNER_CONTRIBUTOR)
    db_session.flush()
    sign_in(app, client, teacher)
    sign_in(app, app.test_client(), bystander)
    assert client.get("/inbox").status_code == 200

    result = run(portal, "organisations", "suspend", "Ashby Primary")

    assert result.exit_code == 0, result.output
    assert "Suspended Ashby Primary" in result.output and "1 sessions ended" in result.output
    db_session.expire_all()
    assert school.status == OrganisationStatus.SUSPENDED
    remaining = db_session.scalars(sa.select(WebSession.user_id)).all()
    assert remaining == [bystander.id]
    assert client.get("/inbox").status_code == 302  # back to sign in
    [event] = events(db_session, "organisation_changed")
    assert event.object_id == str(school.id) and event.actor_role == "system"
    assert event.details == {
        "status": "suspended",
        "previous_status": "active",
        "sessions_ended": 1,
    }

    again = run(portal, "organisations", "suspend", "Ashby Primary")
    assert again.exit_code == 0 and "already suspended" in again.output
    assert len(events(db_session, "organisation_changed")) == 1

    listing = run(portal, "organisations", "list")
    assert "suspended  school   Ashby Primary" in listing.output
    assert "active     school   Brook Primary" in listing.output

    back = run(portal, "organisations", "reinstate", "Ashby Primary")
    assert back.exit_code == 0 and "can sign in again" in back.output
    db_session.expire_all()
    assert school.status == OrganisationStatus.ACTIVE
    assert events(db_session, "organisation_changed")[-1].details == {
        "status": "active",
        "previous_status": "suspended",
        "sessions_ended": 0,
    }


def test_the_council_and_unknown_organisations_are_refused(
    portal: CliRunner, db_session: Session
) -> None:
    council = make_organisation(db_session, OrganisationKind.COUNCIL, name="Northmoor Council")

    refused(run(portal, "organisations", "suspend", "Northmoor Council"), "is the council")
    refused(run(portal, "organisations", "suspend", "Nowhere School"), "no organisation named")
    db_session.expire_all()
    assert council.status == OrganisationStatus.ACTIVE
    assert events(db_session, "organisation_changed") == []


def test_suspending_a_person_by_address_ends_their_sessions(
    portal: CliRunner, app: Flask, client: FlaskClient, db_session: Session
) -> None:
    school: Organisation = make_organisation(db_session, OrganisationKind.SCHOOL)
    teacher = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    teacher.email = "Dsl@Ashby.example"
    db_session.flush()
    sign_in(app, client, teacher)

    result = run(portal, "people", "suspend", "dsl@ashby.example")

    assert result.exit_code == 0, result.output
    db_session.expire_all()
    assert teacher.status == UserStatus.SUSPENDED
    assert db_session.scalars(sa.select(WebSession)).all() == []
    assert client.get("/inbox").status_code == 302
    [event] = events(db_session, "user_suspended")
    assert event.object_id == str(teacher.id) and event.actor_role == "system"

    refused(run(portal, "people", "suspend", str(teacher.id)), "already suspended")
    refused(run(portal, "people", "suspend", "nobody@ashby.example"), "Nobody is known")

    back = run(portal, "people", "reinstate", str(teacher.id))
    assert back.exit_code == 0, back.output
    db_session.expire_all()
    assert teacher.status == UserStatus.ACTIVE
    assert len(events(db_session, "user_reinstated")) == 1


def test_an_address_shared_by_two_people_must_be_named_by_id(
    portal: CliRunner, db_session: Session
) -> None:
    for kind in (OrganisationKind.SCHOOL, OrganisationKind.POLICE):
        person = make_user(db_session, make_organisation(db_session, kind))
        person.email = "shared@example.org"
    db_session.flush()

    refused(run(portal, "people", "suspend", "shared@example.org"), "name one by id")
    assert events(db_session, "user_suspended") == []
