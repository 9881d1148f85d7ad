"""The demo data: every role can sign in, children are stored only encrypted, seeding is
idempotent, and sign-in and sign-out are audited."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal import create_app, db
from portal.audit import AuditAction
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.demo.seed import CASES, PEOPLE, SCHOOLS, seed_demo_data
from portal.models import AuditEvent, Child, Organisation, OrganisationKind, Role, User
from tests.conftest import both_backends, test_settings
from tests.factories import csrf_token, sign_in


def seed(app: Flask) -> str:
    with app.app_context():
        session = db.session()
        summary = seed_demo_data(session)
        session.commit()
    return summary


@both_backends
def test_seed_makes_the_pilot_and_one_person_for_every_role(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    assert "Seeded 8 organisations" in seed(app)

    kinds = [org.kind for org in db_session.scalars(sa.select(Organisation))]
    assert kinds.count(OrganisationKind.SCHOOL) == len(SCHOOLS) == 5
    assert {OrganisationKind.COUNCIL, OrganisationKind.POLICE, OrganisationKind.HEALTH} <= set(
        kinds
    )
    users = list(db_session.scalars(sa.select(User)))
    assert {role for user in users for role in user.roles} == set(Role)

    children = list(db_session.scalars(sa.select(Child)))
    assert len(children) == sum(len(kids) for _ref, kids in CASES)
    names = {RecordCipher(keyring, db_session).open_text(child, "name_enc") for child in children}
    assert "Amelia Hart" in names

    assert "already there" in seed(app)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(User)) == len(PEOPLE)


def test_every_demo_person_can_sign_in_and_out_with_audit_events(
    app: Flask, db_session: Session
) -> None:
    seed(app)
    for person in PEOPLE:
        user = db_session.scalar(sa.select(User).where(User.subject == person.subject))
        assert user is not None
        client = app.test_client()
        sign_in(client, user)
        assert person.name in client.get("/").get_data(as_text=True)
        token = csrf_token(client.get("/").get_data(as_text=True))
        assert client.post("/sign-out", data={"csrf_token": token}).status_code == 302
        assert "Your account" not in client.get("/").get_data(as_text=True)

    actions = list(db_session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions.count(AuditAction.SIGN_IN.value) == len(PEOPLE)
    assert actions.count(AuditAction.SIGN_OUT.value) == len(PEOPLE)


def test_demo_sign_in_lists_people_without_child_details(app: Flask) -> None:
    seed(app)
    html = app.test_client().get("/demo/sign-in").get_data(as_text=True)
    assert "Sam Okafor" in html and "Social worker" in html
    assert "Amelia" not in html


def test_an_unknown_choice_signs_nobody_in(app: Flask) -> None:
    seed(app)
    client = app.test_client()
    token = csrf_token(client.get("/demo/sign-in").get_data(as_text=True))
    response = client.post(
        "/demo/sign-in",
        data={"csrf_token": token, "user": "00000000-0000-0000-0000-000000000000"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "govuk-error-summary" in html and "Select who you want to sign in as" in html
    assert "Your account" not in client.get("/").get_data(as_text=True)


def test_without_the_demo_setting_there_is_no_role_picker(
    postgresql_engine,
    keyring_path,  # type: ignore[no-untyped-def]
) -> None:
    settings = test_settings(
        postgresql_engine.url.render_as_string(False), keyring_path, auth={"demo_sign_in": False}
    )
    app = create_app(settings)
    client = app.test_client()
    assert client.get("/demo/sign-in").status_code == 404
    page = client.get("/sign-in")
    assert page.status_code == 200
    assert "not switched on" in page.get_data(as_text=True)
    db.database(app).engine.dispose()


def test_council_people_have_teams(app: Flask, db_session: Session) -> None:
    seed(app)
    council_people = list(
        db_session.scalars(
            sa.select(User).join(Organisation).where(Organisation.kind == OrganisationKind.COUNCIL)
        )
    )
    assert council_people and all(person.team is not None for person in council_people)
