"""The registry's own rules: what a provider entry may say, whichever way it arrives."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from portal.auth.oidc.provider_spec import ProviderSpec, RegistryError
from portal.auth.oidc.registry import save_provider
from portal.auth.oidc.registry_file import load_file
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import AuditEvent, OrganisationKind
from tests.factories import make_organisation

GOOGLE = "https://accounts.google.com"
SECRET = "a-client-secret-of-some-length"  # noqa: S105 - a test value


def spec(organisation: str, name: str, **fields: object) -> ProviderSpec:
    values: dict[str, object] = {
        "organisation": organisation,
        "slug": name,
        "display_name": name,
        "issuer": f"https://{name}.idp.test",
        "client_id": "portal",
    }
    values.update(fields)
    return ProviderSpec.model_validate(values)


def test_schools_on_google_workspace_share_the_issuer_told_apart_by_hosted_domain(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    a = make_organisation(db_session, OrganisationKind.SCHOOL)
    b = make_organisation(db_session, OrganisationKind.SCHOOL)
    c = make_organisation(db_session, OrganisationKind.SCHOOL)
    save_provider(
        db_session,
        cipher,
        spec(a.name, "a", issuer=GOOGLE, allowed_hosted_domains=["a.sch.uk"]),
        client_secret=SECRET,
    )
    save_provider(
        db_session,
        cipher,
        spec(b.name, "b", issuer=GOOGLE, allowed_hosted_domains=["b.sch.uk"]),
        client_secret=SECRET,
    )
    with pytest.raises(RegistryError, match="shared issuer"):
        save_provider(db_session, cipher, spec(c.name, "c", issuer=GOOGLE), client_secret=SECRET)
    with pytest.raises(RegistryError, match="shared issuer"):
        save_provider(
            db_session,
            cipher,
            spec(c.name, "c", issuer=GOOGLE, allowed_hosted_domains=["a.sch.uk"]),
            client_secret=SECRET,
        )


def test_a_provider_cannot_move_to_another_organisation(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    a = make_organisation(db_session)
    b = make_organisation(db_session)
    save_provider(db_session, cipher, spec(a.name, "school"), client_secret=SECRET)
    with pytest.raises(RegistryError, match="another organisation"):
        save_provider(db_session, cipher, spec(b.name, "school"), client_secret=SECRET)


def test_every_change_is_audited_without_the_secret(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    school = make_organisation(db_session)
    provider = save_provider(db_session, cipher, spec(school.name, "s"), client_secret=SECRET)
    events = list(
        db_session.scalars(sa.select(AuditEvent).where(AuditEvent.object_id == str(provider.id)))
    )
    assert [e.action for e in events] == ["identity_provider_added"]
    assert SECRET not in str(events[0].details)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"signing_algorithms": ["HS256"]}, "asymmetric"),
        ({"signing_algorithms": ["none"]}, "asymmetric"),
        ({"issuer": "http://idp.example"}, "https"),
        ({"issuer": "https://idp.example/?x=1"}, "query"),
        ({"scopes": "email profile"}, "openid"),
        ({"slug": "Not A Slug"}, "pattern"),
        ({"allowed_email_domains": ["not a domain"]}, "domain"),
        ({"group_roles": {"g": "superuser"}}, "role"),
    ],
)
def test_unsafe_or_malformed_entries_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec("School", "school", **fields)
    assert message in str(caught.value).lower()


def test_a_registry_file_names_the_provider_and_field_at_fault(tmp_path: Path) -> None:
    registry = tmp_path / "providers.toml"
    registry.write_text(
        '[[provider]]\norganisation = "A"\nslug = "a"\ndisplay_name = "A"\n'
        'issuer = "https://a.test"\nclient_id = "p"\nsigning_algorithms = ["HS256"]\n',
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as caught:
        load_file(registry)
    assert "provider 1" in str(caught.value) and "signing_algorithms" in str(caught.value)


def test_a_council_provider_cannot_hand_out_partner_powers_nor_change_issuer(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    council = make_organisation(db_session, OrganisationKind.COUNCIL)
    with pytest.raises(RegistryError, match="council roles"):
        save_provider(
            db_session,
            cipher,
            spec(council.name, "c", group_roles={"g": "partner_lead"}),
            client_secret=SECRET,
        )
    save_provider(db_session, cipher, spec(council.name, "c"), client_secret=SECRET)
    with pytest.raises(RegistryError, match="keeps its issuer"):
        save_provider(db_session, cipher, spec(council.name, "c", issuer="https://elsewhere.test"))


def test_a_change_is_recorded_by_field_and_tightening_rules_ends_sessions(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    school = make_organisation(db_session)
    save_provider(db_session, cipher, spec(school.name, "s"), client_secret=SECRET)
    provider = save_provider(
        db_session, cipher, spec(school.name, "s", required_acr_values=["AAL2"])
    )
    changed = db_session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.object_id == str(provider.id))
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert changed is not None and changed.action == "identity_provider_changed"
    assert changed.details["changed"] == "required_acr_values"
    assert changed.details["required_acr_values"] == "AAL2"
