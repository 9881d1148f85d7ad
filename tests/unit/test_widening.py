"""Which changes widen who can act for a partner (portal/onboarding/widening.py), and who may
decide one (portal/onboarding/changes.py): pure rules, without a database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from portal.auth.oidc.provider_spec import ProviderSpec
from portal.models import (
    ChangeKind,
    ClientAuthMethod,
    OrganisationChange,
    Role,
    RoleAssignment,
    User,
    UserStatus,
)
from portal.onboarding.changes import may_see, refusal_to_decide
from portal.onboarding.widening import (
    domains_widen,
    provider_narrowing,
    provider_widening,
    restriction_relaxed,
    self_provisioning_widens,
)

BEFORE = ProviderSpec(
    organisation="Ashby Lane",
    slug="ashby",
    display_name="Ashby Lane",
    issuer="https://login.example/ashby",
    client_id="portal",
    allowed_email_domains=["ashby.sch.uk"],
    allowed_tenants=["tenant-1"],
    allowed_hosted_domains=["ashby.sch.uk"],
    required_acr_values=["AAL2", "AAL3"],
    require_strong_amr=True,
    group_roles={"leads": Role.PARTNER_LEAD},
)


def changed(**update: Any) -> ProviderSpec:
    return BEFORE.model_copy(update=update)


@pytest.mark.parametrize(
    ("update", "narrows"),
    [
        ({"enabled": False}, ["enabled"]),
        ({"allowed_email_domains": []}, ["allowed_email_domains"]),
        ({"required_acr_values": ["AAL3"]}, ["required_acr_values"]),
        ({"allowed_tenants": ["tenant-2"]}, []),  # a swap widens: not narrowing
        ({"client_id": "other"}, []),  # widens either way
        ({"display_name": "Renamed"}, []),
    ],
)
def test_what_narrows(update: dict[str, Any], narrows: list[str]) -> None:
    assert provider_narrowing(BEFORE, changed(**update)) == narrows


def test_a_new_provider_widens() -> None:
    assert provider_widening(None, BEFORE) == ["created"]


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"enabled": True}, None),  # already on: no change
        ({"allowed_email_domains": ["ashby.sch.uk", "evil.example"]}, "allowed_email_domains"),
        ({"allowed_tenants": ["tenant-1", "tenant-2"]}, "allowed_tenants"),
        ({"allowed_tenants": []}, "allowed_tenants"),  # a restriction emptied
        ({"allowed_hosted_domains": []}, "allowed_hosted_domains"),
        ({"required_acr_values": ["AAL1", "AAL2", "AAL3"]}, "required_acr_values"),
        ({"required_acr_values": []}, "required_acr_values"),
        ({"require_strong_amr": False}, "require_strong_amr"),
        ({"group_roles": {"leads": Role.PARTNER_LEAD, "all": Role.PARTNER_LEAD}}, "group_roles"),
        ({"group_roles": {"leads": Role.PARTNER_CONTRIBUTOR}}, "group_roles"),
        ({"claim_mapping": {"email": "upn", "name": "name", "groups": "groups"}}, "claim_mapping"),
        ({"signing_algorithms": ["RS256", "ES256"]}, "signing_algorithms"),
        ({"client_id": "someone-elses-client"}, "client_id"),
        ({"client_auth_method": ClientAuthMethod.CLIENT_SECRET_POST}, "client_auth_method"),
    ],
)
def test_each_change_that_lets_more_people_in_widens(
    update: dict[str, Any], reason: str | None
) -> None:
    assert provider_widening(BEFORE, changed(**update)) == ([reason] if reason else [])


@pytest.mark.parametrize(
    "update",
    [
        {"display_name": "Ashby Lane Primary"},
        {"enabled": False},
        {"allowed_email_domains": []},
        {"allowed_tenants": ["tenant-1"]},
        {"required_acr_values": ["AAL3"]},
        {"group_roles": {}},
        {"signing_algorithms": ["RS256"]},
        {"scopes": "openid email"},
    ],
)
def test_renaming_and_narrowing_do_not_widen(update: dict[str, Any]) -> None:
    assert provider_widening(BEFORE, changed(**update)) == []


def test_switching_a_provider_back_on_widens() -> None:
    assert provider_widening(changed(enabled=False), BEFORE) == ["enabled"]


def test_demanding_mfa_where_none_was_demanded_narrows() -> None:
    none = changed(required_acr_values=[], require_strong_amr=False)
    assert provider_widening(none, BEFORE) == []


def test_restrictions_and_domains() -> None:
    assert not restriction_relaxed([], ["a"])  # none before: a new restriction narrows
    assert restriction_relaxed(["a"], [])
    assert restriction_relaxed(["a"], ["a", "b"])
    assert not restriction_relaxed(["a", "b"], ["b"])
    assert domains_widen(["a.sch.uk"], ["a.sch.uk", "b.sch.uk"])
    assert not domains_widen(["a.sch.uk", "b.sch.uk"], ["a.sch.uk"])
    assert self_provisioning_widens(False, True)
    assert not self_provisioning_widens(True, False)


SCHOOL = uuid.uuid4()
COUNCIL = uuid.uuid4()


def person(organisation: uuid.UUID, *roles: Role, status: UserStatus = UserStatus.ACTIVE) -> User:
    user = User(id=uuid.uuid4(), organisation_id=organisation, status=status)
    user.role_assignments = [RoleAssignment(role=role) for role in roles]
    return user


def change(kind: ChangeKind, proposer: User, **proposal: Any) -> OrganisationChange:
    return OrganisationChange(
        id=uuid.uuid4(),
        organisation_id=SCHOOL,
        kind=kind,
        proposal=proposal,
        proposed_by_id=proposer.id,
    )


def test_who_may_decide_a_change() -> None:
    admin = person(COUNCIL, Role.PORTAL_ADMIN)
    officer = person(COUNCIL, Role.IG_OFFICER)
    lead = person(SCHOOL, Role.PARTNER_LEAD)
    other_lead = person(uuid.uuid4(), Role.PARTNER_LEAD)
    suspended = person(COUNCIL, Role.IG_OFFICER, status=UserStatus.SUSPENDED)
    proposed = change(ChangeKind.SELF_PROVISIONING, admin, self_provisioning=True)

    assert refusal_to_decide(officer, proposed) is None
    assert refusal_to_decide(lead, proposed) is None
    assert "You proposed this change" in (refusal_to_decide(admin, proposed) or "")
    assert refusal_to_decide(other_lead, proposed) is not None
    assert refusal_to_decide(suspended, proposed) is not None
    assert refusal_to_decide(person(COUNCIL, Role.PARTNER_ENGAGEMENT_OFFICER), proposed)

    # An IG officer who proposes cannot approve their own; nor can the person a change is about.
    officers_own = change(ChangeKind.EMAIL_DOMAINS, officer, domains=["a.sch.uk"])
    assert refusal_to_decide(officer, officers_own) is not None
    about_lead = change(ChangeKind.PARTNER_LEAD, admin, user_id=str(lead.id))
    assert "make you partner lead" in (refusal_to_decide(lead, about_lead) or "")

    assert may_see(officer, proposed) and may_see(lead, proposed) and may_see(admin, proposed)
    assert not may_see(other_lead, proposed)
