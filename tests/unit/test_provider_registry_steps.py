"""The registry's pure steps (portal/auth/oidc/registry.py), without a database: which roles a
provider may give, what a stored provider keeps, what a spec changes, and when a change ends
the provider's sessions."""

from __future__ import annotations

import uuid

import pytest

from portal.auth.oidc.provider_spec import ProviderSpec, RegistryError
from portal.auth.oidc.registry import (
    apply_spec,
    check_keeps_identity,
    check_roles_fit,
    ends_sessions,
)
from portal.models import IdentityProvider, Organisation, OrganisationKind, Role


def organisation(kind: OrganisationKind) -> Organisation:
    return Organisation(id=uuid.uuid4(), name=f"{kind} organisation", kind=kind)


def spec(**fields: object) -> ProviderSpec:
    values: dict[str, object] = {
        "organisation": "Somewhere",
        "slug": "somewhere",
        "display_name": "Somewhere",
        "issuer": "https://idp.somewhere.test",
        "client_id": "portal",
    }
    return ProviderSpec.model_validate({**values, **fields})


def stored(owner: Organisation, **fields: object) -> IdentityProvider:
    provider = IdentityProvider(id=uuid.uuid4(), slug="somewhere", organisation_id=owner.id)
    apply_spec(provider, spec(**fields))
    return provider


def test_a_council_provider_gives_council_roles_only() -> None:
    council = organisation(OrganisationKind.COUNCIL)
    check_roles_fit(council, spec(group_roles={"sw": Role.SOCIAL_WORKER}))
    with pytest.raises(RegistryError, match="the groups a, b map to partner roles") as refused:
        check_roles_fit(
            council,
            spec(
                group_roles={
                    "b": Role.PARTNER_LEAD,
                    "sw": Role.SOCIAL_WORKER,
                    "a": Role.PARTNER_CONTRIBUTOR,
                }
            ),
        )
    assert refused.value.field == "group_roles"


@pytest.mark.parametrize("kind", [OrganisationKind.SCHOOL, OrganisationKind.HEALTH])
def test_a_partners_provider_gives_partner_roles_only(kind: OrganisationKind) -> None:
    partner = organisation(kind)
    check_roles_fit(partner, spec(group_roles={"staff": Role.PARTNER_CONTRIBUTOR}))
    with pytest.raises(RegistryError, match="the groups ig map to council roles"):
        check_roles_fit(partner, spec(group_roles={"ig": Role.IG_OFFICER}))


def test_no_provider_makes_partner_leads() -> None:
    # Partner leads are made only by an approved partner-lead change: a directory group
    # nobody here approves must not make one.
    partner = organisation(OrganisationKind.SCHOOL)
    with pytest.raises(RegistryError, match="cannot make partner leads: the groups lead") as no:
        check_roles_fit(partner, spec(group_roles={"lead": Role.PARTNER_LEAD}))
    assert no.value.field == "group_roles"


def test_a_stored_provider_keeps_its_issuer_and_its_organisation() -> None:
    school = organisation(OrganisationKind.SCHOOL)
    provider = stored(school)
    check_keeps_identity(provider, school, spec(display_name="Renamed"))
    with pytest.raises(RegistryError, match="keeps its issuer") as moved_issuer:
        check_keeps_identity(provider, school, spec(issuer="https://elsewhere.test"))
    assert moved_issuer.value.field == "issuer"
    with pytest.raises(RegistryError, match="another organisation") as moved:
        check_keeps_identity(provider, organisation(OrganisationKind.SCHOOL), spec())
    assert moved.value.field == "organisation"


def test_applying_a_spec_copies_it_and_names_what_changed() -> None:
    provider = stored(organisation(OrganisationKind.SCHOOL))
    changed = apply_spec(
        provider,
        spec(
            display_name="Renamed",
            group_roles={"staff": Role.PARTNER_CONTRIBUTOR},
            allowed_email_domains=["somewhere.sch.uk"],
        ),
    )
    assert changed == ["allowed_email_domains", "display_name", "group_roles"]
    assert provider.display_name == "Renamed"
    assert provider.group_roles == {"staff": "partner_contributor"}
    assert apply_spec(provider, spec(**_same_as(provider))) == []


def test_a_new_provider_has_every_audited_field_changed() -> None:
    provider = IdentityProvider(id=uuid.uuid4(), slug="somewhere")
    assert "client_id" in apply_spec(provider, spec()) and provider.enabled is True


@pytest.mark.parametrize(
    ("was_enabled", "enabled", "changed", "ends"),
    [
        (True, False, ["enabled"], True),  # switched off
        (False, False, [], False),  # already off: nothing is open
        (True, True, ["display_name", "scopes"], False),  # nothing about who gets in
        (True, True, ["allowed_email_domains"], True),  # who gets in changed
        (False, True, ["enabled", "required_acr_values"], True),
    ],
)
def test_a_change_to_who_gets_in_ends_the_providers_sessions(
    was_enabled: bool, enabled: bool, changed: list[str], ends: bool
) -> None:
    assert ends_sessions(was_enabled, spec(enabled=enabled), changed) is ends


def _same_as(provider: IdentityProvider) -> dict[str, object]:
    return {
        "display_name": provider.display_name,
        "group_roles": {group: Role(role) for group, role in provider.group_roles.items()},
        "allowed_email_domains": list(provider.allowed_email_domains),
    }
