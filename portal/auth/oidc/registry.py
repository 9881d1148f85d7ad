"""The registry of identity providers: saving them, audited, and publishing the portal's
client keys.

Admins change providers on the admin pages, operators script them with `portal idp add` or
load them from a file (portal/auth/oidc/registry_file.py). All three go through
`ProviderSpec` (portal/auth/oidc/provider_spec.py) and `save_provider`, so a provider is
checked the same way however it arrives, and every change is audited.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import RSAKey
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.audit.record import SYSTEM
from portal.auth.oidc.identity import PARTNER_ROLES
from portal.auth.oidc.provider_spec import ProviderSpec, RegistryError, spec_of
from portal.auth.sessions import end_sessions
from portal.crypto.records import RecordCipher
from portal.models import (
    ClientAuthMethod,
    IdentityProvider,
    Organisation,
    OrganisationKind,
    Role,
)
from portal.models.base import utcnow
from portal.onboarding.widening import provider_widening

CLIENT_KEY_ALGORITHM = "RS256"


# What a change to a provider is recorded by name (never the secret), and which of those
# change who may get in (so the provider's open sessions end when they change).
_RULE_FIELDS = frozenset(
    {
        "group_roles",
        "allowed_email_domains",
        "allowed_tenants",
        "allowed_hosted_domains",
        "required_acr_values",
        "require_strong_amr",
        "signing_algorithms",
        "claim_mapping",
    }
)
_AUDITED_FIELDS = (
    "display_name",
    "client_id",
    "client_auth_method",
    "scopes",
    *sorted(_RULE_FIELDS),
    "enabled",
)
# What `apply_spec` copies from the spec as it is (group_roles is stored by role name).
_COPIED_FIELDS = (
    "display_name",
    "issuer",
    "client_id",
    "client_auth_method",
    "scopes",
    "signing_algorithms",
    "claim_mapping",
    "allowed_email_domains",
    "allowed_tenants",
    "allowed_hosted_domains",
    "required_acr_values",
    "require_strong_amr",
    "enabled",
)


def save_provider(
    session: Session,
    cipher: RecordCipher,
    spec: ProviderSpec,
    *,
    client_secret: str | None = None,
    actor: Actor = SYSTEM,
) -> IdentityProvider:
    """Create or update the provider with `spec.slug`, audited in the caller's transaction.

    A client secret is required for the client_secret_* methods when none is stored yet;
    private_key_jwt gets a key pair generated on first save.
    """
    organisation = _organisation(session, spec)
    check_roles_fit(organisation, spec)
    provider = session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == spec.slug))
    _check_shared_issuer(session, spec)
    created = provider is None
    if provider is None:
        provider = IdentityProvider(id=uuid.uuid4(), slug=spec.slug)
        session.add(provider)
        widens = True
    else:
        check_keeps_identity(provider, organisation, spec)
        widens = bool(provider_widening(spec_of(provider), spec))
    was_enabled = not created and provider.enabled
    provider.organisation = organisation
    changed = apply_spec(provider, spec)
    _set_credentials(provider, cipher, spec.client_auth_method, client_secret)
    if widens:
        trust_afresh(provider)
    session.flush()
    ended = 0
    if not created and ends_sessions(was_enabled, spec, changed):
        ended = end_sessions(session, identity_provider_id=provider.id)
    _record_saved(
        session,
        provider,
        created=created,
        changed=changed,
        sessions_ended=ended,
        secret_changed=client_secret is not None,
        actor=actor,
    )
    return provider


def trust_afresh(provider: IdentityProvider) -> None:
    """Who the provider lets in has just widened: newcomers through it wait for approval for
    a while (portal.auth.oidc.identity), and the new configuration is untested."""
    provider.trusted_since = utcnow()
    provider.tested_at = None
    provider.tested_by_id = None


def check_spec(session: Session, spec: ProviderSpec, *, client_secret: str | None) -> None:
    """Raise RegistryError if `save_provider` would refuse `spec`, changing nothing: for a
    change proposed now and saved when a second person approves it."""
    organisation = _organisation(session, spec)
    check_roles_fit(organisation, spec)
    provider = session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == spec.slug))
    _check_shared_issuer(session, spec)
    if provider is not None:
        check_keeps_identity(provider, organisation, spec)
    check_credentials(
        spec.client_auth_method,
        client_secret,
        has_secret=provider is not None and provider.client_secret_enc is not None,
    )


def check_credentials(
    method: ClientAuthMethod, client_secret: str | None, *, has_secret: bool
) -> None:
    """The client secret given (or kept) fits the client authentication method."""
    if method == ClientAuthMethod.PRIVATE_KEY_JWT:
        if client_secret is not None:
            raise RegistryError(
                "private_key_jwt uses the portal's own key pair, not a client secret.",
                field="client_secret",
            )
        return
    if client_secret is not None:
        if len(client_secret) < 16:
            raise RegistryError(
                "The client secret is shorter than 16 characters: check it.",
                field="client_secret",
            )
    elif not has_secret:
        raise RegistryError(
            f"{method.value} needs a client secret: give one.", field="client_secret"
        )


def _organisation(session: Session, spec: ProviderSpec) -> Organisation:
    organisation = session.scalar(
        sa.select(Organisation).where(Organisation.name == spec.organisation)
    )
    if organisation is None:
        raise RegistryError(
            f"There is no organisation called {spec.organisation!r}: add it first.",
            field="organisation",
        )
    return organisation


def check_roles_fit(organisation: Organisation, spec: ProviderSpec) -> None:
    """A council's provider gives only council roles, a partner's only partner roles, and no
    provider makes partner leads: they are made only by an approved partner-lead change, so
    that a group in a directory nobody here approves cannot make one."""
    council = organisation.kind == OrganisationKind.COUNCIL
    misfits = sorted(
        group for group, role in spec.group_roles.items() if (role in PARTNER_ROLES) == council
    )
    if misfits and council:
        raise RegistryError(
            f"A council provider can only give council roles: the groups "
            f"{', '.join(misfits)} map to partner roles.",
            field="group_roles",
        )
    if misfits:
        raise RegistryError(
            f"A partner organisation's provider can only give partner roles: "
            f"the groups {', '.join(misfits)} map to council roles.",
            field="group_roles",
        )
    leads = sorted(group for group, role in spec.group_roles.items() if role == Role.PARTNER_LEAD)
    if leads:
        raise RegistryError(
            f"A provider cannot make partner leads: the groups {', '.join(leads)} map to "
            "partner lead. Propose a partner lead on the organisation's access page instead.",
            field="group_roles",
        )


def check_keeps_identity(
    provider: IdentityProvider, organisation: Organisation, spec: ProviderSpec
) -> None:
    """A stored provider keeps its issuer and its organisation: both decide who its people are."""
    if provider.issuer != spec.issuer:
        raise RegistryError(
            f"The provider {spec.slug!r} keeps its issuer: people are identified by it. Add a "
            "new provider for the new issuer and disable this one.",
            field="issuer",
        )
    if provider.organisation_id != organisation.id:
        raise RegistryError(
            f"The provider {spec.slug!r} belongs to another organisation: a provider cannot move, "
            "because it decides which organisation its people are in.",
            field="organisation",
        )


def apply_spec(provider: IdentityProvider, spec: ProviderSpec) -> list[str]:
    """Copy what `spec` states onto `provider`; the audited fields that changed, sorted."""
    before = {field: getattr(provider, field, None) for field in _AUDITED_FIELDS}
    for field in _COPIED_FIELDS:
        setattr(provider, field, getattr(spec, field))
    provider.group_roles = {group: role.value for group, role in spec.group_roles.items()}
    return sorted(f for f in _AUDITED_FIELDS if before[f] != getattr(provider, f, None))


def ends_sessions(was_enabled: bool, spec: ProviderSpec, changed: list[str]) -> bool:
    """Switching a provider off, or changing who it lets in, ends the sessions it started: an
    admin acting on a compromised provider means its people to be out now."""
    return (was_enabled and not spec.enabled) or bool(set(changed) & _RULE_FIELDS)


def _record_saved(
    session: Session,
    provider: IdentityProvider,
    *,
    created: bool,
    changed: list[str],
    sessions_ended: int,
    secret_changed: bool,
    actor: Actor,
) -> None:
    record_event(
        session,
        AuditAction.IDENTITY_PROVIDER_ADDED if created else AuditAction.IDENTITY_PROVIDER_CHANGED,
        actor=actor,
        object_type="identity_provider",
        object_id=provider.id,
        details={
            "slug": provider.slug,
            "organisation_id": str(provider.organisation_id),
            "client_auth_method": provider.client_auth_method.value,
            "enabled": provider.enabled,
            "secret_changed": secret_changed,
            "sessions_ended": sessions_ended,
            "changed": ",".join(changed) or None,
            "group_roles": ",".join(
                f"{group}={role}" for group, role in sorted(provider.group_roles.items())
            )
            or None,
            "required_acr_values": ",".join(provider.required_acr_values) or None,
            "require_strong_amr": provider.require_strong_amr,
        },
    )


def _check_shared_issuer(session: Session, spec: ProviderSpec) -> None:
    """One issuer may serve several organisations only when each entry pins its own
    directory: Google Workspace schools share https://accounts.google.com and are told apart
    by `hd`; Entra ID's multi-tenant issuers by `tid`. Without such pins, the provider alone
    could not decide which organisation a person is in."""
    others = session.scalars(
        sa.select(IdentityProvider).where(
            IdentityProvider.issuer == spec.issuer, IdentityProvider.slug != spec.slug
        )
    ).all()
    mine = {("tid", t) for t in spec.allowed_tenants} | {
        ("hd", d) for d in spec.allowed_hosted_domains
    }
    for other in others:
        theirs = {("tid", t) for t in other.allowed_tenants} | {
            ("hd", d) for d in other.allowed_hosted_domains
        }
        if not mine or not theirs or mine & theirs:
            raise RegistryError(
                f"The issuer {spec.issuer} is already registered as {other.slug!r}: a shared "
                "issuer needs each entry to allow its own tenants or hosted domains.",
                field="issuer",
            )


def _set_credentials(
    provider: IdentityProvider,
    cipher: RecordCipher,
    method: ClientAuthMethod,
    client_secret: str | None,
) -> None:
    check_credentials(method, client_secret, has_secret=provider.client_secret_enc is not None)
    if method == ClientAuthMethod.PRIVATE_KEY_JWT:
        provider.client_secret_enc = None
        if provider.client_key_enc is None:
            key = RSAKey.generate_key(3072, parameters={"alg": CLIENT_KEY_ALGORITHM, "use": "sig"})
            key.ensure_kid()
            cipher.seal_json(provider, "client_key_enc", key.as_dict(private=True))
            provider.client_public_jwk = key.as_dict(private=False)
        return
    provider.client_key_enc = None
    provider.client_public_jwk = None
    if client_secret is not None:
        cipher.seal_text(provider, "client_secret_enc", client_secret)


def published_keys(session: Session) -> dict[str, Any]:
    """The portal's public client-authentication keys, as a JWKS."""
    rows = session.scalars(
        sa.select(IdentityProvider.client_public_jwk).where(
            IdentityProvider.client_public_jwk.is_not(None), IdentityProvider.enabled.is_(True)
        )
    )
    return {"keys": [dict(jwk) for jwk in rows if jwk]}
