"""Two people for anything that widens who can act for a partner: proposing such a change,
and approving, refusing or withdrawing it.

A change is proposed by one person (a portal admin, a partner engagement officer, or a partner
lead naming a colleague) and takes effect only when a second approves it: an active IG officer,
or an active partner lead of the organisation; never its proposer, never the person it would
make partner lead. Approval applies the change in the same transaction, exactly once however
many people press the button at the same moment; a change whose target has changed since it
was proposed is superseded instead (docs/onboarding.md, "Two people"). Deciding is in
`portal.onboarding.decisions`; what each kind of change replaces and does, in
`portal.onboarding.change_effects`.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.auth.login import actor_for
from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.oidc.registry import check_spec
from portal.crypto.records import RecordCipher
from portal.models import (
    ChangeKind,
    ChangeStatus,
    NotificationKind,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    OrganisationStage,
    OrganisationStatus,
    Role,
    RoleAssignment,
    User,
    UserStatus,
)
from portal.models.base import utcnow
from portal.notifications.queue import enqueue_about_organisation
from portal.onboarding import change_effects
from portal.onboarding.widening import (
    domains_widen,
    provider_widening,
    self_provisioning_widens,
)


class ChangeRefused(Exception):
    """The change cannot be proposed or decided; the message says why, as a GOV.UK error."""


# -- proposing ----------------------------------------------------------------------------------


def propose_provider(
    session: Session,
    cipher: RecordCipher,
    organisation: Organisation,
    spec: ProviderSpec,
    *,
    client_secret: str | None,
    proposer: User,
) -> OrganisationChange:
    """A new provider, or a change that widens one, waiting for a second person. The registry
    checks it now (RegistryError), so that what is approved can be saved; a new client secret
    is sealed in the change, never put in its proposal."""
    check_spec(session, spec, client_secret=client_secret)
    before = change_effects.provider_state(session, spec.slug)
    widens = provider_widening(None if before is None else ProviderSpec(**before), spec)
    proposal = {
        "spec": spec.model_dump(mode="json"),
        "before": before,
        "widens": widens,
        "new_secret": client_secret is not None,
    }
    return _propose(
        session,
        organisation,
        ChangeKind.IDENTITY_PROVIDER,
        proposal,
        key=spec.slug,
        proposer=proposer,
        seal=(cipher, client_secret),
    )


def propose_self_provisioning(
    session: Session, organisation: Organisation, *, proposer: User
) -> OrganisationChange:
    if organisation.self_provisioning:
        raise ChangeRefused(f"Self-provisioning is already on for {organisation.name}")
    return _propose(
        session,
        organisation,
        ChangeKind.SELF_PROVISIONING,
        {"self_provisioning": True},
        proposer=proposer,
    )


def propose_domains(
    session: Session, organisation: Organisation, domains: list[str], *, proposer: User
) -> OrganisationChange:
    """The organisation's e-mail domains to become `domains` (some added): a proposal."""
    before = sorted(organisation.email_domains)
    proposal = {"domains": sorted(set(domains)), "before": before}
    return _propose(session, organisation, ChangeKind.EMAIL_DOMAINS, proposal, proposer=proposer)


def propose_partner_lead(session: Session, person: User, *, proposer: User) -> OrganisationChange:
    organisation = person.organisation
    if organisation.kind == OrganisationKind.COUNCIL:
        raise ChangeRefused("Only a partner organisation has partner leads")
    if person.id == proposer.id:
        raise ChangeRefused("You cannot propose yourself as partner lead")
    if person.status == UserStatus.SUSPENDED:
        raise ChangeRefused(f"{person.display_name} is suspended: reinstate them first")
    if Role.PARTNER_LEAD in person.roles:
        raise ChangeRefused(f"{person.display_name} is already a partner lead")
    proposal = {"user_id": str(person.id), "name": person.display_name}
    return _propose(
        session,
        organisation,
        ChangeKind.PARTNER_LEAD,
        proposal,
        key=str(person.id),
        proposer=proposer,
    )


def set_self_provisioning(
    session: Session, organisation: Organisation, enabled: bool, *, actor: User
) -> OrganisationChange | bool:
    """Turn self-provisioning off at once, audited (whether anything changed); turning it on
    widens who can act for the organisation, so that is proposed for a second person."""
    if organisation.self_provisioning == enabled:
        return False
    if self_provisioning_widens(organisation.self_provisioning, enabled):
        return propose_self_provisioning(session, organisation, proposer=actor)
    organisation.self_provisioning = False
    _organisation_changed(session, organisation, actor, self_provisioning=False)
    return True


def set_domains(
    session: Session, organisation: Organisation, domains: list[str], *, actor: User
) -> OrganisationChange | bool:
    """Remove e-mail domains at once, audited (whether anything changed); adding one widens
    who can act for the organisation, so the new list is proposed for a second person."""
    wanted = sorted(set(domains))
    if wanted == sorted(organisation.email_domains):
        return False
    if domains_widen(organisation.email_domains, wanted):
        return propose_domains(session, organisation, wanted, proposer=actor)
    organisation.email_domains = wanted
    _organisation_changed(session, organisation, actor, email_domains=",".join(wanted) or None)
    return True


def _organisation_changed(
    session: Session, organisation: Organisation, actor: User, **details: Any
) -> None:
    record_event(
        session,
        AuditAction.ORGANISATION_CHANGED,
        actor=actor_for(actor),
        object_type="organisation",
        object_id=organisation.id,
        details=details,
    )


def _propose(
    session: Session,
    organisation: Organisation,
    kind: ChangeKind,
    proposal: dict[str, Any],
    *,
    proposer: User,
    key: str = "",
    seal: tuple[RecordCipher, str | None] | None = None,
) -> OrganisationChange:
    refusal = closed_to_changes(organisation)
    if refusal is not None:
        raise ChangeRefused(refusal)
    based_on = change_effects.state_digest(
        change_effects.current_state(session, organisation, kind, key)
    )
    secret = seal[1] if seal else None
    same = _same_pending(session, organisation, kind, proposal, based_on)
    if same is not None and secret is None:
        if same.proposed_by_id != proposer.id:
            raise ChangeRefused(
                f"{same.proposed_by.display_name} already proposed this change: it is waiting "
                "for approval"
            )
        return same  # a double-click: one proposal
    change = OrganisationChange(
        id=uuid.uuid4(),
        organisation=organisation,
        kind=kind,
        status=ChangeStatus.PENDING,
        proposal=proposal,
        based_on=based_on,
        proposed_by_id=proposer.id,
        proposed_at=utcnow(),
    )
    session.add(change)
    if seal is not None and secret is not None:
        seal[0].seal_text(change, "client_secret_enc", secret)
    session.flush()
    record_event(
        session,
        AuditAction.CHANGE_PROPOSED,
        actor=actor_for(proposer),
        object_type="organisation_change",
        object_id=change.id,
        details=details_of(change),
    )
    enqueue_about_organisation(
        session,
        NotificationKind.CHANGE_AWAITING_APPROVAL,
        approvers(session, change),
        organisation.id,
    )
    return change


def closed_to_changes(organisation: Organisation) -> str | None:
    """Why nothing may widen who can act for `organisation` now, or None: it has left the
    pilot, or is suspended (narrowing it is still done at once)."""
    if organisation.stage == OrganisationStage.LEFT:
        return f"{organisation.name} has left the pilot: who can act for it cannot be widened"
    if organisation.status == OrganisationStatus.SUSPENDED:
        return f"{organisation.name} is suspended: reinstate it before widening who can act for it"
    return None


def _same_pending(
    session: Session,
    organisation: Organisation,
    kind: ChangeKind,
    proposal: dict[str, Any],
    based_on: str,
) -> OrganisationChange | None:
    pending = session.scalars(
        sa.select(OrganisationChange).where(
            OrganisationChange.organisation_id == organisation.id,
            OrganisationChange.kind == kind,
            OrganisationChange.status == ChangeStatus.PENDING,
            OrganisationChange.based_on == based_on,
        )
    )
    return next((change for change in pending if change.proposal == proposal), None)


def approvers(session: Session, change: OrganisationChange) -> list[uuid.UUID]:
    """Who is asked to decide `change`: the organisation's active partner leads, or if it has
    none (or they are all ineligible), the active IG officers."""
    leads = _active_with(session, Role.PARTNER_LEAD, change.organisation_id)
    chosen = [person for person in leads if refusal_to_decide(person, change) is None]
    if not chosen:
        officers = _active_with(session, Role.IG_OFFICER, None)
        chosen = [person for person in officers if refusal_to_decide(person, change) is None]
    return [person.id for person in chosen]


def _active_with(session: Session, role: Role, organisation_id: uuid.UUID | None) -> list[User]:
    query = (
        sa.select(User)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role == role, User.status == UserStatus.ACTIVE)
        .order_by(User.id)
    )
    if organisation_id is not None:
        query = query.where(User.organisation_id == organisation_id)
    return list(session.scalars(query).unique())


# -- who decides --------------------------------------------------------------------------------


def refusal_to_decide(person: User, change: OrganisationChange) -> str | None:
    """Why `person` may not approve or refuse `change`, or None if they may."""
    if change.proposed_by_id == person.id:
        return "You proposed this change: someone else must approve or refuse it"
    if change.kind == ChangeKind.PARTNER_LEAD and change.proposal.get("user_id") == str(person.id):
        return "This change would make you partner lead: someone else must decide it"
    if not person.is_active:
        return "You cannot decide changes"
    deciding = _deciding_roles(person, change)
    if not deciding:
        return "Only the organisation’s partner lead or an IG officer can decide this change"
    if all(grant.granted_by_id == change.proposed_by_id for grant in deciding):
        # Otherwise an admin could approve their own change through an account they approved
        # or gave the role to: the second person must not owe their say to the first.
        return (
            "The person who proposed this change gave you the role you would decide it with: "
            "someone else must approve or refuse it"
        )
    return None


def decidable_by(person: User) -> sa.ColumnElement[bool]:
    """refusal_to_decide as SQL, for counting: the changes `person` may approve or refuse."""
    if not person.is_active:
        return sa.false()
    proposer = OrganisationChange.proposed_by_id
    not_theirs = proposer != person.id
    not_about_them = sa.or_(
        OrganisationChange.kind != ChangeKind.PARTNER_LEAD,
        OrganisationChange.proposal["user_id"].as_string().is_(None),
        OrganisationChange.proposal["user_id"].as_string() != str(person.id),
    )
    # Some grant that lets them decide the change and that its proposer did not give them.
    owed_elsewhere = [
        sa.and_(
            sa.true()
            if grant.role == Role.IG_OFFICER
            else OrganisationChange.organisation_id == person.organisation_id,
            sa.true() if grant.granted_by_id is None else proposer != grant.granted_by_id,
        )
        for grant in person.role_assignments
        if grant.role in (Role.IG_OFFICER, Role.PARTNER_LEAD)
    ]
    return sa.and_(not_theirs, not_about_them, sa.or_(sa.false(), *owed_elsewhere))


def _deciding_roles(person: User, change: OrganisationChange) -> list[RoleAssignment]:
    """The person's role grants that would let them decide `change`: IG officer anywhere,
    partner lead of the change's organisation."""
    own_organisation = person.organisation_id == change.organisation_id
    return [
        grant
        for grant in person.role_assignments
        if grant.role == Role.IG_OFFICER or (grant.role == Role.PARTNER_LEAD and own_organisation)
    ]


def may_see(person: User, change: OrganisationChange) -> bool:
    """IG officers see every change; a partner lead their own organisation's; anyone their own."""
    if change.proposed_by_id == person.id or person.has_role(Role.IG_OFFICER):
        return True
    return person.has_role(Role.PARTNER_LEAD) and person.organisation_id == change.organisation_id


def details_of(change: OrganisationChange, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "organisation_id": str(change.organisation_id),
        "kind": change.kind.value,
        **extra,
    }
    if change.kind == ChangeKind.IDENTITY_PROVIDER:
        details["provider"] = change.proposal["spec"]["slug"]
        details["widens"] = ",".join(change.proposal.get("widens", [])) or None
    elif change.kind == ChangeKind.PARTNER_LEAD:
        details["user_id"] = change.proposal["user_id"]
    elif change.kind == ChangeKind.EMAIL_DOMAINS:
        details["domains"] = ",".join(change.proposal["domains"]) or None
    return details


# -- reading ------------------------------------------------------------------------------------


def find(session: Session, viewer: User, change_id: str) -> OrganisationChange | None:
    """The change, or None when there is none or `viewer` may not see it (alike from outside)."""
    try:
        key = uuid.UUID(change_id)
    except ValueError:
        return None
    change = session.get(OrganisationChange, key)
    if change is None or not may_see(viewer, change):
        return None
    return change


def waiting_for(session: Session, viewer: User) -> list[OrganisationChange]:
    """Pending changes `viewer` may see: every organisation's for an IG officer, their own
    organisation's for a partner lead, and those they proposed; oldest first."""
    query = sa.select(OrganisationChange).where(OrganisationChange.status == ChangeStatus.PENDING)
    if not viewer.has_role(Role.IG_OFFICER):
        query = query.where(
            sa.or_(
                OrganisationChange.organisation_id == viewer.organisation_id,
                OrganisationChange.proposed_by_id == viewer.id,
            )
        )
    found = session.scalars(query.order_by(OrganisationChange.proposed_at))
    return [change for change in found if may_see(viewer, change)]


def of_organisation(session: Session, organisation: Organisation) -> list[OrganisationChange]:
    """Every change proposed for `organisation`, newest first."""
    return list(
        session.scalars(
            sa.select(OrganisationChange)
            .where(OrganisationChange.organisation_id == organisation.id)
            .order_by(OrganisationChange.proposed_at.desc())
        )
    )
