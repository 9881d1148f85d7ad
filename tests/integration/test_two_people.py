"""The hostile insider of issue 19, end to end: a portal admin adds a second identity provider to
a school (one the admin controls: here a real OpenID provider on loopback), turns
self-provisioning on and signs in as a new "school" person. Nobody gets in until a second
person (the school's partner lead or an IG officer) approves; the admin cannot approve their
own changes; and even after approval, a newcomer through the new provider waits for the
partner lead's approval for 30 days. Then: two approvals pressed at once apply once.

The portal runs for real on loopback (threaded, on its own PostgreSQL database), so the
approvals really do race.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.processes import free_port
from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.oidc.registry import save_provider
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    AuditEvent,
    ChangeKind,
    ChangeStatus,
    IdentityProvider,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    OrganisationStage,
    Role,
    RoleAssignment,
    User,
    UserStatus,
)
from tests.integration.test_concurrent_decisions import at_once, browser, token_of
from tests.support.dev_oidc import DevOidcProvider, rsa_private_jwk
from tests.support.live_portal import Browser, LiveStack, live_portal

SECRET = "portal-client-secret-for-tests"  # noqa: S105 - a test provider's client secret
SCHOOL = "Ashby Lane Primary"
COUNCIL = "Test County Council"
DOMAIN = "ashby.sch.test"
PORTS = {"school": free_port(), "rogue": free_port()}
ACCOUNTS = {
    "school": [{"sub": "teacher", "claims": {"email": f"teacher@{DOMAIN}", "name": "Teacher"}}],
    # The admin's own provider vouches for anyone the admin likes, at the school's domain.
    "rogue": [
        {"sub": f"fake-{n}", "claims": {"email": f"fake{n}@{DOMAIN}", "email_verified": True}}
        for n in range(4)
    ],
}


@dataclass
class Stack(LiveStack):
    provider: DevOidcProvider
    people: dict[str, uuid.UUID]


def _provider_config(portal_url: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "port": port,
            "jwks": {"keys": [rsa_private_jwk(f"{name}-key")]},
            "accounts": ACCOUNTS[name],
            "clients": [
                {
                    "client_id": "portal",
                    "client_secret": SECRET,
                    "token_endpoint_auth_method": "client_secret_basic",
                    "redirect_uris": [f"{portal_url}/sign-in/callback/{name}"],
                    "post_logout_redirect_uris": [f"{portal_url}/signed-out"],
                }
            ],
        }
        for name, port in PORTS.items()
    ]


@pytest.fixture(scope="module")
def stack(
    postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path, audit_key_path: Path
) -> Iterator[Stack]:
    with live_portal(
        postgres_admin,
        keyring,
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        security={"sign_in_rate_limit": "1000 per minute"},
    ) as live:
        people = _seed(live.engine, keyring)
        with DevOidcProvider(_provider_config(live.portal_url)) as provider:
            yield Stack(live.portal_url, live.engine, provider, people)


def _seed(engine: Engine, keyring: FileKeyring) -> dict[str, uuid.UUID]:
    """A live school with its own provider (trusted for a year) and partner lead; the council
    with a portal admin and two IG officers."""
    with Session(engine) as session, session.begin():
        council = Organisation(
            name=COUNCIL, kind=OrganisationKind.COUNCIL, stage=OrganisationStage.LIVE
        )
        school = Organisation(
            name=SCHOOL,
            kind=OrganisationKind.SCHOOL,
            stage=OrganisationStage.LIVE,
            email_domains=[DOMAIN],
        )
        session.add_all([council, school])
        session.flush()
        spec = ProviderSpec(
            organisation=SCHOOL,
            slug="school",
            display_name=SCHOOL,
            issuer=f"http://127.0.0.1:{PORTS['school']}",
            client_id="portal",
            allowed_email_domains=[DOMAIN],
        )
        own = save_provider(session, RecordCipher(keyring, session), spec, client_secret=SECRET)
        own.trusted_since = datetime.now(UTC) - timedelta(days=365)
        people = {
            "admin": _person(session, council, Role.PORTAL_ADMIN),
            "officer": _person(session, council, Role.IG_OFFICER),
            "officer-2": _person(session, council, Role.IG_OFFICER),
            "lead": _person(session, school, Role.PARTNER_LEAD),
        }
        return {name: user.id for name, user in people.items()}


def _person(session: Session, organisation: Organisation, role: Role) -> User:
    user = User(
        issuer="https://seeded.test",
        subject=uuid.uuid4().hex,
        organisation=organisation,
        display_name=f"{role.label} at {organisation.name}",
        email=f"{role.value}@{organisation.name.split()[0].lower()}.test",
        status=UserStatus.ACTIVE,
    )
    user.role_assignments = [RoleAssignment(role=role)]
    session.add(user)
    session.flush()
    return user


def _post(http: requests.Session, stack: Stack, page: str, path: str, data: Any) -> Any:
    token = token_of(http.get(stack.portal_url + page, timeout=10).text)
    return http.post(
        stack.portal_url + path,
        data={**data, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )


def _pending(stack: Stack) -> dict[ChangeKind, OrganisationChange]:
    with stack.session() as session:
        found = session.scalars(
            sa.select(OrganisationChange).where(OrganisationChange.status == ChangeStatus.PENDING)
        )
        return {change.kind: change for change in found}


def _newcomer(stack: Stack, sub: str) -> User | None:
    with stack.session() as session:
        return session.scalar(sa.select(User).where(User.subject == sub))


def _school_id(stack: Stack) -> uuid.UUID:
    with stack.session() as session:
        return session.scalars(sa.select(Organisation.id).where(Organisation.name == SCHOOL)).one()


ROGUE = {
    "organisation": SCHOOL,
    "slug": "rogue",
    "display_name": "Ashby Lane staff sign-in",
    "issuer": f"http://127.0.0.1:{PORTS['rogue']}",
    "client_id": "portal",
    "client_auth_method": "client_secret_basic",
    "client_secret": SECRET,
    "scopes": "openid email profile",
    "signing_algorithms": ["RS256"],
    "allowed_email_domains": DOMAIN,
    "claim_email": "email",
    "claim_name": "name",
    "claim_groups": "groups",
    "enabled": "y",
}


def test_an_admins_own_provider_lets_nobody_in_without_a_second_person(stack: Stack) -> None:
    admin = browser(stack, stack.people["admin"])
    school_id = _school_id(stack)

    added = _post(
        admin, stack, "/admin/identity-providers/new", "/admin/identity-providers/new", ROGUE
    )
    assert added.status_code == 302, added.text[:2000]
    turned_on = _post(
        admin,
        stack,
        "/admin/organisations",
        f"/admin/organisations/{school_id}/self-provisioning",
        {"self_provisioning": "on"},
    )
    assert turned_on.status_code == 302
    pending = _pending(stack)
    assert set(pending) == {ChangeKind.IDENTITY_PROVIDER, ChangeKind.SELF_PROVISIONING}

    # Nothing has taken effect: there is no such provider to sign in with.
    assert Browser(stack).get("/sign-in/start/rogue").status_code == 404
    with stack.session() as session:
        school = session.get(Organisation, school_id)
        assert school is not None and not school.self_provisioning

    # The admin cannot approve their own changes: not on the approvals pages, not by posting.
    assert admin.get(stack.portal_url + "/approvals", timeout=10).status_code == 403
    for change in pending.values():
        forced = _post(admin, stack, "/", f"/approvals/{change.id}/approve", {})
        assert forced.status_code == 403
    assert set(_pending(stack)) == set(pending)

    # The access page shows both, with what they change.
    page = admin.get(f"{stack.portal_url}/organisations/{school_id}/access", timeout=10).text
    assert f"Who can act for {SCHOOL}" in page
    assert "Add the identity provider Ashby Lane staff sign-in (rogue)" in page
    assert "Turn self-provisioning on" in page
    assert SECRET not in page

    # A second person (an IG officer) approves both.
    officer = browser(stack, stack.people["officer"])
    listing = officer.get(stack.portal_url + "/approvals", timeout=10).text
    assert "Add the identity provider" in listing and SCHOOL in listing
    for change in pending.values():
        page_path = f"/approvals/{change.id}"
        approved = _post(officer, stack, page_path, f"{page_path}/approve", {})
        assert approved.status_code == 302, approved.text[:2000]
    assert _pending(stack) == {}

    # Even now, a newcomer through a provider added under 30 days ago waits for the partner
    # lead, whatever self-provisioning says.
    fake = Browser(stack)
    answer = fake.sign_in("rogue", "fake-0")
    assert answer.headers["Location"] == "/sign-in/waiting-for-approval"
    assert fake.signed_in_as() is None
    inbox = fake.get("/inbox")  # the school's requests, children's names and all: not for them
    assert inbox.status_code == 302 and inbox.headers["Location"].startswith("/sign-in")
    newcomer = _newcomer(stack, "fake-0")
    assert newcomer is not None and newcomer.status == UserStatus.PENDING
    assert newcomer.organisation_id == school_id

    # And the admin cannot let them in by approving them on the people pages.
    refused = _post(
        admin,
        stack,
        f"/people/{newcomer.id}",
        f"/people/{newcomer.id}/approve",
        {"roles": ["partner_contributor"]},
    )
    assert refused.status_code == 400
    assert "partner lead can approve its people" in refused.text
    newcomer = _newcomer(stack, "fake-0")
    assert newcomer is not None and newcomer.status == UserStatus.PENDING

    # Thirty days on, self-provisioning works through it as through any other provider.
    with stack.session() as session, session.begin():
        rogue = session.scalars(
            sa.select(IdentityProvider).where(IdentityProvider.slug == "rogue")
        ).one()
        rogue.trusted_since = datetime.now(UTC) - timedelta(days=31)
    assert Browser(stack).sign_in("rogue", "fake-1").headers["Location"] == "/"
    later = _newcomer(stack, "fake-1")
    assert later is not None and later.status == UserStatus.ACTIVE

    with stack.session() as session:
        actions = list(session.scalars(sa.select(AuditEvent.action)))
    assert actions.count("change_proposed") == 2 and actions.count("change_approved") == 2


def test_two_approvals_at_once_apply_once(stack: Stack) -> None:
    school_id = _school_id(stack)
    with stack.session() as session, session.begin():
        school = session.get(Organisation, school_id)
        assert school is not None
        school.email_domains = [DOMAIN]
    admin = browser(stack, stack.people["admin"])
    access = f"/organisations/{school_id}/access"
    proposed = _post(
        admin, stack, access, f"{access}/domains", {"domains": f"{DOMAIN}\nashby-academy.test"}
    )
    assert proposed.status_code == 302
    change = _pending(stack)[ChangeKind.EMAIL_DOMAINS]

    lead = browser(stack, stack.people["lead"])
    officer = browser(stack, stack.people["officer-2"])
    path = f"{stack.portal_url}/approvals/{change.id}"
    statuses = at_once(
        (lead, f"{path}/approve", {"csrf_token": token_of(lead.get(path, timeout=10).text)}),
        (officer, f"{path}/approve", {"csrf_token": token_of(officer.get(path, timeout=10).text)}),
    )

    assert statuses == [302, 400]  # one applied it; the other was told it already was
    with stack.session() as session:
        school = session.get(Organisation, school_id)
        assert school is not None and school.email_domains == ["ashby-academy.test", DOMAIN]
        decided = session.get(OrganisationChange, change.id)
        assert decided is not None and decided.status == ChangeStatus.APPROVED
        events = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.object_id == str(change.id))
        ).all()
        assert [e.action for e in events].count("change_approved") == 1
        applied = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "organisation_changed")
        ).all()
        assert [e.details.get("change_id") for e in applied].count(str(change.id)) == 1


def test_two_changes_to_the_same_thing_approved_at_once_apply_one(stack: Stack) -> None:
    school_id = _school_id(stack)
    with stack.session() as session, session.begin():
        school = session.get(Organisation, school_id)
        assert school is not None
        school.email_domains = [DOMAIN]
    admin = browser(stack, stack.people["admin"])
    access = f"/organisations/{school_id}/access"
    for extra in ("one.test", "two.test"):
        proposed = _post(
            admin, stack, access, f"{access}/domains", {"domains": f"{DOMAIN}\n{extra}"}
        )
        assert proposed.status_code == 302
    with stack.session() as session:
        both = session.scalars(
            sa.select(OrganisationChange).where(
                OrganisationChange.status == ChangeStatus.PENDING,
                OrganisationChange.kind == ChangeKind.EMAIL_DOMAINS,
            )
        ).all()
    assert len(both) == 2 and both[0].based_on == both[1].based_on

    lead = browser(stack, stack.people["lead"])
    officer = browser(stack, stack.people["officer"])
    calls = []
    for http, change in zip((lead, officer), both, strict=True):
        path = f"{stack.portal_url}/approvals/{change.id}"
        calls.append(
            (http, f"{path}/approve", {"csrf_token": token_of(http.get(path, timeout=10).text)})
        )
    assert at_once(*calls) == [302, 302]

    with stack.session() as session:
        statuses = sorted(
            session.get(OrganisationChange, change.id).status  # type: ignore[union-attr]
            for change in both
        )
        school = session.get(Organisation, school_id)
    # One was applied; the other found the domains changed under it and applied nothing.
    assert statuses == [ChangeStatus.APPROVED, ChangeStatus.SUPERSEDED]
    assert school is not None and len(school.email_domains) == 2
