"""Who can act for an organisation, as its access page shows it: its identity providers and
their rules, its e-mail domains, self-provisioning, its partner leads, the changes waiting for
a second person (each with what it changes, before and after) and the decided ones."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from portal.models import (
    ChangeKind,
    ChangeStatus,
    IdentityProvider,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    Role,
    User,
    UserStatus,
)
from portal.onboarding import changes

# What the route module names, so that it never imports the data model itself.
__all__ = ["Access", "ChangeStatus", "Organisation", "OrganisationChange", "User"]

_LABELS = {
    "created": "New provider",
    "display_name": "Display name",
    "issuer": "Issuer",
    "client_id": "Client ID",
    "client_auth_method": "How the portal proves it is the client",
    "scopes": "Scopes",
    "signing_algorithms": "ID token signing algorithms",
    "claim_mapping": "Claims",
    "group_roles": "Roles from groups",
    "allowed_email_domains": "Allowed email domains",
    "allowed_tenants": "Allowed Microsoft Entra tenants",
    "allowed_hosted_domains": "Allowed Google Workspace domains",
    "required_acr_values": "Required authentication levels (acr)",
    "require_strong_amr": "Require multi-factor authentication (amr)",
    "enabled": "People can sign in with it",
}
KIND_LABELS = {
    ChangeKind.IDENTITY_PROVIDER: "Identity provider",
    ChangeKind.SELF_PROVISIONING: "Self-provisioning on",
    ChangeKind.EMAIL_DOMAINS: "Email domains",
    ChangeKind.PARTNER_LEAD: "New partner lead",
}


@dataclass(frozen=True)
class Row:
    """One line of a change's difference: what, as it was, as it would be."""

    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Access:
    organisation: Organisation
    providers: list[IdentityProvider]
    partner_leads: list[User]
    candidates: list[User]  # people who could be proposed as partner lead
    pending: list[OrganisationChange]
    decided: list[OrganisationChange]


def organisation(session: Session, viewer: User, organisation_id: str) -> Organisation | None:
    """The organisation, or None if there is none or `viewer` may not see its access (a partner
    lead sees only their own organisation's)."""
    try:
        key = uuid.UUID(organisation_id)
    except ValueError:
        return None
    found = session.get(Organisation, key)
    if found is None:
        return None
    council = {Role.PORTAL_ADMIN, Role.PARTNER_ENGAGEMENT_OFFICER, Role.IG_OFFICER}
    if viewer.has_role(*council) and viewer.organisation.kind == OrganisationKind.COUNCIL:
        return found
    return found if viewer.organisation_id == found.id else None


def access(session: Session, organisation: Organisation) -> Access:
    providers = session.scalars(
        sa.select(IdentityProvider)
        .where(IdentityProvider.organisation_id == organisation.id)
        .order_by(IdentityProvider.display_name)
    )
    people = list(
        session.scalars(
            sa.select(User)
            .options(selectinload(User.role_assignments))
            .where(User.organisation_id == organisation.id)
            .order_by(User.display_name, User.id)
        )
    )
    all_changes = changes.of_organisation(session, organisation)
    return Access(
        organisation=organisation,
        providers=list(providers),
        partner_leads=[
            p for p in people if Role.PARTNER_LEAD in p.roles and p.status == UserStatus.ACTIVE
        ],
        candidates=[
            p
            for p in people
            if Role.PARTNER_LEAD not in p.roles and p.status != UserStatus.SUSPENDED
        ],
        pending=[c for c in all_changes if c.status == ChangeStatus.PENDING],
        decided=[c for c in all_changes if c.status != ChangeStatus.PENDING],
    )


def describe(change: OrganisationChange) -> str:
    """A change in a few words, for lists."""
    proposal = change.proposal
    if change.kind == ChangeKind.IDENTITY_PROVIDER:
        spec = proposal["spec"]
        verb = "Add" if proposal.get("before") is None else "Change"
        return f"{verb} the identity provider {spec['display_name']} ({spec['slug']})"
    if change.kind == ChangeKind.SELF_PROVISIONING:
        return "Turn self-provisioning on"
    if change.kind == ChangeKind.EMAIL_DOMAINS:
        return "Change the email domains"
    return f"Make {proposal.get('name', 'someone')} partner lead"


def difference(change: OrganisationChange) -> list[Row]:
    """What `change` would change, field by field, before and after (as proposed)."""
    proposal = change.proposal
    if change.kind == ChangeKind.IDENTITY_PROVIDER:
        return _provider_rows(proposal)
    if change.kind == ChangeKind.SELF_PROVISIONING:
        return [Row("Self-provisioning", "Off", "On")]
    if change.kind == ChangeKind.EMAIL_DOMAINS:
        return [
            Row("Email domains", _shown(proposal.get("before", [])), _shown(proposal["domains"]))
        ]
    return [Row("Partner lead", "No", f"Yes: {proposal.get('name', '')}")]


def _provider_rows(proposal: dict[str, Any]) -> list[Row]:
    before: dict[str, Any] = proposal.get("before") or {}
    after: dict[str, Any] = proposal["spec"]
    rows = [
        Row(label, _shown(before.get(field)) if before else "None", _shown(after.get(field)))
        for field, label in _LABELS.items()
        if field in after and (not before or before.get(field) != after.get(field))
    ]
    if proposal.get("new_secret"):
        rows.append(Row("Client secret", "As stored", "A new one (never shown)"))
    return rows


def _shown(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "None"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key} = {item}" for key, item in sorted(value.items()))
    return str(value)
