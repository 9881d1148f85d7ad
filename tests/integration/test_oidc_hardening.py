"""What a provider's claims and tokens may not do beyond the token rules that
test_oidc_validation.py checks, each through a real sign-in with the forging provider: move a
person's e-mail address to another organisation's domain, or end sessions twice with one
logout token, in any web process; and what the portal asks of a provider whose organisation
requires MFA."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from portal import create_app, db
from portal.audit import AuditAction
from portal.auth import oidc
from portal.config import Settings
from portal.crypto import FileKeyring
from portal.models import IdentityProvider, LogoutTokenUse, Organisation, User, UserStatus
from tests.integration.test_oidc_validation import (
    FORGE_ORGANISATION,
    SIGNED_IN_PAGE,
    audited,
    forge,
    forge_organisation,
    forged_provider,
    portal,
    post_logout_token,
    register_provider,
    sign_in_through,
)
from tests.support.forge_provider import ForgeProvider

__all__ = ["forge", "forge_organisation", "forged_provider", "portal"]


def person(db_session: Session, forge: ForgeProvider, sub: str) -> User:
    return db_session.scalars(
        sa.select(User).where(User.issuer == forge.issuer, User.subject == sub)
    ).one()


def authorization_query(client: FlaskClient, slug: str = "forge") -> dict[str, list[str]]:
    response = client.get(f"/sign-in/start/{slug}")
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["Location"]).query)


# The e-mail address


def test_an_address_at_another_organisations_domain_never_replaces_the_stored_one(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    assert sign_in_through(client, forge, "alice").status_code == 302
    assert person(db_session, forge, "alice").email == "alice@forge.test"

    # The provider now says alice's address is at another school's domain.
    again = sign_in_through(client, forge, "alice", email="alice@other-school.test")

    assert again.status_code == 302  # still signed in: the provider vouches for who she is
    assert person(db_session, forge, "alice").email == "alice@forge.test"


def test_an_address_within_the_organisations_domains_replaces_the_stored_one(
    portal: Flask,
    client: FlaskClient,
    db_session: Session,
    keyring: FileKeyring,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
    forge_organisation: Organisation,
) -> None:
    # The organisation's other provider allows a second domain: an address there is its own.
    second = register_provider(
        db_session, keyring, forge_organisation, "forge-b", "https://forge-b.idp.test"
    )
    second.allowed_email_domains = ["forge-academy.test"]
    db_session.flush()
    assert sign_in_through(client, forge, "alice").status_code == 302

    sign_in_through(client, forge, "alice", email="Alice.Smith@Forge.test")
    assert person(db_session, forge, "alice").email == "alice.smith@forge.test"
    sign_in_through(client, forge, "alice", email="alice@forge-academy.test")
    assert person(db_session, forge, "alice").email == "alice@forge-academy.test"


def test_a_newcomer_with_an_address_at_another_domain_gets_none_and_waits(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    response = sign_in_through(client, forge, "mallory", email="head@other-school.test", name=None)

    assert response.headers["Location"] == "/sign-in/waiting-for-approval"
    newcomer = person(db_session, forge, "mallory")
    assert newcomer.status == UserStatus.PENDING
    assert newcomer.email is None
    assert "other-school" not in newcomer.display_name
    assert newcomer.organisation.name == FORGE_ORGANISATION


# What the portal asks the provider for


def test_a_provider_whose_organisation_requires_mfa_is_asked_for_its_acr_values(
    client: FlaskClient,
    db_session: Session,
    forged_provider: IdentityProvider,
) -> None:
    assert "acr_values" not in authorization_query(client)

    forged_provider.required_acr_values = ["AAL3", "AAL2"]  # as NHS CIS2 expects them
    db_session.flush()

    assert authorization_query(client)["acr_values"] == ["AAL3 AAL2"]


# Back-channel logout tokens, acted on once


@pytest.fixture
def second_web_process(settings: Settings, connection: Connection) -> Iterator[Flask]:
    """Another web process of the same portal (as gunicorn runs several): its own app, its
    own memory, the same database."""
    application = create_app(settings, check_database=False)
    db.database(application).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield application
    oidc.directory(application).http.close()
    db.database(application).engine.dispose()


def test_a_logout_token_is_acted_on_once_whichever_web_process_it_reaches(
    portal: Flask,
    second_web_process: Flask,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    alice = portal.test_client()
    assert sign_in_through(alice, forge, "alice").status_code == 302
    token = forge.sign(forge.logout_token_claims(sub="alice"))
    assert post_logout_token(portal, token).status_code == 200
    assert alice.get(SIGNED_IN_PAGE).status_code == 302
    assert sign_in_through(alice, forge, "alice").status_code == 302  # she signs in again

    # Someone who captured the token sends it again, to each web process, within its lifetime.
    for web in (portal, second_web_process):
        replayed = post_logout_token(web, token)
        assert replayed.status_code == 400
        assert replayed.get_json() == {
            "error": "invalid_request",
            "error_description": "replayed_token",
        }

    assert alice.get(SIGNED_IN_PAGE).status_code == 200
    assert len(audited(db_session, AuditAction.SESSION_ENDED_BY_PROVIDER)) == 1
    assert audited(db_session, AuditAction.LOGOUT_TOKEN_REFUSED) == [
        {"reason": "replayed_token"},
        {"reason": "replayed_token"},
    ]


def test_a_logout_token_is_remembered_until_it_expires_and_no_longer(
    portal: Flask,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    lapsed = LogoutTokenUse(
        identity_provider_id=forged_provider.id,
        jti_sha256=hashlib.sha256(b"an-old-token").hexdigest(),
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    db_session.add(lapsed)
    db_session.flush()
    claims = forge.logout_token_claims(sub="alice", exp=int(datetime.now(UTC).timestamp()) + 30)

    assert post_logout_token(portal, forge.sign(claims)).status_code == 200

    [remembered] = db_session.scalars(sa.select(LogoutTokenUse)).all()
    assert remembered.jti_sha256 == hashlib.sha256(claims["jti"].encode()).hexdigest()
    # Until the token's own expiry (here sooner than its two minutes from issue), plus the
    # clock skew the checks allow.
    assert abs(remembered.expires_at.timestamp() - (claims["exp"] + 60)) <= 1
