"""The checklist's test sign-in, and no sign-in for an organisation that has left: through a
real OpenID provider (node-oidc-provider) on loopback and the portal running for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.processes import free_port
from portal.audit import AuditAction
from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.oidc.registry import save_provider
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    IdentityProvider,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    User,
    UserStatus,
)
from tests.support.audit_log import events
from tests.support.dev_oidc import DevOidcProvider, rsa_private_jwk, sign_in_at_provider
from tests.support.live_portal import Browser, LiveStack, live_portal

SECRET = "portal-client-secret-for-tests"  # noqa: S105 - a test provider's client secret
SLUG = "ashby"
PORT = free_port()


def account(sub: str) -> dict[str, object]:
    return {
        "sub": sub,
        "claims": {"email": f"{sub}@ashby.test", "email_verified": True, "name": f"Person {sub}"},
    }


@pytest.fixture(scope="module")
def stack(postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path) -> Iterator[LiveStack]:
    with live_portal(
        postgres_admin, keyring, keyring_path, security={"sign_in_rate_limit": "1000 per minute"}
    ) as live:
        issuer = f"http://127.0.0.1:{PORT}"
        config = [
            {
                "name": SLUG,
                "port": PORT,
                "jwks": {"keys": [rsa_private_jwk("ashby-key-1")]},
                "accounts": [account("lead"), account("newcomer"), account("second")],
                "clients": [
                    {
                        "client_id": "portal",
                        "client_secret": SECRET,
                        "token_endpoint_auth_method": "client_secret_basic",
                        "redirect_uris": [f"{live.portal_url}/sign-in/callback/{SLUG}"],
                    }
                ],
            }
        ]
        with Session(live.engine) as session, session.begin():
            session.add(
                Organisation(
                    name="Ashby Lane Primary",
                    kind=OrganisationKind.SCHOOL,
                    stage=OrganisationStage.ONBOARDING,
                )
            )
            session.flush()
            spec = ProviderSpec(
                organisation="Ashby Lane Primary",
                slug=SLUG,
                display_name="Ashby Lane sign-in",
                issuer=issuer,
                client_id="portal",
                allowed_email_domains=["ashby.test"],
            )
            save_provider(session, RecordCipher(keyring, session), spec, client_secret=SECRET)
        with DevOidcProvider(config):
            yield live


def provider(session: Session) -> IdentityProvider:
    found = session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == SLUG))
    assert found is not None
    return found


def test_the_first_sign_in_through_a_provider_is_recorded_as_its_test_once(
    stack: LiveStack,
) -> None:
    with stack.session() as session, session.begin():
        untested = provider(session)
        untested.tested_at, untested.tested_by_id = None, None
        before = len(events(session, AuditAction.IDENTITY_PROVIDER_TESTED))

    # Self-provisioning is off: the newcomer waits for approval, and that still proves the
    # provider works.
    answer = Browser(stack).sign_in(SLUG, "newcomer")
    assert answer.headers["Location"] == "/sign-in/waiting-for-approval"
    assert Browser(stack).sign_in(SLUG, "second").status_code == 302

    with stack.session() as session:
        tested = provider(session)
        newcomer = session.scalar(sa.select(User).where(User.subject == "newcomer"))
        assert newcomer is not None and newcomer.status == UserStatus.PENDING
        assert tested.tested_at is not None and tested.tested_by_id == newcomer.id
        recorded = events(session, AuditAction.IDENTITY_PROVIDER_TESTED)[before:]
        assert len(recorded) == 1
        assert recorded[0].object_id == str(tested.id)
        assert recorded[0].details["provider"] == SLUG


def set_stage(stack: LiveStack, stage: OrganisationStage) -> None:
    with stack.session() as session, session.begin():
        provider(session).organisation.stage = stage


def test_nobody_signs_in_for_an_organisation_that_has_left(stack: LiveStack) -> None:
    browser = Browser(stack)
    # A sign-in started before the organisation left, finished after.
    start = browser.get(f"/sign-in/start/{SLUG}")
    assert start.status_code == 302
    callback = sign_in_at_provider(browser.http, start.headers["Location"], "lead")
    set_stage(stack, OrganisationStage.LEFT)
    try:
        answer = browser.http.get(callback, allow_redirects=False, timeout=10)
        assert answer.status_code == 403
        assert "no longer taking part" in answer.text and "organisation_left" in answer.text
        assert browser.signed_in_as() is None
        # And one started after is refused before it reaches the provider.
        # Nor is it offered among the organisations to sign in for.
        assert "Ashby Lane" not in browser.get("/sign-in/organisations").text
        refused = browser.get(f"/sign-in/start/{SLUG}")
        assert refused.status_code == 403 and "organisation_left" in refused.text
        with stack.session() as session:
            reasons = [e.details["reason"] for e in events(session, AuditAction.SIGN_IN_FAILED)]
            assert reasons[-2:] == ["organisation_left", "organisation_left"]
    finally:
        set_stage(stack, OrganisationStage.ONBOARDING)
    assert "Ashby Lane" in Browser(stack).get("/sign-in/organisations").text
