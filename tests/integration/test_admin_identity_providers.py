"""The admin pages for identity providers and organisations: through the real app and forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.oidc.registry import save_provider
from portal.auth.sessions import token_hash
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
    Role,
    User,
    WebSession,
)
from tests.factories import csrf_token, make_organisation, make_user, sign_in
from tests.support.audit_log import events

SECRET = "a-client-secret-nobody-should-see"  # noqa: S105 - a test value


@pytest.fixture
def admin(db_session: Session) -> User:
    return make_user(
        db_session, make_organisation(db_session, OrganisationKind.COUNCIL), Role.PORTAL_ADMIN
    )


@pytest.fixture
def school(db_session: Session) -> Organisation:
    return make_organisation(db_session, OrganisationKind.SCHOOL)


@pytest.fixture
def admin_client(app: Flask, admin: User) -> FlaskClient:
    client = app.test_client()
    sign_in(app, client, admin)
    return client


def form_fields(owner: Organisation, slug: str, /, **overrides: Any) -> dict[str, Any]:
    """What an admin would fill in; `overrides` change fields, None leaves one out."""
    fields: dict[str, Any] = {
        "organisation": owner.name,
        "slug": slug,
        "display_name": f"{owner.name} sign-in",
        "issuer": f"https://{slug}.idp.test",
        "client_id": "partner-portal",
        "client_auth_method": "client_secret_basic",
        "client_secret": SECRET,
        "scopes": "openid email profile",
        "signing_algorithms": ["RS256"],
        "allowed_email_domains": "School.example\n\n  other.example ",
        "allowed_tenants": "",
        "allowed_hosted_domains": "",
        "required_acr_values": "AAL2\nAAL3",
        "require_strong_amr": "y",
        "group_roles": "staff = partner_contributor",
        "claim_email": "email",
        "claim_name": "name",
        "claim_groups": "groups",
        "enabled": "y",
    }
    fields.update(overrides)
    return {name: value for name, value in fields.items() if value is not None}


def post_form(client: FlaskClient, path: str, fields: dict[str, Any]) -> Any:
    page = client.get(path)
    assert page.status_code == 200
    return client.post(path, data={**fields, "csrf_token": csrf_token(page.get_data(as_text=True))})


def provider(db_session: Session, slug: str) -> IdentityProvider | None:
    db_session.expire_all()
    return db_session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == slug))


def proposals(db_session: Session) -> list[OrganisationChange]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(OrganisationChange)))


def approve_as(app: Flask, db_session: Session, change: OrganisationChange) -> None:
    """A second person (an IG officer) approves `change` on its page."""
    council = db_session.get(Organisation, change.proposed_by.organisation_id)
    assert council is not None
    officer = make_user(db_session, council, Role.IG_OFFICER)
    client = app.test_client()
    sign_in(app, client, officer)
    page = client.get(f"/approvals/{change.id}")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    answer = client.post(f"/approvals/{change.id}/approve", data={"csrf_token": token})
    assert answer.status_code == 302
    db_session.expire_all()


def test_an_admin_proposes_a_provider_that_takes_effect_when_a_second_person_approves(
    app: Flask,
    admin_client: FlaskClient,
    db_session: Session,
    keyring: FileKeyring,
    school: Organisation,
    admin: User,
) -> None:
    response = post_form(
        admin_client, "/admin/identity-providers/new", form_fields(school, "ashby")
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/identity-providers"
    assert provider(db_session, "ashby") is None  # nothing until someone else approves it
    [change] = proposals(db_session)
    assert change.kind == ChangeKind.IDENTITY_PROVIDER and change.status == ChangeStatus.PENDING
    assert change.proposed_by_id == admin.id and change.organisation_id == school.id
    assert SECRET not in str(change.proposal)  # sealed beside the proposal, never in it
    raw = db_session.execute(
        sa.text("SELECT client_secret_enc FROM organisation_changes WHERE id = :id"),
        {"id": change.id},
    ).scalar_one()
    assert SECRET.encode() not in bytes(raw)
    [proposed] = events(db_session, "change_proposed")
    assert proposed.actor_user_id == admin.id and SECRET not in str(proposed.details)
    listing = admin_client.get("/admin/identity-providers").get_data(as_text=True)
    assert "was proposed: it takes effect when the organisation’s partner lead" in listing
    assert "Waiting for a second person" in listing
    assert f"Add the identity provider {school.name} sign-in (ashby)" in listing

    approve_as(app, db_session, change)

    saved = provider(db_session, "ashby")
    assert saved is not None and saved.organisation_id == school.id
    assert saved.allowed_email_domains == ["school.example", "other.example"]
    assert saved.required_acr_values == ["AAL2", "AAL3"] and saved.require_strong_amr
    assert saved.group_roles == {"staff": "partner_contributor"}
    assert saved.tested_at is None  # the new configuration is untested
    assert RecordCipher(keyring, db_session).open_text(saved, "client_secret_enc") == SECRET
    assert proposals(db_session)[0].client_secret_enc is None  # not kept twice
    [event] = events(db_session, "identity_provider_added")
    assert event.object_id == str(saved.id) and SECRET not in str(event.details)
    assert len(events(db_session, "change_approved")) == 1

    listing = admin_client.get("/admin/identity-providers").get_data(as_text=True)
    assert "ashby" in listing and "MFA: acr AAL2 or AAL3" in listing


def test_a_private_key_jwt_provider_gets_a_key_pair_whose_public_half_is_published(
    app: Flask, admin_client: FlaskClient, db_session: Session, school: Organisation
) -> None:
    fields = form_fields(school, "cis2", client_auth_method="private_key_jwt", client_secret=None)
    response = post_form(admin_client, "/admin/identity-providers/new", fields)

    assert response.status_code == 302
    approve_as(app, db_session, proposals(db_session)[0])
    saved = provider(db_session, "cis2")
    assert saved is not None and saved.client_key_enc is not None
    assert saved.client_secret_enc is None
    kid = (saved.client_public_jwk or {})["kid"]

    published = admin_client.get("/.well-known/jwks.json").get_json()
    [key] = [key for key in published["keys"] if key["kid"] == kid]
    assert key["kty"] == "RSA" and {"d", "p", "q", "dp", "dq", "qi"}.isdisjoint(key)

    page = admin_client.get("/admin/identity-providers/cis2").get_data(as_text=True)
    assert kid in page
    assert "http://127.0.0.1:5000/sign-in/callback/cis2" in page
    assert "http://127.0.0.1:5000/.well-known/jwks.json" in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"signing_algorithms": ["HS256"]}, "signing_algorithms", "HS256 cannot be pinned"),
        ({"issuer": "http://idp.example"}, "issuer", "must use https"),
        ({"client_secret": None}, "client_secret", "client_secret_basic needs a client secret"),
        ({"client_secret": "short"}, "client_secret", "shorter than 16 characters"),
        ({"slug": "Not A Slug"}, "slug", "lower-case letters, digits and hyphens"),
        ({"slug": "new"}, "slug", "reserved"),
        ({"scopes": "email"}, "scopes", "must include openid"),
        ({"allowed_email_domains": "not a domain"}, "allowed_email_domains", "not a domain"),
        ({"group_roles": "leads partner_lead"}, "group_roles", "as group = role"),
        ({"group_roles": "g = superuser"}, "group_roles", "&#39;superuser&#39; is not one of"),
        ({"group_roles": "g = social_worker"}, "group_roles", "can only give partner roles"),
        ({"display_name": ""}, "display_name", "Enter a display name"),
        ({"organisation": ""}, "organisation", "Select the organisation"),
    ],
)
def test_a_refused_provider_is_explained_against_its_field_and_nothing_is_saved(
    admin_client: FlaskClient,
    db_session: Session,
    school: Organisation,
    overrides: dict[str, Any],
    field: str,
    message: str,
) -> None:
    fields = form_fields(school, "refused", **overrides)
    response = post_form(admin_client, "/admin/identity-providers/new", fields)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<title>Error:" in page
    assert "govuk-error-summary" in page and f'href="#{field}"' in page
    assert message in page
    assert SECRET not in page  # the secret is never sent back, not even after an error
    assert db_session.scalar(sa.select(sa.func.count()).select_from(IdentityProvider)) == 0
    assert proposals(db_session) == []
    assert events(db_session, "identity_provider_added") == []
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def saved_provider(
    db_session: Session, keyring: FileKeyring, school: Organisation
) -> IdentityProvider:
    spec = ProviderSpec(
        organisation=school.name,
        slug="brook",
        display_name="Brookfield",
        issuer="https://brook.idp.test",
        client_id="portal",
    )
    return save_provider(db_session, RecordCipher(keyring, db_session), spec, client_secret=SECRET)


def as_saved(school: Organisation, /, **overrides: Any) -> dict[str, Any]:
    """The form as `saved_provider` left it, with `overrides`."""
    fields = form_fields(
        school,
        "brook",
        display_name="Brookfield",
        issuer="https://brook.idp.test",
        client_id="portal",
        client_secret="",
        allowed_email_domains="",
        required_acr_values="",
        require_strong_amr=None,
        group_roles="",
    )
    return {**fields, **overrides}


def test_editing_a_provider_keeps_the_stored_secret_when_the_box_is_left_empty(
    admin_client: FlaskClient, db_session: Session, keyring: FileKeyring, school: Organisation
) -> None:
    saved_provider(db_session, keyring, school)
    page = admin_client.get("/admin/identity-providers/brook").get_data(as_text=True)
    assert SECRET not in page and 'name="slug"' not in page

    fields = as_saved(school, slug="ignored", display_name="Brookfield Academy")
    response = post_form(admin_client, "/admin/identity-providers/brook", fields)

    assert response.status_code == 302
    assert proposals(db_session) == []  # a new name lets nobody new in: at once
    changed = provider(db_session, "brook")
    assert changed is not None and changed.display_name == "Brookfield Academy"
    assert RecordCipher(keyring, db_session).open_text(changed, "client_secret_enc") == SECRET
    assert provider(db_session, "ignored") is None  # the slug never changes
    [event] = events(db_session, "identity_provider_changed")
    assert event.details["secret_changed"] is False


def test_a_refused_edit_changes_nothing(
    admin_client: FlaskClient, db_session: Session, keyring: FileKeyring, school: Organisation
) -> None:
    saved_provider(db_session, keyring, school)
    other = make_organisation(db_session)
    fields = form_fields(other, "brook", display_name="Moved", issuer="https://brook.idp.test")
    response = post_form(admin_client, "/admin/identity-providers/brook", fields)

    assert response.status_code == 400
    assert "belongs to another organisation" in response.get_data(as_text=True)
    unchanged = provider(db_session, "brook")
    assert unchanged is not None and unchanged.display_name == "Brookfield"
    assert unchanged.organisation_id == school.id
    assert events(db_session, "identity_provider_changed") == []


def test_switching_a_provider_off_ends_the_sessions_it_started(
    app: Flask,
    admin_client: FlaskClient,
    db_session: Session,
    keyring: FileKeyring,
    school: Organisation,
) -> None:
    existing = saved_provider(db_session, keyring, school)
    person = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    now = datetime.now(UTC)
    db_session.add(
        WebSession(
            token_hash=token_hash("a-session-token"),
            user_id=person.id,
            identity_provider_id=existing.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=1),
            data={},
        )
    )
    db_session.flush()

    fields = as_saved(school)
    del fields["enabled"]
    fields["required_acr_values"] = "AAL3"  # narrowing too: still at once
    assert post_form(admin_client, "/admin/identity-providers/brook", fields).status_code == 302
    assert proposals(db_session) == []  # switching off never waits for anyone

    assert (
        db_session.scalar(
            sa.select(sa.func.count())
            .select_from(WebSession)
            .where(WebSession.identity_provider_id == existing.id)
        )
        == 0
    )
    [event] = events(db_session, "identity_provider_changed")
    assert event.details["enabled"] is False and event.details["sessions_ended"] == 1


def test_an_edit_that_both_narrows_and_widens_is_refused_and_explained(
    admin_client: FlaskClient, db_session: Session, keyring: FileKeyring, school: Organisation
) -> None:
    saved_provider(db_session, keyring, school)
    fields = as_saved(school, allowed_email_domains="ashby.sch.uk")  # widens...
    del fields["enabled"]  # ...and switches it off, which must never wait

    response = post_form(admin_client, "/admin/identity-providers/brook", fields)

    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "govuk-error-summary" in text and "both narrows who the provider lets in" in text
    assert "propose the widening separately" in text
    unchanged = provider(db_session, "brook")
    assert unchanged is not None and unchanged.enabled and unchanged.allowed_email_domains == []
    assert proposals(db_session) == []


def test_the_list_tells_an_admin_what_to_register_at_a_provider(
    admin_client: FlaskClient, db_session: Session, keyring: FileKeyring, school: Organisation
) -> None:
    saved_provider(db_session, keyring, school)
    page = admin_client.get("/admin/identity-providers").get_data(as_text=True)

    assert "http://127.0.0.1:5000/sign-in/callback/&lt;slug&gt;" in page
    assert "http://127.0.0.1:5000/sign-in/back-channel-logout/&lt;slug&gt;" in page
    assert "http://127.0.0.1:5000/.well-known/jwks.json" in page
    assert school.name in page and "/admin/identity-providers/brook" in page


def test_posting_without_a_csrf_token_is_refused(
    admin_client: FlaskClient, db_session: Session, school: Organisation
) -> None:
    response = admin_client.post(
        "/admin/identity-providers/new", data=form_fields(school, "forged")
    )
    assert response.status_code == 400
    assert provider(db_session, "forged") is None


def test_only_admins_reach_the_admin_pages(
    app: Flask, db_session: Session, school: Organisation
) -> None:
    client = app.test_client()
    sign_in(app, client, make_user(db_session, school, Role.PARTNER_LEAD))
    assert client.get("/admin/identity-providers").status_code == 403
    assert "Identity providers" not in client.get("/people").get_data(as_text=True)


def test_the_navigation_offers_admins_their_pages(admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/identity-providers").get_data(as_text=True)
    assert 'href="/admin/identity-providers"' in page and 'href="/people"' in page
    assert 'aria-current="true"' in page


def test_an_admin_proposes_self_provisioning_on_and_turns_it_off_at_once(
    admin_client: FlaskClient, db_session: Session, school: Organisation, admin: User
) -> None:
    path = f"/admin/organisations/{school.id}/self-provisioning"
    page = admin_client.get("/admin/organisations")
    assert page.status_code == 200 and school.name in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))

    response = admin_client.post(path, data={"csrf_token": token, "self_provisioning": "on"})
    assert response.status_code == 302
    db_session.refresh(school)
    assert school.self_provisioning is False  # waiting for a second person
    [change] = proposals(db_session)
    assert change.kind == ChangeKind.SELF_PROVISIONING and change.proposed_by_id == admin.id
    assert "was proposed" in admin_client.get("/admin/organisations").get_data(as_text=True)
    # The same button again is the same proposal, not a second one.
    admin_client.post(path, data={"csrf_token": token, "self_provisioning": "on"})
    assert len(proposals(db_session)) == 1

    school.self_provisioning = True
    db_session.flush()
    admin_client.post(path, data={"csrf_token": token, "self_provisioning": "off"})
    db_session.refresh(school)
    assert school.self_provisioning is False
    [event] = events(db_session, "organisation_changed")
    assert event.actor_user_id == admin.id and event.object_id == str(school.id)
    assert event.details == {"self_provisioning": False}

    bad = admin_client.post(path, data={"csrf_token": token, "self_provisioning": "maybe"})
    assert bad.status_code == 400
    forged = admin_client.post(path, data={"self_provisioning": "on"})
    assert forged.status_code == 400
    assert len(events(db_session, "organisation_changed")) == 1
