"""What the onboarding pages read and change: the organisations in the pilot, adding one, and
everything its page shows (never a request's content: only counts)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.domain_names import cleaned, is_domain_name
from portal.lifecycle import RequestStatus
from portal.models import (
    ChangeStatus,
    ChecklistItem,
    DelegationRequest,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    OrganisationStage,
    SharingAgreement,
    User,
)
from portal.onboarding import agreements, checklist, stages
from portal.onboarding.checklist import Checklist
from portal.onboarding.intake import current_agreement
from portal.requests.recipients import OPEN_STATUSES
from portal.settings import OnboardingSettings

# What the onboarding route module names, so that it never imports the data model itself.
__all__ = ["Organisation", "OrganisationKind", "OrganisationStage", "SharingAgreement"]

PARTNER_KINDS = (
    OrganisationKind.SCHOOL,
    OrganisationKind.POLICE,
    OrganisationKind.HEALTH,
    OrganisationKind.OTHER,
)
# Requests the partner may still be asked about: its own to answer, or its answer under review
# (which may come back to it for more information).
UNFINISHED = OPEN_STATUSES | {RequestStatus.SUBMITTED}


class Refused(Exception):
    """Why an organisation could not be added, by form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Summary:
    """One row of the list of organisations."""

    organisation: Organisation
    checklist: Checklist
    pending_changes: int
    review_warning: str | None


@dataclass(frozen=True)
class Overview:
    """The organisation's page."""

    organisation: Organisation
    checklist: Checklist
    agreements: list[SharingAgreement]
    open_requests: int
    pending_changes: int
    review_warning: str | None  # the agreement's review is near, or past
    moves: list[stages.Move]


def parse_domains(text: str) -> list[str]:
    """E-mail domains, one a line or separated by commas or spaces; ValueError names the
    first that is not a domain name."""
    domains = []
    for given in re.split(r"[\s,;]+", text.strip()):
        domain = cleaned(given)
        if not domain:
            continue
        if not is_domain_name(domain):
            raise ValueError(f"{given} is not a domain name, like school.example.org")
        domains.append(domain)
    return list(dict.fromkeys(domains))


def summaries(session: Session, today: date, warning_days: tuple[int, ...]) -> list[Summary]:
    """Every partner organisation with its checklist progress, changes waiting and whether
    its agreement's review is near or past."""
    found = session.scalars(
        sa.select(Organisation)
        .where(Organisation.kind != OrganisationKind.COUNCIL)
        .order_by(Organisation.name)
    )
    pending = _pending_counts(session)
    return [
        Summary(
            organisation,
            checklist.evaluate(session, organisation, today),
            pending.get(organisation.id, 0),
            review_warning(session, organisation, today, warning_days),
        )
        for organisation in found
    ]


def find(session: Session, organisation_id: str) -> Organisation | None:
    """A partner organisation by the id in a URL; None when malformed, absent or the council."""
    try:
        key = uuid.UUID(organisation_id)
    except ValueError:
        return None
    found = session.get(Organisation, key)
    if found is None or found.kind == OrganisationKind.COUNCIL:
        return None
    return found


def overview(
    session: Session, organisation: Organisation, today: date, warning_days: tuple[int, ...]
) -> Overview:
    return Overview(
        organisation=organisation,
        checklist=checklist.evaluate(session, organisation, today),
        agreements=agreements.history(session, organisation),
        open_requests=open_requests(session, organisation),
        pending_changes=_pending_counts(session, organisation.id).get(organisation.id, 0),
        review_warning=review_warning(session, organisation, today, warning_days),
        moves=stages.moves_from(organisation.stage),
    )


def review_window_days(onboarding: OnboardingSettings) -> int:
    """How far ahead a review counts as due: the first of [onboarding] agreement_warning_days'
    reminders, as review_warning and the organisations list use it."""
    return max(onboarding.agreement_warning_days, default=0)


def review_warning(
    session: Session, organisation: Organisation, today: date, warning_days: tuple[int, ...]
) -> str | None:
    """A sentence for the page when the agreement's review is within the warning window or
    past it (then the organisation receives no new requests)."""
    if organisation.stage == OrganisationStage.LEFT:
        return None
    agreement = current_agreement(session, organisation.id)
    if agreement is None:
        return None
    days = (agreement.review_on - today).days
    if days < 0:
        return (
            "Its information-sharing agreement is past its review date: it receives no new "
            "requests until a reviewed agreement is recorded."
        )
    if days <= max(warning_days, default=0):  # as review_window_days
        when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        return (
            f"Its information-sharing agreement is due for review {when}. Record the reviewed "
            "agreement before then, or it will receive no new requests."
        )
    return None


def open_requests(session: Session, organisation: Organisation) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(DelegationRequest)
            .where(
                DelegationRequest.partner_organisation_id == organisation.id,
                DelegationRequest.status.in_(UNFINISHED),
            )
        )
        or 0
    )


def _pending_counts(
    session: Session, organisation_id: uuid.UUID | None = None
) -> dict[uuid.UUID, int]:
    query = (
        sa.select(OrganisationChange.organisation_id, sa.func.count())
        .where(OrganisationChange.status == ChangeStatus.PENDING)
        .group_by(OrganisationChange.organisation_id)
    )
    if organisation_id is not None:
        query = query.where(OrganisationChange.organisation_id == organisation_id)
    return {row[0]: int(row[1]) for row in session.execute(query).all()}


def propose(
    session: Session, name: str, kind: OrganisationKind, domains: list[str], *, actor: Actor
) -> Organisation:
    """Add a partner organisation, proposed for the pilot, audited; Refused if its name is
    taken. Its domains take effect at once: nobody can act for it until an identity provider
    is approved by a second person, who sees them."""
    name = " ".join(name.split())
    if kind == OrganisationKind.COUNCIL:
        raise Refused("kind", "Select a partner's kind: school, police, health or other")
    taken = Refused("name", "An organisation with this name is already in the portal")
    if session.scalar(
        sa.select(Organisation.id).where(sa.func.lower(Organisation.name) == name.lower())
    ):
        raise taken
    organisation = Organisation(
        name=name, kind=kind, stage=OrganisationStage.PROPOSED, email_domains=domains
    )
    try:
        # A double-click, or two officers adding it at once: the name's unique index decides.
        with session.begin_nested():
            session.add(organisation)
            session.flush()
    except IntegrityError:
        raise taken from None
    record_event(
        session,
        AuditAction.ORGANISATION_PROPOSED,
        actor=actor,
        object_type="organisation",
        object_id=organisation.id,
        details={"kind": kind.value, "email_domains": ",".join(domains)},
    )
    return organisation


def move(
    session: Session,
    organisation: Organisation,
    chosen: stages.Move,
    pause_reason: stages.PauseReason | None,
    today: date,
    *,
    actor: Actor,
) -> int:
    """Move the organisation on (stages.StageRefused says why not); sessions ended."""
    context = stages.MoveContext(
        kind=organisation.kind,
        stage=organisation.stage,
        missing=checklist.evaluate(session, organisation, today).missing,
        open_requests=open_requests(session, organisation) if chosen == stages.Move.LEAVE else 0,
        pause_reason=pause_reason,
    )
    return stages.move(
        session,
        organisation,
        chosen,
        context,
        actor=actor,
        recount=lambda: open_requests(session, organisation),
    )


def record_dpia(
    session: Session, organisation: Organisation, reference: str, *, recorder: User, actor: Actor
) -> None:
    checklist.record_item(
        session,
        organisation,
        ChecklistItem.DPIA,
        reference.strip(),
        None,
        recorder=recorder,
        actor=actor,
    )


def record_mfa_decision(
    session: Session,
    organisation: Organisation,
    required: bool,
    reason: str | None,
    *,
    recorder: User,
    actor: Actor,
) -> None:
    checklist.record_item(
        session,
        organisation,
        ChecklistItem.MFA_DECISION,
        checklist.MFA_REQUIRED if required else checklist.MFA_NOT_REQUIRED,
        None if required else (reason or "").strip(),
        recorder=recorder,
        actor=actor,
    )
