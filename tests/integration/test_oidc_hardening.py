"""What a provider's claims and tokens may not do beyond the token rules that
test_oidc_validation.py checks, each through a real sign-in with the forging provider: move a
person's e-mail address to another organisation's domain, or end sessions twice with one
logout token; and what the portal asks of a provider whose organisation requires MFA."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from portal.models import IdentityProvider, Organisation, User, UserStatus
from tests.integration.test_oidc_validation import (
    FORGE_ORGANISATION,
    forge,
    forge_organisation,
    forged_provider,
    portal,
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
