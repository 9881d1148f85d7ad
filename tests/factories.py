"""Building test data through the real models. Reached through fixtures and helpers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.auth.demo_sign_in import DEMO_ISSUER
from portal.crypto.records import RecordCipher
from portal.lifecycle import RequestStatus
from portal.models import (
    Case,
    Child,
    DelegationRequest,
    Organisation,
    OrganisationKind,
    Role,
    RoleAssignment,
    Team,
    User,
    UserStatus,
)


def make_organisation(
    session: Session, kind: OrganisationKind = OrganisationKind.SCHOOL, name: str | None = None
) -> Organisation:
    organisation = Organisation(name=name or f"{kind.value} {uuid.uuid4().hex[:8]}", kind=kind)
    session.add(organisation)
    session.flush()
    return organisation


def make_user(
    session: Session,
    organisation: Organisation,
    *roles: Role,
    status: UserStatus = UserStatus.ACTIVE,
    team: Team | None = None,
) -> User:
    subject = uuid.uuid4().hex
    user = User(
        issuer=DEMO_ISSUER,
        subject=subject,
        organisation=organisation,
        team=team,
        email=f"{subject[:8]}@example.org",
        display_name=f"Person {subject[:6]}",
        status=status,
    )
    user.role_assignments = [RoleAssignment(role=role) for role in roles]
    session.add(user)
    session.flush()
    return user


def make_case(session: Session, cipher: RecordCipher, child_name: str) -> tuple[Case, Child]:
    council = make_organisation(session, OrganisationKind.COUNCIL)
    team = Team(organisation=council, name="Team A")
    case = Case(cms_reference=f"T-{uuid.uuid4().hex[:8]}", team=team)
    child = Child(case=case, position=0)
    cipher.seal_text(child, "name_enc", child_name)
    cipher.seal_text(child, "date_of_birth_enc", "2015-03-14")
    session.add_all([team, case, child])
    session.flush()
    return case, child


def make_request(
    session: Session, cipher: RecordCipher, case: Case, partner: Organisation, worker: User
) -> DelegationRequest:
    now = datetime.now(UTC)
    request = DelegationRequest(
        reference=f"DR-{uuid.uuid4().hex[:8].upper()}",
        case=case,
        partner_organisation=partner,
        requested_by_id=worker.id,
        form_template="school-contribution",
        form_template_version=1,
        lawful_basis="children-act-1989-s47",
        status=RequestStatus.ISSUED,
        due_on=date.today() + timedelta(days=7),
        expires_at=now + timedelta(days=30),
        issued_at=now,
    )
    cipher.seal_text(request, "purpose_enc", "purpose")
    session.add(request)
    session.flush()
    return request


def csrf_token(html: str) -> str:
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, user: User) -> TestResponse:
    """Sign in through the demo sign-in form, as a person would."""
    page = client.get("/demo/sign-in")
    token = csrf_token(page.get_data(as_text=True))
    response = client.post("/demo/sign-in", data={"csrf_token": token, "user": str(user.id)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response
