"""Who a verified sign-in is: a user is (issuer, subject), in the provider's organisation.

The provider that authenticated a person decides their organisation; nothing in the token
(an e-mail address at another organisation's domain, say) can move them into another one, nor
move the address the portal e-mails them at out of their organisation's domains.
First sign-in provisions an active account only when the organisation allows it, the e-mail
domain is one the organisation's and the provider's entry both allow, and the provider has been
trusted as it is for at least `NEWCOMERS_WAIT` (a provider added or widened recently might be
someone else's: docs/onboarding.md); otherwise the account waits for approval.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.auth.oidc.errors import SignInFailure
from portal.models import (
    IdentityProvider,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    Role,
    RoleAssignment,
    RoleSource,
    User,
    UserStatus,
)

# Microsoft's tenant for personal accounts (outlook.com and the like): never a workplace.
ENTRA_CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
# `amr` values (RFC 8176) that mean more than a password was used.
STRONG_AMR = frozenset(
    {"mfa", "otp", "hwk", "swk", "sc", "fpt", "face", "iris", "retina", "vbm", "pop"}
)
PARTNER_ROLES = frozenset({Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD})
# How long after a provider was added, or changed so that it lets more people in, everyone who
# first signs in through it waits for approval, whatever self-provisioning says.
NEWCOMERS_WAIT = timedelta(days=30)


class Outcome(enum.Enum):
    SIGNED_IN = "signed_in"
    PROVISIONED = "provisioned"  # a new, active account
    AWAITING_APPROVAL = "awaiting_approval"  # new or still pending: no session


@dataclass(frozen=True)
class Resolution:
    user: User
    outcome: Outcome
    roles_changed: bool = False


def check_assurance(provider: IdentityProvider, claims: dict[str, Any]) -> None:
    """Tenant, hosted domain and MFA rules, from the ID token's own claims only."""
    tid = claims.get("tid")
    if tid == ENTRA_CONSUMER_TENANT:
        raise SignInFailure("consumer_tenant", status=403)
    if provider.allowed_tenants and tid not in provider.allowed_tenants:
        raise SignInFailure("tenant_not_allowed", status=403)
    if provider.allowed_hosted_domains and claims.get("hd") not in provider.allowed_hosted_domains:
        raise SignInFailure("hosted_domain_not_allowed", status=403)
    if provider.required_acr_values and claims.get("acr") not in provider.required_acr_values:
        raise SignInFailure("mfa_required", status=403)
    if provider.require_strong_amr:
        amr = claims.get("amr")
        if not isinstance(amr, list) or STRONG_AMR.isdisjoint(amr):
            raise SignInFailure("mfa_required", status=403)


def resolve_user(
    session: Session,
    provider: IdentityProvider,
    id_token_claims: dict[str, Any],
    userinfo: dict[str, Any],
) -> Resolution:
    check_assurance(provider, id_token_claims)
    if provider.organisation.status != OrganisationStatus.ACTIVE:
        raise SignInFailure("organisation_suspended", status=403)
    # The ID token is authoritative; userinfo only adds claims the token left out.
    claims = {**userinfo, **id_token_claims}
    domains = organisation_domains(provider.organisation)
    user = session.scalar(
        sa.select(User).where(
            User.issuer == provider.issuer, User.subject == id_token_claims["sub"]
        )
    )
    if user is None:
        return _provision(session, provider, id_token_claims["sub"], claims, domains)
    return _refresh(user, provider, claims, domains)


def _refresh(
    user: User, provider: IdentityProvider, claims: dict[str, Any], domains: frozenset[str]
) -> Resolution:
    """A known person signs in again: their address, name and provider roles from the claims."""
    check_may_sign_in(user, provider.organisation)
    user.email = address_to_keep(_email(provider, claims), domains, user.email)
    user.display_name = _display_name(provider, claims, user.email)
    # Always: a role whose mapping was removed from the provider's entry goes too.
    changed = _apply_group_roles(user, _group_roles(provider, claims))
    if user.status == UserStatus.PENDING:
        return Resolution(user, Outcome.AWAITING_APPROVAL, changed)
    user.last_signed_in_at = datetime.now(UTC)
    return Resolution(user, Outcome.SIGNED_IN, changed)


def _provision(
    session: Session,
    provider: IdentityProvider,
    subject: str,
    claims: dict[str, Any],
    domains: frozenset[str],
) -> Resolution:
    """A first sign-in: an account in the provider's organisation, active or awaiting approval."""
    organisation = provider.organisation
    email = address_to_keep(_email(provider, claims), domains, None)
    group_roles = _group_roles(provider, claims)
    roles = first_roles(organisation.kind, group_roles)
    now = datetime.now(UTC)
    active = may_self_provision(provider, email, roles, now)
    user = User(
        issuer=provider.issuer,
        subject=subject,
        organisation=organisation,
        email=email,
        display_name=_display_name(provider, claims, email),
        status=UserStatus.ACTIVE if active else UserStatus.PENDING,
        last_signed_in_at=now if active else None,
    )
    source = RoleSource.IDENTITY_PROVIDER if group_roles else RoleSource.LOCAL
    user.role_assignments = [RoleAssignment(role=role, source=source) for role in sorted(roles)]
    session.add(user)
    session.flush()
    return Resolution(user, Outcome.PROVISIONED if active else Outcome.AWAITING_APPROVAL)


def check_may_sign_in(user: User, organisation: Organisation) -> None:
    if user.organisation_id != organisation.id:
        # Only possible if a provider's issuer were re-registered for another organisation,
        # which the registry refuses; never follow it.
        raise SignInFailure("wrong_issuer", status=403)
    if user.status == UserStatus.SUSPENDED:
        raise SignInFailure("suspended", status=403)


def organisation_domains(organisation: Organisation) -> frozenset[str]:
    """The e-mail domains any of the organisation's provider entries allows."""
    return frozenset(
        domain
        for provider in organisation.identity_providers
        for domain in provider.allowed_email_domains
    )


def address_to_keep(claimed: str | None, domains: frozenset[str], stored: str | None) -> str | None:
    """The address to hold for a person: the claimed one when it is within the organisation's
    domains. A claim outside them (another organisation's, where notifications would then go)
    leaves the stored address as it was; no usable claim leaves none."""
    if claimed is None:
        return None
    return claimed if _domain(claimed) in domains else stored


def first_roles(kind: OrganisationKind, group_roles: set[Role]) -> set[Role]:
    """A newcomer's roles: from their groups, or a partner's contributor role by default."""
    if not group_roles and kind != OrganisationKind.COUNCIL:
        return {Role.PARTNER_CONTRIBUTOR}
    return set(group_roles)


def may_self_provision(
    provider: IdentityProvider, email: str | None, roles: set[Role], now: datetime
) -> bool:
    """Active at once only where the organisation allows it, at one of its own domains that
    the entry allows too, with a role, through a provider trusted as it is for long enough;
    otherwise the newcomer waits for approval."""
    organisation = provider.organisation
    return (
        organisation.self_provisioning
        and email is not None
        and _domain(email) in provider.allowed_email_domains
        and _domain(email) in organisation.email_domains
        and bool(roles)
        and trusted_long_enough(provider, now)
    )


def trusted_long_enough(provider: IdentityProvider, now: datetime) -> bool:
    """Whether the provider has been as it is for `NEWCOMERS_WAIT` (its last widening change
    took effect that long ago)."""
    since = provider.trusted_since
    if since is None:  # not yet saved: never trusted
        return False
    if since.tzinfo is None:  # SQLite hands back naive UTC times
        since = since.replace(tzinfo=UTC)
    return now - since >= NEWCOMERS_WAIT


def _display_name(provider: IdentityProvider, claims: dict[str, Any], email: str | None) -> str:
    name = _claim_text(claims, provider.claim_mapping.get("name", "name"))
    return (name or email or "Unnamed person")[:200]


def _email(provider: IdentityProvider, claims: dict[str, Any]) -> str | None:
    if claims.get("email_verified") is False:
        return None  # an address the provider has not checked is not evidence of anything
    email = _claim_text(claims, provider.claim_mapping.get("email", "email"))
    if not email or "@" not in email or len(email) > 320:
        return None
    return email.strip().lower()


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[1]


def _claim_text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _group_roles(provider: IdentityProvider, claims: dict[str, Any]) -> set[Role]:
    groups = claims.get(provider.claim_mapping.get("groups", "groups"))
    if not isinstance(groups, list):
        return set()
    roles = {
        Role(provider.group_roles[g])
        for g in groups
        if isinstance(g, str) and g in provider.group_roles
    }
    if provider.organisation.kind != OrganisationKind.COUNCIL:
        # A partner's provider can never grant council roles, nor make a partner lead (only
        # an approved partner-lead change does: portal.onboarding.changes).
        roles &= {Role.PARTNER_CONTRIBUTOR}
    else:
        roles -= PARTNER_ROLES  # nor a council's a partner lead's powers
    return roles


def _apply_group_roles(user: User, roles: set[Role]) -> bool:
    """Make the provider-sourced roles exactly `roles`; local assignments stay."""
    before = {(a.role, a.source) for a in user.role_assignments}
    kept = [a for a in user.role_assignments if a.source == RoleSource.LOCAL or a.role in roles]
    held = {a.role for a in kept}
    for role in sorted(roles - held):
        kept.append(RoleAssignment(role=role, source=RoleSource.IDENTITY_PROVIDER))
    user.role_assignments = kept
    return before != {(a.role, a.source) for a in user.role_assignments}
