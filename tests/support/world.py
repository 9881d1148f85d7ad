"""A council, a case with two children, two schools and their people; and a request issued
through the real pages. Shared by the request and contribution tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    Case,
    Child,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    Role,
    Team,
    User,
)
from tests.factories import csrf_token, make_agreement, make_organisation, make_user, sign_in

PURPOSE = "Initial child protection conference on 12 December: attendance and wellbeing."


@dataclass
class World:
    case: Case
    worker: User
    other_worker: User
    school: Organisation
    other_school: Organisation
    lead: User
    teacher: User
    colleague: User
    outsider: User


def organisation(
    session: Session, name: str, kind: OrganisationKind, agreement: bool
) -> Organisation:
    found = make_organisation(
        session,
        kind,
        name,
        stage=OrganisationStage.LIVE if agreement else OrganisationStage.PROPOSED,
    )
    if agreement:
        make_agreement(session, found, review_on=date.today() + timedelta(days=365))
    return found


def build_world(db_session: Session, keyring: FileKeyring) -> World:
    cipher = RecordCipher(keyring, db_session)
    council = organisation(db_session, "Test Council", OrganisationKind.COUNCIL, False)
    team = Team(organisation=council, name="CIN East", contact_email="cin@council.test")
    other_team = Team(organisation=council, name="CIN West")
    db_session.add_all([team, other_team])
    db_session.flush()
    worker = make_user(db_session, council, Role.SOCIAL_WORKER, team=team)
    other_worker = make_user(db_session, council, Role.SOCIAL_WORKER, team=other_team)
    case = Case(cms_reference="NCC-555001", team=team, allocated_worker_id=worker.id)
    db_session.add(case)
    for position, (name, born) in enumerate(
        (("Amelia Hart", "2015-03-14"), ("Oliver Hart", "2017-09-02"))
    ):
        child = Child(case=case, position=position)
        cipher.seal_text(child, "name_enc", name)
        cipher.seal_text(child, "date_of_birth_enc", born)
        db_session.add(child)
    school = organisation(db_session, "Ashby Lane Primary", OrganisationKind.SCHOOL, True)
    other_school = organisation(db_session, "Brookfield Academy", OrganisationKind.SCHOOL, True)
    organisation(db_session, "No Agreement Police", OrganisationKind.POLICE, False)
    world = World(
        case=case,
        worker=worker,
        other_worker=other_worker,
        school=school,
        other_school=other_school,
        lead=make_user(db_session, school, Role.PARTNER_LEAD),
        teacher=make_user(db_session, school, Role.PARTNER_CONTRIBUTOR),
        colleague=make_user(db_session, school, Role.PARTNER_CONTRIBUTOR),
        outsider=make_user(db_session, other_school, Role.PARTNER_CONTRIBUTOR),
    )
    db_session.commit()
    return world


def client_for(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    sign_in(app, client, user)
    return client


def day_fields(name: str, day: date) -> list[tuple[str, str]]:
    return [(name, str(day.day)), (name, str(day.month)), (name, str(day.year))]


def request_form(world: World, token: str, **changes: object) -> MultiDict[str, str]:
    children = [str(child.id) for child in world.case.children]
    fields: dict[str, object] = {
        "partner": str(world.school.id),
        "named_recipient": "",
        "form_template": "school-contribution:1",
        "lawful_basis": "children-act-1989-s47",
        "purpose": PURPOSE,
        "message": "",
        **changes,
    }
    pairs = [("csrf_token", token)] + [("children", value) for value in children]
    pairs += [(name, str(value)) for name, value in fields.items()]
    today = date.today()
    pairs += day_fields("due_on", today + timedelta(days=10))
    pairs += day_fields("expires_on", today + timedelta(days=30))
    return MultiDict(pairs)


def issue(app: Flask, world: World, **changes: object) -> str:
    """Issue a request as the worker, through every page; returns its reference."""
    client = client_for(app, world.worker)
    page = client.get("/requests/new/NCC-555001").get_data(as_text=True)
    token = csrf_token(page)
    check = client.post("/requests/new/NCC-555001", data=request_form(world, token, **changes))
    assert check.status_code == 200, check.get_data(as_text=True)[:2000]
    assert "Check your request before sending it" in check.get_data(as_text=True)
    sent = client.post(
        "/requests/new/NCC-555001",
        data=MultiDict(
            [*request_form(world, token, **changes).items(multi=True), ("step", "issue")]
        ),
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)[:2000]
    found = re.search(r"/requests/(DR-[0-9A-Z]{8})", sent.headers["Location"])
    assert found
    return found.group(1)
