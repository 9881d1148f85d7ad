"""Onboarding through the pages: the partner engagement officer adds an organisation, records
its checklist and takes it through its stages, on PostgreSQL; admins and IG officers read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from portal.audit import AuditAction
from portal.crypto.keyring import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    ClientAuthMethod,
    DelegationRequest,
    IdentityProvider,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    Role,
    WebSession,
)
from portal.uk_time import uk_today
from tests.conftest import both_backends
from tests.factories import (
    csrf_token,
    make_agreement,
    make_case,
    make_organisation,
    make_request,
    make_user,
    sign_in,
)
from tests.support.audit_log import events

PROPOSED = OrganisationStage.PROPOSED


@pytest.fixture
def council(db_session: Session) -> Organisation:
    return make_organisation(db_session, OrganisationKind.COUNCIL, "Northmoor Council")


@pytest.fixture
def officer_client(app: Flask, db_session: Session, council: Organisation) -> FlaskClient:
    return client_of(app, make_user(db_session, council, Role.PARTNER_ENGAGEMENT_OFFICER))


def client_of(app: Flask, user: Any) -> FlaskClient:
    client = app.test_client()
    sign_in(app, client, user)
    return client


def post(client: FlaskClient, path: str, fields: list[tuple[str, str]]) -> TestResponse:
    token = csrf_token(client.get("/organisations").get_data(as_text=True))
    return client.post(path, data=MultiDict([("csrf_token", token), *fields]))


def day(name: str, when: date) -> list[tuple[str, str]]:
    return [(name, str(when.day)), (name, str(when.month)), (name, str(when.year))]


def add(client: FlaskClient, name: str, domains: str = "ashby.sch.uk") -> TestResponse:
    return post(
        client,
        "/organisations/new",
        [("name", name), ("kind", "school"), ("email_domains", domains)],
    )


@both_backends
def test_adding_an_organisation_proposes_it_and_bad_input_changes_nothing(
    officer_client: FlaskClient, db_session: Session
) -> None:
    empty = post(officer_client, "/organisations/new", [])
    html = empty.get_data(as_text=True)
    assert empty.status_code == 400 and "govuk-error-summary" in html
    for message in (
        "Enter the organisation’s name",
        "Select what kind of organisation it is",
        "Enter at least one e-mail domain",
    ):
        assert message in html
    bad = add(officer_client, "Ashby Lane Primary", "ashby.sch.uk\nnot a domain!")
    assert bad.status_code == 400 and "not is not a domain name" in bad.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 1

    added = add(
        officer_client, "Ashby  Lane Primary", "@Ashby.sch.uk\nashby.sch.uk, staff.ashby.sch.uk"
    )
    assert added.status_code == 302
    school = db_session.scalar(
        sa.select(Organisation).where(Organisation.name == "Ashby Lane Primary")
    )
    assert school is not None and school.stage == PROPOSED
    assert school.email_domains == ["ashby.sch.uk", "staff.ashby.sch.uk"]
    [proposed] = events(db_session, AuditAction.ORGANISATION_PROPOSED)
    assert proposed.object_id == str(school.id) and proposed.details["kind"] == "school"

    again = add(officer_client, "ashby lane primary")
    assert again.status_code == 400
    assert "already in the portal" in again.get_data(as_text=True)

    page = officer_client.get(added.headers["Location"]).get_data(as_text=True)
    assert "Ashby Lane Primary" in page and "0 of 6 items met" in page
    assert "Start onboarding" in page and "Go live" not in page


def test_readers_see_the_pages_but_cannot_change_anything(
    app: Flask, db_session: Session, council: Organisation
) -> None:
    school = make_organisation(db_session, name="Ashby Lane Primary", stage=PROPOSED)
    for role in (Role.PORTAL_ADMIN, Role.IG_OFFICER):
        client = client_of(app, make_user(db_session, council, role))
        listing = client.get("/organisations").get_data(as_text=True)
        assert "Ashby Lane Primary" in listing and "Add an organisation" not in listing
        page = client.get(f"/organisations/{school.id}").get_data(as_text=True)
        assert "Checklist" in page and "Start onboarding" not in page
        assert client.get(f"/organisations/{school.id}/dpia").status_code == 403
    # The council is not on the list and has no page here: it is always live.
    assert client.get(f"/organisations/{council.id}").status_code == 404
    assert client.get("/organisations/not-an-id").status_code == 404


def test_the_agreement_dpia_and_mfa_decision_are_recorded_with_who_and_when(
    officer_client: FlaskClient, db_session: Session
) -> None:
    school = make_organisation(db_session, name="Ashby Lane Primary", stage=PROPOSED)
    path = f"/organisations/{school.id}"
    today = uk_today()
    terms = [
        ("name", "Northmoor schools ISA"),
        ("version", "2.1"),
        ("signatory_roles", "Headteacher"),
    ]
    backwards = post(
        officer_client,
        f"{path}/agreement",
        [*terms, *day("signed_on", today), *day("review_on", today - timedelta(days=1))],
    )
    assert backwards.status_code == 400
    assert "The review date must be after the date signed" in backwards.get_data(as_text=True)
    school.agreement_warned_days = 7
    db_session.commit()
    recorded = post(
        officer_client,
        f"{path}/agreement",
        [
            *terms,
            *day("signed_on", today - timedelta(days=3)),
            *day("review_on", today + timedelta(days=365)),
        ],
    )
    assert recorded.status_code == 302
    db_session.refresh(school)
    assert school.agreement_warned_days is None  # its warnings start afresh

    no_reason = post(officer_client, f"{path}/mfa", [("decision", "not_required")])
    assert no_reason.status_code == 400
    assert "Enter why MFA is not required" in no_reason.get_data(as_text=True)
    assert (
        post(
            officer_client,
            f"{path}/mfa",
            [("decision", "not_required"), ("reason", "Staff use smartcards on site")],
        ).status_code
        == 302
    )
    assert post(officer_client, f"{path}/dpia", [("reference", "DPIA-2026-014")]).status_code == 302

    page = officer_client.get(path).get_data(as_text=True)
    assert "3 of 6 items met" in page
    assert "Northmoor schools ISA, version 2.1" in page and "Reference DPIA-2026-014" in page
    assert "Not required: Staff use smartcards on site" in page
    recorded_items = events(db_session, AuditAction.CHECKLIST_ITEM_RECORDED)
    assert {event.details["item"] for event in recorded_items} == {"dpia", "mfa_decision"}
    assert not any(
        "DPIA-2026" in str(e.details) or "smartcards" in str(e.details) for e in recorded_items
    )
    assert len(events(db_session, AuditAction.SHARING_AGREEMENT_RECORDED)) == 1


def complete_checklist(db_session: Session, keyring: FileKeyring, school: Organisation) -> None:
    """Every item met: agreement, DPIA and MFA decision, partner lead, a tested provider."""
    from portal.models import ChecklistItem, ChecklistRecord

    officer = make_user(db_session, make_organisation(db_session, OrganisationKind.COUNCIL))
    make_agreement(db_session, school)
    lead = make_user(db_session, school, Role.PARTNER_LEAD)
    provider = IdentityProvider(
        organisation=school,
        slug=f"s{school.id.hex[:8]}",
        display_name="Ashby Lane sign-in",
        issuer=f"https://idp.example/{school.id.hex}",
        client_id="portal",
        client_auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
        tested_at=datetime.now(UTC),
        tested_by_id=lead.id,
    )
    RecordCipher(keyring, db_session).seal_text(provider, "client_secret_enc", "secret")
    db_session.add_all(
        [
            provider,
            ChecklistRecord(
                organisation_id=school.id,
                item=ChecklistItem.DPIA,
                value="D-1",
                recorded_by_id=officer.id,
            ),
            ChecklistRecord(
                organisation_id=school.id,
                item=ChecklistItem.MFA_DECISION,
                value="required",
                recorded_by_id=officer.id,
            ),
        ]
    )
    db_session.commit()


def move(
    client: FlaskClient, school: Organisation, chosen: str, *extra: tuple[str, str]
) -> TestResponse:
    return post(client, f"/organisations/{school.id}/stage", [("move", chosen), *extra])


@both_backends
def test_going_live_needs_the_whole_checklist_and_says_what_is_missing(
    officer_client: FlaskClient, db_session: Session, keyring: FileKeyring
) -> None:
    school = make_organisation(db_session, name="Ashby Lane Primary", stage=PROPOSED)
    assert move(officer_client, school, "go_live").status_code == 400  # not from proposed
    assert move(officer_client, school, "start_onboarding").status_code == 302
    refused = move(officer_client, school, "go_live")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "govuk-error-summary" in html
    assert "information-sharing agreement in force; data protection impact assessment" in html
    db_session.refresh(school)
    assert school.stage == OrganisationStage.ONBOARDING

    complete_checklist(db_session, keyring, school)
    # MFA required, but the provider does not demand it: not met.
    assert "MFA decision" in move(officer_client, school, "go_live").get_data(as_text=True)
    db_session.execute(sa.update(IdentityProvider).values(require_strong_amr=True))
    db_session.commit()
    assert move(officer_client, school, "go_live").status_code == 302
    db_session.refresh(school)
    assert school.stage == OrganisationStage.LIVE
    # A double-click: the second finds it live already and changes nothing.
    assert move(officer_client, school, "go_live").status_code == 400
    moves = events(db_session, AuditAction.ORGANISATION_STAGE_CHANGED)
    assert [(e.details["previous_stage"], e.details["stage"]) for e in moves] == [
        ("proposed", "onboarding"),
        ("onboarding", "live"),
    ]


def test_pausing_needs_a_reason_and_resuming_a_complete_checklist(
    officer_client: FlaskClient, db_session: Session, keyring: FileKeyring
) -> None:
    school = make_organisation(db_session, name="Ashby Lane Primary")
    complete_checklist(db_session, keyring, school)
    db_session.execute(sa.update(IdentityProvider).values(require_strong_amr=True))
    db_session.commit()
    assert "Select why it is being paused" in move(officer_client, school, "pause").get_data(
        as_text=True
    )
    assert move(officer_client, school, "pause", ("pause_reason", "nonsense")).status_code == 400
    assert (
        move(officer_client, school, "pause", ("pause_reason", "agreement_review")).status_code
        == 302
    )
    db_session.refresh(school)
    assert school.stage == OrganisationStage.PAUSED
    assert (
        events(db_session, AuditAction.ORGANISATION_STAGE_CHANGED)[-1].details["reason"]
        == "agreement_review"
    )

    make_agreement(db_session, school, review_on=uk_today() - timedelta(days=1))
    db_session.commit()
    refused = move(officer_client, school, "resume")
    assert refused.status_code == 400 and "information-sharing agreement" in refused.get_data(
        as_text=True
    )
    page = officer_client.get(f"/organisations/{school.id}").get_data(as_text=True)
    assert "Paused, it receives no new requests" in page
    assert "once every checklist item below is met again: 1 is not." in page
    make_agreement(db_session, school)
    db_session.commit()
    assert move(officer_client, school, "resume").status_code == 302


@both_backends
def test_leaving_is_refused_while_requests_are_open_then_ends_every_session(
    app: Flask, officer_client: FlaskClient, db_session: Session, keyring: FileKeyring
) -> None:
    school = make_organisation(db_session, name="Ashby Lane Primary")
    cipher = RecordCipher(keyring, db_session)
    case, _ = make_case(db_session, cipher, "Amelia Hart")
    worker = make_user(
        db_session, make_organisation(db_session, OrganisationKind.COUNCIL), Role.SOCIAL_WORKER
    )
    request = make_request(db_session, cipher, case, school, worker)
    teacher = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    db_session.commit()
    client_of(app, teacher)

    refused = move(officer_client, school, "leave")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "while 1 request is still open" in html
    assert "Amelia" not in html and request.reference not in html

    db_session.execute(sa.update(DelegationRequest).values(status="revoked"))
    db_session.commit()
    left = move(officer_client, school, "leave")
    assert left.status_code == 302
    db_session.refresh(school)
    assert school.stage == OrganisationStage.LEFT
    assert (
        db_session.scalar(
            sa.select(sa.func.count())
            .select_from(WebSession)
            .where(WebSession.user_id == teacher.id)
        )
        == 0
    )
    assert (
        events(db_session, AuditAction.ORGANISATION_STAGE_CHANGED)[-1].details["sessions_ended"]
        == 1
    )
    page = officer_client.get(f"/organisations/{school.id}").get_data(as_text=True)
    assert "Record the DPIA reference" not in page and 'name="move"' not in page


def test_pages_warn_when_the_agreement_review_is_near_or_past(
    officer_client: FlaskClient, db_session: Session
) -> None:
    school = make_organisation(db_session, name="Ashby Lane Primary")
    agreement = make_agreement(db_session, school, review_on=uk_today() + timedelta(days=12))
    db_session.commit()
    page = officer_client.get(f"/organisations/{school.id}").get_data(as_text=True)
    assert "due for review in 12 days" in page
    assert "Agreement review due" in officer_client.get("/organisations").get_data(as_text=True)
    agreement.review_on = uk_today() - timedelta(days=1)
    db_session.commit()
    page = officer_client.get(f"/organisations/{school.id}").get_data(as_text=True)
    assert "past its review date" in page and "receives no new requests" in page
    assert "Agreement past review" in officer_client.get("/organisations").get_data(as_text=True)


def test_a_session_left_over_when_an_organisation_has_left_ends_at_its_next_request(
    app: Flask, db_session: Session
) -> None:
    school = make_organisation(db_session, name="Ashby Lane Primary")
    teacher = make_user(db_session, school, Role.PARTNER_LEAD)
    db_session.commit()
    client = client_of(app, teacher)
    assert client.get("/people").status_code == 200

    # Left by some path that did not end its sessions (an operator's UPDATE, say).
    db_session.execute(
        sa.update(Organisation)
        .where(Organisation.id == school.id)
        .values(stage=OrganisationStage.LEFT)
    )
    db_session.commit()

    response = client.get("/people")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    db_session.expire_all()
    assert (
        db_session.scalar(
            sa.select(sa.func.count())
            .select_from(WebSession)
            .where(WebSession.user_id == teacher.id)
        )
        == 0
    )
