"""The pure steps of deciding who a sign-in is (portal/auth/oidc/identity.py), without a
database: which address is kept, a newcomer's first roles, who is active at once, and who may
sign in at all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from portal.auth.oidc.errors import SignInFailure
from portal.auth.oidc.identity import (
    _group_roles,
    address_to_keep,
    check_may_sign_in,
    first_roles,
    may_self_provision,
    organisation_domains,
)
from portal.models import IdentityProvider, Organisation, OrganisationKind, Role, User, UserStatus

SCHOOL_DOMAINS = frozenset({"ashby.sch.uk", "ashby-academy.org"})
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def school(*domain_lists: list[str], self_provisioning: bool = True) -> Organisation:
    organisation = Organisation(
        id=uuid.uuid4(),
        name="Ashby Lane",
        kind=OrganisationKind.SCHOOL,
        self_provisioning=self_provisioning,
        email_domains=sorted(SCHOOL_DOMAINS),
    )
    organisation.identity_providers = [
        IdentityProvider(
            slug=f"p{number}", allowed_email_domains=domains, trusted_since=NOW - timedelta(days=31)
        )
        for number, domains in enumerate(domain_lists)
    ]
    return organisation


def test_the_organisations_domains_are_every_entrys() -> None:
    organisation = school(["ashby.sch.uk"], ["ashby-academy.org", "ashby.sch.uk"], [])
    assert organisation_domains(organisation) == SCHOOL_DOMAINS
    assert organisation_domains(school()) == frozenset()


@pytest.mark.parametrize(
    ("claimed", "stored", "kept"),
    [
        ("new@ashby.sch.uk", "old@ashby.sch.uk", "new@ashby.sch.uk"),
        ("new@ashby-academy.org", None, "new@ashby-academy.org"),
        ("head@brookfield.sch.uk", "old@ashby.sch.uk", "old@ashby.sch.uk"),  # another school's
        ("head@brookfield.sch.uk", None, None),
        ("x@sub.ashby.sch.uk", "old@ashby.sch.uk", "old@ashby.sch.uk"),  # a subdomain is not it
        (None, "old@ashby.sch.uk", None),  # no usable claim: as before, none is kept
    ],
)
def test_an_address_is_kept_only_within_the_organisations_domains(
    claimed: str | None, stored: str | None, kept: str | None
) -> None:
    assert address_to_keep(claimed, SCHOOL_DOMAINS, stored) == kept


def test_a_newcomers_first_roles() -> None:
    assert first_roles(OrganisationKind.SCHOOL, set()) == {Role.PARTNER_CONTRIBUTOR}
    assert first_roles(OrganisationKind.SCHOOL, {Role.PARTNER_LEAD}) == {Role.PARTNER_LEAD}
    assert first_roles(OrganisationKind.COUNCIL, set()) == set()  # a council's wait for roles


@pytest.mark.parametrize(
    ("self_provisioning", "email", "roles", "active"),
    [
        (True, "new@ashby.sch.uk", {Role.PARTNER_CONTRIBUTOR}, True),
        (False, "new@ashby.sch.uk", {Role.PARTNER_CONTRIBUTOR}, False),
        (True, None, {Role.PARTNER_CONTRIBUTOR}, False),
        (True, "new@ashby-academy.org", {Role.PARTNER_CONTRIBUTOR}, False),  # not this entry's
        (True, "new@ashby.sch.uk", set(), False),
    ],
)
def test_only_an_allowed_newcomer_is_active_at_once(
    self_provisioning: bool, email: str | None, roles: set[Role], active: bool
) -> None:
    organisation = school(["ashby.sch.uk"], ["ashby-academy.org"])
    organisation.self_provisioning = self_provisioning
    provider = organisation.identity_providers[0]
    assert may_self_provision(provider, email, roles, NOW) is active


@pytest.mark.parametrize(
    ("age", "active"),
    [
        (timedelta(days=30), True),
        (timedelta(days=30) - timedelta(seconds=1), False),  # added or widened under 30 days ago
        (timedelta(0), False),
        (timedelta(days=400), True),
    ],
)
def test_newcomers_through_a_recently_added_or_widened_provider_wait(
    age: timedelta, active: bool
) -> None:
    organisation = school(["ashby.sch.uk"])
    provider = organisation.identity_providers[0]
    provider.trusted_since = NOW - age
    assert may_self_provision(provider, "new@ashby.sch.uk", {Role.PARTNER_CONTRIBUTOR}, NOW) is (
        active
    )
    # SQLite hands times back without their zone: the same instant in UTC.
    provider.trusted_since = (NOW - age).replace(tzinfo=None)
    assert may_self_provision(provider, "new@ashby.sch.uk", {Role.PARTNER_CONTRIBUTOR}, NOW) is (
        active
    )


def test_a_domain_the_provider_allows_but_the_organisation_does_not_waits() -> None:
    organisation = school(["ashby.sch.uk", "elsewhere.example"])
    provider = organisation.identity_providers[0]
    roles = {Role.PARTNER_CONTRIBUTOR}
    assert may_self_provision(provider, "new@ashby.sch.uk", roles, NOW)
    assert not may_self_provision(provider, "new@elsewhere.example", roles, NOW)


@pytest.mark.parametrize(
    ("status", "same_organisation", "reason"),
    [
        (UserStatus.ACTIVE, True, None),
        (UserStatus.PENDING, True, None),  # signs in to the waiting page, not refused
        (UserStatus.SUSPENDED, True, "suspended"),
        (UserStatus.ACTIVE, False, "wrong_issuer"),
    ],
)
def test_who_may_sign_in_again(
    status: UserStatus, same_organisation: bool, reason: str | None
) -> None:
    organisation = school(["ashby.sch.uk"])
    user = User(
        organisation_id=organisation.id if same_organisation else uuid.uuid4(), status=status
    )
    if reason is None:
        check_may_sign_in(user, organisation)
        return
    with pytest.raises(SignInFailure) as refused:
        check_may_sign_in(user, organisation)
    assert (refused.value.reason, refused.value.status) == (reason, 403)


def test_a_partners_provider_never_makes_a_partner_lead_even_if_mapped() -> None:
    # A mapping stored before the registry refused one: partner leads are made only by an
    # approved partner-lead change.
    provider = IdentityProvider(
        slug="p",
        group_roles={"leads": "partner_lead", "staff": "partner_contributor"},
        claim_mapping={},
    )
    provider.organisation = school()
    claims = {"groups": ["leads", "staff"]}
    assert _group_roles(provider, claims) == {Role.PARTNER_CONTRIBUTOR}
