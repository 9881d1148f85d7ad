"""Sign-in through a real, certified OpenID provider (node-oidc-provider) on loopback.

The portal runs for real on a loopback port (the provider calls it back: private_key_jwt keys
and back-channel logout), on its own PostgreSQL database. Each test signs in as one of the
provider's accounts through the provider's own pages, as a browser would.
"""

from __future__ import annotations

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
from portal.audit import AuditAction
from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.oidc.registry import save_provider
from portal.auth.sessions import token_hash
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    AuditEvent,
    ClientAuthMethod,
    Organisation,
    OrganisationKind,
    Role,
    RoleAssignment,
    User,
    UserStatus,
    WebSession,
)
from tests.support.dev_oidc import DevOidcProvider, rsa_private_jwk, sign_out_at_provider
from tests.support.live_portal import Browser, LiveStack, live_portal, onward

SECRET = "portal-client-secret-for-tests"  # noqa: S105 - a test provider's client secret
TENANT = "6a1f4c1e-0000-4000-8000-000000000001"
OTHER_TENANT = "6a1f4c1e-0000-4000-8000-000000000002"
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
COOKIE = "portal-session"


def account(sub: str, email: str, **extra: Any) -> dict[str, Any]:
    claims = {"email": email, "email_verified": True, "name": f"Person {sub}"}
    claims.update(extra.pop("claims", {}))
    return {"sub": sub, "claims": claims, **extra}


# name -> (organisation, kind, self-provisioning, registry settings, accounts)
PROVIDERS: dict[str, tuple[str, OrganisationKind, bool, dict[str, Any], list[dict[str, Any]]]] = {
    "council": (
        "Test County Council",
        OrganisationKind.COUNCIL,
        True,
        {
            "allowed_email_domains": ["council.test"],
            "require_strong_amr": True,
            "group_roles": {"sw": Role.SOCIAL_WORKER, "ig": Role.IG_OFFICER},
        },
        [
            account("sw", "sw@council.test", amr=["pwd", "mfa"], claims={"groups": ["sw"]}),
            account("password-only", "po@council.test", amr=["pwd"]),
        ],
    ),
    "school-a": (
        "School A",
        OrganisationKind.SCHOOL,
        False,
        {
            "client_auth_method": ClientAuthMethod.CLIENT_SECRET_POST,
            "allowed_email_domains": ["a.sch.test"],
            "allowed_tenants": [TENANT],
        },
        [
            account("lead-a", "lead@a.sch.test", claims={"tid": TENANT}),
            account("newcomer-a", "new@a.sch.test", claims={"tid": TENANT}),
            account("claims-b", "someone@b.sch.test", claims={"tid": TENANT}),
            account("suspended-a", "gone@a.sch.test", claims={"tid": TENANT}),
            account("personal", "me@outlook.test", claims={"tid": CONSUMER_TENANT}),
            account("other-tenant", "x@a.sch.test", claims={"tid": OTHER_TENANT}),
        ],
    ),
    "school-b": (
        "School B",
        OrganisationKind.SCHOOL,
        True,
        {"allowed_email_domains": ["b.sch.test"], "allowed_hosted_domains": ["b.sch.test"]},
        [
            account("teacher-b", "teacher@b.sch.test", claims={"hd": "b.sch.test"}),
            account("outsider-b", "teacher@gmail.test", claims={"hd": "b.sch.test"}),
            account("wrong-hd", "x@b.sch.test", claims={"hd": "elsewhere.test"}),
        ],
    ),
    "health": (
        "Health Trust",
        OrganisationKind.HEALTH,
        True,
        {
            "client_auth_method": ClientAuthMethod.PRIVATE_KEY_JWT,
            "allowed_email_domains": ["nhs.test"],
            "required_acr_values": ["AAL3"],
        },
        [
            account("nurse", "nurse@nhs.test", acr="AAL3", amr=["sc"]),
            account("nurse-aal2", "n2@nhs.test", acr="AAL2", amr=["pwd"]),
        ],
    ),
}
EXISTING = {  # accounts the portal already knows: sub -> (status, roles)
    "lead-a": (UserStatus.ACTIVE, (Role.PARTNER_LEAD,)),
    "suspended-a": (UserStatus.SUSPENDED, (Role.PARTNER_CONTRIBUTOR,)),
}


@dataclass
class Stack(LiveStack):
    provider: DevOidcProvider
    provider_config: list[dict[str, Any]]


def provider_config(portal_url: str, keys: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    config = []
    for port, (name, (_org, _kind, _self, registry, accounts)) in zip(
        PORTS, PROVIDERS.items(), strict=True
    ):
        method = registry.get("client_auth_method", ClientAuthMethod.CLIENT_SECRET_BASIC)
        client: dict[str, Any] = {
            "client_id": "portal",
            "token_endpoint_auth_method": method.value,
            "redirect_uris": [f"{portal_url}/sign-in/callback/{name}"],
            "post_logout_redirect_uris": [f"{portal_url}/signed-out"],
            "backchannel_logout_uri": f"{portal_url}/sign-in/back-channel-logout/{name}",
        }
        if method == ClientAuthMethod.PRIVATE_KEY_JWT:
            client["jwks_uri"] = f"{portal_url}/.well-known/jwks.json"
        else:
            client["client_secret"] = SECRET
        config.append(
            {
                "name": name,
                "port": port,
                "jwks": {"keys": [keys[name]]},
                "accounts": accounts,
                "clients": [client],
            }
        )
    return config


PORTS = [free_port() for _ in PROVIDERS]


@pytest.fixture(scope="module")
def stack(postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path) -> Iterator[Stack]:
    keys = {name: rsa_private_jwk(f"{name}-key-1") for name in PROVIDERS}
    with live_portal(
        postgres_admin, keyring, keyring_path, security={"sign_in_rate_limit": "1000 per minute"}
    ) as live:
        config = provider_config(live.portal_url, keys)
        _register(
            live.engine, keyring, {c["name"]: f"http://127.0.0.1:{c['port']}" for c in config}
        )
        with DevOidcProvider(config) as provider:
            yield Stack(live.portal_url, live.engine, provider, config)


def _register(engine: Engine, keyring: FileKeyring, issuers: dict[str, str]) -> None:
    with Session(engine) as session, session.begin():
        cipher = RecordCipher(keyring, session)
        for name, (org_name, kind, self_provisioning, registry, _accounts) in PROVIDERS.items():
            session.add(Organisation(name=org_name, kind=kind, self_provisioning=self_provisioning))
            session.flush()
            spec = ProviderSpec(
                organisation=org_name,
                slug=name,
                display_name=org_name,
                issuer=issuers[name],
                client_id="portal",
                **registry,
            )
            private = spec.client_auth_method == ClientAuthMethod.PRIVATE_KEY_JWT
            saved = save_provider(session, cipher, spec, client_secret=None if private else SECRET)
            # Approved long ago, at the organisation's own domains: no 30-day wait.
            saved.trusted_since = datetime.now(UTC) - timedelta(days=365)
            saved.organisation.email_domains = list(spec.allowed_email_domains)
        school_a = session.scalar(sa.select(Organisation).where(Organisation.name == "School A"))
        assert school_a is not None
        for sub, (status, roles) in EXISTING.items():
            user = User(
                issuer=issuers["school-a"],
                subject=sub,
                organisation=school_a,
                display_name=f"Person {sub}",
                status=status,
            )
            user.role_assignments = [RoleAssignment(role=role) for role in roles]
            session.add(user)


def audit_reasons(stack: Stack, action: AuditAction) -> list[Any]:
    with stack.session() as session:
        rows = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action.value).order_by(AuditEvent.seq)
        )
        return [row.details.get("reason") for row in rows]


def user(stack: Stack, sub: str) -> User:
    with stack.session() as session:
        found = session.scalar(sa.select(User).where(User.subject == sub))
        assert found is not None
        _ = found.organisation, found.roles
        return found


# -- the happy paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "sub", "name"),
    [
        ("council", "sw", "Person sw"),  # client_secret_basic, MFA by amr, roles from groups
        ("school-a", "lead-a", "Person lead-a"),  # client_secret_post, Entra tenant
        ("health", "nurse", "Person nurse"),  # private_key_jwt with the published key, acr AAL3
    ],
)
def test_sign_in_through_each_client_authentication(
    stack: Stack, slug: str, sub: str, name: str
) -> None:
    browser = Browser(stack)
    before = browser.get("/sign-in").cookies.get(COOKIE)
    answer = browser.sign_in(slug, sub, next_path="/cookies")

    assert answer.status_code == 302 and answer.headers["Location"] == "/cookies"
    after = browser.http.cookies.get(COOKIE)
    assert after and after != before  # a new session id at sign-in
    assert browser.signed_in_as() == name
    with stack.session() as session:
        row = session.get(WebSession, token_hash(after))
        assert row is not None and row.user_id == user(stack, sub).id
        assert session.get(WebSession, token_hash(before or "")) is None
        # The OIDC transaction (state, nonce, verifier) lived server-side, never in the cookie.
        assert "oidc_transactions" not in (row.data or {})


def test_roles_come_from_mapped_group_claims(stack: Stack) -> None:
    Browser(stack).sign_in("council", "sw")
    assert user(stack, "sw").roles == {Role.SOCIAL_WORKER}


def test_next_path_off_site_is_ignored(stack: Stack) -> None:
    answer = Browser(stack).sign_in("school-a", "lead-a", next_path="https://evil.example/")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_provider_key_rotation_is_followed(stack: Stack) -> None:
    assert Browser(stack).sign_in("school-b", "teacher-b").status_code == 302
    rotated = [dict(p) for p in stack.provider_config]
    for provider in rotated:
        if provider["name"] == "school-b":
            provider["jwks"] = {"keys": [rsa_private_jwk("school-b-key-2")]}
    stack.provider.restart(rotated)
    try:
        assert Browser(stack).sign_in("school-b", "teacher-b").status_code == 302
    finally:
        stack.provider.restart(stack.provider_config)


def test_sign_out_ends_the_session_at_the_portal_and_the_provider(stack: Stack) -> None:
    browser = Browser(stack)
    browser.sign_in("school-a", "lead-a")
    captured = browser.http.cookies.get(COOKIE)

    answer = browser.sign_out()
    # A page that moves on to the provider, not a redirect: the CSP's form-action 'self'
    # stops a form's submission from being redirected to another site.
    assert answer.status_code == 200 and 'http-equiv="refresh"' in answer.text
    assert onward(answer).startswith(stack.provider.issuer("school-a") + "/session/end")
    assert sign_out_at_provider(browser.http, onward(answer)).endswith("/signed-out")

    thief = requests.Session()
    thief.cookies.set(COOKIE, captured or "")
    page = thief.get(stack.portal_url + "/", timeout=10)
    assert "Signed in as" not in page.text  # the captured cookie is worth nothing now
    assert AuditAction.SIGN_OUT.value in [
        e for e in _actions(stack) if e == AuditAction.SIGN_OUT.value
    ]


def test_back_channel_logout_from_the_provider_ends_the_portal_session(stack: Stack) -> None:
    browser = Browser(stack)
    browser.sign_in("council", "sw")
    assert browser.signed_in_as() == "Person sw"
    # The person signs out at their provider, not at the portal: the provider tells the portal.
    end_session = stack.provider.issuer("council") + "/session/end?client_id=portal"
    sign_out_at_provider(browser.http, end_session)

    assert browser.signed_in_as() is None
    assert browser.get("/sign-out").status_code in (302, 405)
    assert AuditAction.SESSION_ENDED_BY_PROVIDER.value in _actions(stack)


def _actions(stack: Stack) -> list[str]:
    with stack.session() as session:
        return list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


# -- who the person is, and what their organisation allows -------------------------------------


def test_first_sign_in_waits_for_approval_when_the_organisation_approves_by_hand(
    stack: Stack,
) -> None:
    browser = Browser(stack)
    answer = browser.sign_in("school-a", "newcomer-a")
    assert answer.headers["Location"] == "/sign-in/waiting-for-approval"
    assert browser.signed_in_as() is None
    assert user(stack, "newcomer-a").status == UserStatus.PENDING
    assert AuditAction.USER_AWAITING_APPROVAL.value in _actions(stack)

    with stack.session() as session, session.begin():
        pending = session.scalar(sa.select(User).where(User.subject == "newcomer-a"))
        assert pending is not None
        pending.status = UserStatus.ACTIVE  # what a partner lead's approval does
    assert Browser(stack).sign_in("school-a", "newcomer-a").status_code == 302


def test_first_sign_in_provisions_a_contributor_at_an_allowed_domain(stack: Stack) -> None:
    browser = Browser(stack)
    assert browser.sign_in("school-b", "teacher-b").status_code == 302
    provisioned = user(stack, "teacher-b")
    assert provisioned.status == UserStatus.ACTIVE
    assert provisioned.roles == {Role.PARTNER_CONTRIBUTOR}
    assert provisioned.organisation.name == "School B"
    assert AuditAction.USER_PROVISIONED.value in _actions(stack)


def test_an_address_outside_the_allowed_domains_waits_for_approval(stack: Stack) -> None:
    answer = Browser(stack).sign_in("school-b", "outsider-b")
    assert answer.headers["Location"] == "/sign-in/waiting-for-approval"
    assert user(stack, "outsider-b").status == UserStatus.PENDING


def test_a_token_from_school_a_claiming_school_b_gets_nothing_of_school_b(stack: Stack) -> None:
    answer = Browser(stack).sign_in("school-a", "claims-b")
    assert answer.headers["Location"] == "/sign-in/waiting-for-approval"
    person = user(stack, "claims-b")
    assert person.organisation.name == "School A"  # the provider decides, not the address
    assert person.status == UserStatus.PENDING and person.roles <= {Role.PARTNER_CONTRIBUTOR}


@pytest.mark.parametrize(
    ("slug", "sub", "reason"),
    [
        ("school-a", "personal", "consumer_tenant"),
        ("school-a", "other-tenant", "tenant_not_allowed"),
        ("school-b", "wrong-hd", "hosted_domain_not_allowed"),
        ("health", "nurse-aal2", "mfa_required"),  # NHS CIS2 assurance level
        ("council", "password-only", "mfa_required"),  # amr without a strong method
        ("school-a", "suspended-a", "suspended"),
    ],
)
def test_refused_sign_ins_end_with_no_session(
    stack: Stack, slug: str, sub: str, reason: str
) -> None:
    browser = Browser(stack)
    answer = browser.sign_in(slug, sub)
    assert answer.status_code == 403
    assert "You have not been signed in" in answer.text and reason in answer.text
    assert "Traceback" not in answer.text
    assert browser.signed_in_as() is None
    assert reason in audit_reasons(stack, AuditAction.SIGN_IN_FAILED)
