"""What the admin pages read and change: organisations and their identity providers.

Providers are saved through the registry (`portal.auth.oidc.registry`), the one place that
decides what a provider may be; this module adds the admin's view of them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import Flask
from pydantic import ValidationError
from sqlalchemy.orm import Session, selectinload

from portal.audit import Actor, AuditAction, record_event
from portal.auth.login import actor_for
from portal.auth.oidc.provider_spec import ProviderSpec, RegistryError, problems, spec_of
from portal.auth.oidc.registry import check_spec, save_provider
from portal.auth.sessions import end_sessions
from portal.config import Settings
from portal.crypto.records import RecordCipher
from portal.home import HomeSection, Link, ToDo
from portal.lifecycle import OutboxStatus
from portal.models import (
    ChangeKind,
    ChangeStatus,
    ClientAuthMethod,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    OrganisationStatus,
    OutboxMessage,
    User,
    UserStatus,
)

# What the admin's route modules name, so that they never import the data model themselves.
from portal.models import IdentityProvider as IdentityProvider
from portal.onboarding import changes
from portal.onboarding.changes import ChangeRefused as ChangeRefused
from portal.onboarding.widening import provider_narrowing, provider_widening


@dataclass(frozen=True)
class Problem:
    """Why a provider could not be saved: a ProviderSpec field (or client_secret) and why."""

    field: str
    message: str


def organisations(session: Session) -> list[Organisation]:
    return list(
        session.scalars(
            sa.select(Organisation)
            .options(selectinload(Organisation.identity_providers))
            .order_by(Organisation.name)
        )
    )


def organisation(session: Session, organisation_id: uuid.UUID) -> Organisation | None:
    return session.get(Organisation, organisation_id)


def providers(session: Session) -> list[IdentityProvider]:
    return list(
        session.scalars(
            sa.select(IdentityProvider)
            .join(Organisation)
            .order_by(Organisation.name, IdentityProvider.display_name)
        )
    )


def waiting_provider_changes(session: Session) -> list[OrganisationChange]:
    """Providers proposed, or changes to them, that no second person has decided yet."""
    return list(
        session.scalars(
            sa.select(OrganisationChange)
            .where(
                OrganisationChange.kind == ChangeKind.IDENTITY_PROVIDER,
                OrganisationChange.status == ChangeStatus.PENDING,
            )
            .order_by(OrganisationChange.proposed_at)
        )
    )


def provider(session: Session, slug: str) -> IdentityProvider | None:
    return session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == slug))


def save(
    session: Session,
    cipher: RecordCipher,
    data: dict[str, object],
    *,
    client_secret: str | None,
    actor: Actor,
) -> IdentityProvider | list[Problem]:
    """Validate and save a provider at once (the operator's `portal idp` commands); the
    problems if it cannot be, with nothing changed.

    A refusal part-way through saving (a missing secret, say) rolls the session's transaction
    back, so no half-changed provider is left in it to be flushed by a later query.
    """
    spec = _spec(data)
    if isinstance(spec, list):
        return spec
    try:
        return save_provider(session, cipher, spec, client_secret=client_secret, actor=actor)
    except RegistryError as error:
        session.rollback()
        return [Problem(error.field or "", _sentence(str(error)))]


def save_or_propose(
    session: Session,
    cipher: RecordCipher,
    data: dict[str, object],
    *,
    client_secret: str | None,
    proposer: User,
) -> IdentityProvider | OrganisationChange | list[Problem]:
    """The admin pages' save: at once when the change only narrows who the provider lets in
    (or renames it, or rotates its secret); proposed for a second person's approval when it
    widens, a new provider included. The problems if it cannot be, with nothing changed."""
    spec = _spec(data)
    if isinstance(spec, list):
        return spec
    existing = provider(session, spec.slug)
    try:
        mixed = _mixed(existing, spec)
        if mixed:
            check_spec(session, spec, client_secret=client_secret)  # its problems first
            return mixed
        if existing is None or provider_widening(spec_of(existing), spec):
            organisation = _named(session, spec.organisation)
            return changes.propose_provider(
                session, cipher, organisation, spec, client_secret=client_secret, proposer=proposer
            )
        return save_provider(
            session, cipher, spec, client_secret=client_secret, actor=actor_for(proposer)
        )
    except RegistryError as error:
        session.rollback()
        return [Problem(error.field or "", _sentence(str(error)))]
    except ChangeRefused as refusal:  # its organisation has left, or is suspended
        return [Problem("organisation", _sentence(str(refusal)))]


def _mixed(existing: IdentityProvider | None, spec: ProviderSpec) -> list[Problem]:
    """An edit that both narrows and widens is refused: the narrowing must not wait for a
    second person, and the widening must."""
    if existing is None:
        return []
    before = spec_of(existing)
    narrows = provider_narrowing(before, spec)
    if not narrows or not provider_widening(before, spec):
        return []
    return [
        Problem(
            narrows[0],
            "This change both narrows who the provider lets in and widens it. Save the "
            "narrowing on its own first (switching it off, say, or removing a domain): that "
            "takes effect at once. Then propose the widening separately",
        )
    ]


def _spec(data: dict[str, object]) -> ProviderSpec | list[Problem]:
    try:
        return ProviderSpec.model_validate(data)
    except ValidationError as error:
        return [Problem(field, message) for field, message in problems(error)]


def _named(session: Session, name: str) -> Organisation:
    found = session.scalar(sa.select(Organisation).where(Organisation.name == name))
    if found is None:
        raise RegistryError(
            f"There is no organisation called {name!r}: add it first.", field="organisation"
        )
    return found


def set_enabled(
    session: Session, cipher: RecordCipher, provider: IdentityProvider, enabled: bool
) -> bool:
    """Switch a provider on or off through the registry (audited; off ends its sessions)."""
    if provider.enabled == enabled:
        return False
    spec = spec_of(provider).model_copy(update={"enabled": enabled})
    save_provider(session, cipher, spec)
    return True


def registration_addresses(app: Flask, slug: str = "<slug>") -> dict[str, str]:
    """What an organisation's IT team registers at their provider for the portal."""
    settings: Settings = app.config["PORTAL_SETTINGS"]
    urls = app.url_map.bind("portal.invalid")  # paths only: no request is needed
    # Routing escapes "<" and ">", so a pattern's placeholder is put in afterwards.
    placeholder = "slug-placeholder"

    def address(endpoint: str, **values: str) -> str:
        path = urls.build(endpoint, values or None)
        return settings.service.base_url + path.replace(placeholder, slug)

    return {
        "callback": address("auth.callback", slug=placeholder),
        "back_channel_logout": address("auth.back_channel_logout", slug=placeholder),
        "signed_out": address("auth.signed_out"),
        "jwks": address("auth.jwks"),
    }


def set_self_provisioning(
    session: Session, organisation: Organisation, enabled: bool, *, actor: User
) -> OrganisationChange | bool:
    """Off at once; on proposed for a second person (portal.onboarding.changes)."""
    return changes.set_self_provisioning(session, organisation, enabled, actor=actor)


class OrganisationRefused(Exception):
    """A suspension the rules refuse; the message says why and what to do instead."""


def set_organisation_status(
    session: Session, organisation: Organisation, status: OrganisationStatus, *, actor: Actor
) -> int | None:
    """Suspend an organisation's access (every session of its people ends at once, and none of
    them can sign in) or restore it, audited. How many sessions ended; None if it already was.

    The council itself cannot be suspended: that would lock out the people who undo it.
    """
    if organisation.status == status:
        return None
    if status == OrganisationStatus.SUSPENDED and organisation.kind == OrganisationKind.COUNCIL:
        raise OrganisationRefused(
            f"{organisation.name} is the council: suspend its people or its identity provider "
            "instead."
        )
    previous = organisation.status
    organisation.status = status
    ended = 0
    if status == OrganisationStatus.SUSPENDED:
        people = session.scalars(sa.select(User.id).where(User.organisation_id == organisation.id))
        ended = sum(end_sessions(session, user_id=user_id) for user_id in people.all())
    record_event(
        session,
        AuditAction.ORGANISATION_CHANGED,
        actor=actor,
        object_type="organisation",
        object_id=organisation.id,
        details={
            "status": status.value,
            "previous_status": previous.value,
            "sessions_ended": ended,
        },
    )
    return ended


def rules_summary(provider: IdentityProvider) -> list[str]:
    """The provider's sign-in rules in a few words each, for the list of providers."""
    rules = []
    if provider.required_acr_values:
        rules.append("MFA: acr " + " or ".join(provider.required_acr_values))
    if provider.require_strong_amr:
        rules.append("MFA: amr")
    if provider.allowed_tenants:
        rules.append(f"Entra tenants: {len(provider.allowed_tenants)}")
    if provider.allowed_hosted_domains:
        rules.append("Workspace domains: " + ", ".join(provider.allowed_hosted_domains))
    if provider.allowed_email_domains:
        rules.append("Email domains: " + ", ".join(provider.allowed_email_domains))
    if provider.group_roles:
        rules.append(f"Roles from {len(provider.group_roles)} groups")
    return rules or ["None"]


def provider_key_id(provider: IdentityProvider | None) -> str | None:
    """The key id of the portal's own key that signs this provider's client assertions
    (private_key_jwt), for its IT team to check against what they registered."""
    if provider is None or provider.client_auth_method != ClientAuthMethod.PRIVATE_KEY_JWT:
        return None
    key_id = (provider.client_public_jwk or {}).get("kid")
    return str(key_id) if key_id is not None else None


def _sentence(message: str) -> str:
    # GOV.UK error messages carry no full stop.
    return message.removesuffix(".")


def admin_to_do(session: Session, person: User, today: date) -> HomeSection:
    """The portal admin's home section: deliveries the connector gave up on, and the council's
    people waiting for approval (an admin approves those; a partner organisation's people are
    its partner lead's to approve, and changes a partner lead's or an IG officer's to decide,
    so neither is counted here: the admin cannot act on them)."""
    stopped = session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.DEAD_LETTERED)
    )
    waiting_people = session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.status == UserStatus.PENDING, Organisation.kind == OrganisationKind.COUNCIL)
    )
    return HomeSection(
        heading="Portal administration",
        to_do=[
            ToDo("deliveries to the CMS stopped", stopped or 0, "deliveries.index", urgent=True),
            ToDo(
                "people at the council waiting for your approval",
                waiting_people or 0,
                "people.index",
            ),
        ],
        links=[
            Link("Deliveries to the CMS", "deliveries.index"),
            Link("People", "people.index"),
            Link("Identity providers", "admin.identity_providers"),
            Link("Organisations", "onboarding.index"),
        ],
        all_done="Every delivery is moving, and nobody at the council is waiting for approval.",
    )
