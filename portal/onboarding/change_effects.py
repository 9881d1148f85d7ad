"""What each kind of change to an organisation is about, and what approving it does.

`state_digest` fingerprints the thing a change replaces, as it is now: a change proposed when
it was one way is superseded, never applied, if it is another way by the time of approval.
`apply` makes an approved change true through the same code that makes it true by hand
(the provider registry, the organisation's settings, the person's roles), audited.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.auth.oidc.provider_spec import ProviderSpec, spec_of
from portal.auth.oidc.registry import save_provider
from portal.crypto.records import RecordCipher
from portal.models import (
    ChangeKind,
    IdentityProvider,
    Organisation,
    OrganisationChange,
    Role,
    RoleAssignment,
    RoleSource,
    User,
    UserStatus,
)


def provider_state(session: Session, slug: str) -> dict[str, Any] | None:
    """The stored provider `slug` as its ProviderSpec's JSON, or None if there is none."""
    found = session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == slug))
    return None if found is None else spec_of(found).model_dump(mode="json")


def current_state(session: Session, organisation: Organisation, kind: ChangeKind, key: str) -> Any:
    """What a change of `kind` would replace, as it is now; `key` names a provider's slug or
    a person's id."""
    if kind == ChangeKind.IDENTITY_PROVIDER:
        return _provider_fingerprint(session, key)
    if kind == ChangeKind.SELF_PROVISIONING:
        return organisation.self_provisioning
    if kind == ChangeKind.EMAIL_DOMAINS:
        return sorted(organisation.email_domains)
    person = session.get(User, uuid.UUID(key))
    if person is None:
        return None
    return {
        "organisation_id": str(person.organisation_id),
        "status": person.status.value,
        "roles": sorted(role.value for role in person.roles),
    }


def _provider_fingerprint(session: Session, slug: str) -> dict[str, Any] | None:
    """The provider's settings and a digest of its sealed client secret (freshly sealed each
    time it is set, so any rotation changes it): a change proposed before an emergency
    rotation is superseded, never allowed to put the old or its own secret back. The digest
    goes into the fingerprint only, never into a proposal."""
    found = session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == slug))
    if found is None:
        return None
    sealed = found.client_secret_enc
    secret = None if sealed is None else hashlib.sha256(sealed).hexdigest()
    return {"spec": spec_of(found).model_dump(mode="json"), "secret": secret}


def lock_target(session: Session, change: OrganisationChange) -> None:
    """Lock the row a change would write besides the organisation's (the provider, or the
    person), so that a narrowing made meanwhile (a provider switched off, the person suspended)
    is either already committed, and seen by the fingerprint, or waits and comes after."""
    key = key_of(change)
    if change.kind == ChangeKind.IDENTITY_PROVIDER:
        query = sa.select(IdentityProvider.id).where(IdentityProvider.slug == key)
    elif change.kind == ChangeKind.PARTNER_LEAD:
        query = sa.select(User.id).where(User.id == uuid.UUID(key))
    else:
        return  # the organisation's own row, locked already
    session.execute(query.with_for_update())


def state_digest(state: Any) -> str:
    encoded = json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def key_of(change: OrganisationChange) -> str:
    """The provider's slug or the person's id a change is about ("" for the organisation)."""
    if change.kind == ChangeKind.IDENTITY_PROVIDER:
        return str(change.proposal["spec"]["slug"])
    if change.kind == ChangeKind.PARTNER_LEAD:
        return str(change.proposal["user_id"])
    return ""


def apply(
    session: Session, cipher: RecordCipher, change: OrganisationChange, *, actor: Actor
) -> None:
    """Make the approved `change` true, with its own audit event (RegistryError if the
    registry refuses a provider now)."""
    organisation = change.organisation
    if change.kind == ChangeKind.IDENTITY_PROVIDER:
        spec = ProviderSpec.model_validate(change.proposal["spec"])
        secret = cipher.open_text(change, "client_secret_enc")
        save_provider(session, cipher, spec, client_secret=secret, actor=actor)
        change.client_secret_enc = None  # in the provider's own record now; not kept twice
        return
    if change.kind == ChangeKind.PARTNER_LEAD:
        _make_partner_lead(session, change, actor=actor)
        return
    details: dict[str, Any]
    if change.kind == ChangeKind.SELF_PROVISIONING:
        organisation.self_provisioning = True
        details = {"self_provisioning": True}
    else:
        organisation.email_domains = sorted(change.proposal["domains"])
        details = {"email_domains": ",".join(organisation.email_domains) or None}
    record_event(
        session,
        AuditAction.ORGANISATION_CHANGED,
        actor=actor,
        object_type="organisation",
        object_id=organisation.id,
        details={**details, "change_id": str(change.id)},
    )


def _make_partner_lead(session: Session, change: OrganisationChange, *, actor: Actor) -> None:
    person = session.get(User, uuid.UUID(change.proposal["user_id"]))
    if person is None:  # the digest check found them as proposed: never
        raise LookupError("the person a partner-lead change is about has gone")
    before = person.roles
    if Role.PARTNER_LEAD not in before:
        person.role_assignments = [
            *person.role_assignments,
            RoleAssignment(
                role=Role.PARTNER_LEAD,
                source=RoleSource.LOCAL,
                granted_by_id=change.proposed_by_id,
            ),
        ]
    was_pending = person.status == UserStatus.PENDING
    if was_pending:
        person.status = UserStatus.ACTIVE
    record_event(
        session,
        AuditAction.USER_APPROVED if was_pending else AuditAction.ROLES_CHANGED,
        actor=actor,
        object_type="user",
        object_id=person.id,
        details={
            "organisation_id": str(person.organisation_id),
            "source": RoleSource.LOCAL.value,
            "roles": ",".join(sorted(role.value for role in person.roles)),
            "added": Role.PARTNER_LEAD.value,
            "change_id": str(change.id),
        },
    )
