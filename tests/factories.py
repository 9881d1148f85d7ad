"""Building test data through the real models. Reached through fixtures and helpers."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal import db
from portal.auth.sessions import token_hash
from portal.crypto.records import RecordCipher
from portal.lifecycle import RequestStatus
from portal.models import (
    Case,
    Child,
    DelegationRequest,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    Role,
    RoleAssignment,
    SharingAgreement,
    Team,
    User,
    UserStatus,
    WebSession,
)


def make_organisation(
    session: Session,
    kind: OrganisationKind = OrganisationKind.SCHOOL,
    name: str | None = None,
    *,
    stage: OrganisationStage = OrganisationStage.LIVE,
) -> Organisation:
    organisation = Organisation(
        name=name or f"{kind.value} {uuid.uuid4().hex[:8]}", kind=kind, stage=stage
    )
    session.add(organisation)
    session.flush()
    return organisation


def make_agreement(
    session: Session, organisation: Organisation, *, review_on: date | None = None
) -> SharingAgreement:
    """An information-sharing agreement with `organisation`, in force until `review_on`."""
    agreement = SharingAgreement(
        organisation=organisation,
        name="Test information-sharing agreement",
        version="1",
        signed_on=date.today() - timedelta(days=30),
        signatory_roles="Headteacher; Director of Children's Services",
        review_on=review_on or date.today() + timedelta(days=365),
    )
    session.add(agreement)
    session.flush()
    return agreement


# The issuer of people made directly in tests; OIDC tests use their providers' real issuers.
TEST_ISSUER = "https://idp.test.invalid"


def make_user(
    session: Session,
    organisation: Organisation,
    *roles: Role,
    status: UserStatus = UserStatus.ACTIVE,
    team: Team | None = None,
) -> User:
    subject = uuid.uuid4().hex
    user = User(
        issuer=TEST_ISSUER,
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


def sign_in(app: Flask, client: FlaskClient, user: User) -> str:
    """Give `client` a server-side session signed in as `user`; returns the cookie token.

    This stands in for the OIDC round trip, which tests/integration/test_oidc_*.py prove
    against real providers; the session itself is the real server-side kind.
    """
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with app.app_context():
        store = db.database(app).sessions()
        store.add(
            WebSession(
                token_hash=token_hash(token),
                user_id=user.id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=10),
                data={"_user_id": str(user.id), "_fresh": True},
            )
        )
        store.commit()
        store.close()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], token)
    return token
