"""Issuing, revoking, extending and routing requests, and finding them: each change audited
in the caller's transaction. The routes call these; nothing here knows about HTTP."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import notifications, races
from portal.audit import Actor, AuditAction, record_event
from portal.crypto.records import RecordCipher
from portal.crypto.shredding import shred_data_keys
from portal.form_fields import too_far_ahead
from portal.lifecycle import (
    CONTRIBUTION_LIFECYCLE,
    REQUEST_LIFECYCLE,
    ContributionStatus,
    OutboxStatus,
    RequestStatus,
)
from portal.models import (
    Case,
    Child,
    Contribution,
    DelegationRequest,
    Organisation,
    OutboxMessage,
    User,
)
from portal.onboarding.intake import accepting_requests
from portal.requests.access import council_may_work_on
from portal.requests.child_identity import gaps_when_issued
from portal.requests.recipients import OPEN_STATUSES, partner_people
from portal.uk_time import UK, end_of_uk_day, uk_today

# Crockford's base32 without the letters people misread: short, unguessable, not a sequence.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class RequestRefused(Exception):
    """The request cannot be made or changed as asked; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class NewRequest:
    case_id: uuid.UUID
    child_ids: tuple[uuid.UUID, ...]
    partner_organisation_id: uuid.UUID
    named_recipient_id: uuid.UUID | None
    form_template: str
    form_template_version: int
    lawful_basis: str
    purpose: str
    message: str | None
    due_on: date
    expires_on: date


def new_reference() -> str:
    return "DR-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def partners(session: Session, today: date) -> list[Organisation]:
    """Organisations a request may go to: live partners with a sharing agreement in force."""
    return accepting_requests(session, today)


def issue(
    session: Session,
    cipher: RecordCipher,
    worker: User,
    actor: Actor,
    new: NewRequest,
    police_identifiers: Iterable[str] = (),
) -> DelegationRequest:
    today = uk_today()
    case = session.get(Case, new.case_id)
    if case is None or not council_may_work_on(worker, case.team_id):
        raise RequestRefused("case", "The case is no longer there: look it up again")
    children = chosen_children(case, new.child_ids)
    # Shared-locked while the request is made: an organisation leaving the pilot at the same
    # moment waits, then sees this request open and stays (portal/onboarding/stages.py).
    partner = session.get(Organisation, new.partner_organisation_id, with_for_update={"read": True})
    if partner is None or partner not in partners(session, today):
        raise RequestRefused(
            "partner",
            "Select an organisation that is live in the pilot, with an agreement in force",
        )
    if new.named_recipient_id is not None and new.named_recipient_id not in {
        person.id for person in partner_people(session, [partner.id])
    }:
        raise RequestRefused("named_recipient", "Select someone who works at that organisation")
    check_issue_dates(new.due_on, new.expires_on, today)
    request = new_request(case, children, partner, worker, new, datetime.now(UTC))
    cipher.seal_text(request, "purpose_enc", new.purpose)
    cipher.seal_text(request, "message_enc", new.message or None)
    session.add(request)
    session.flush()
    gaps = gaps_when_issued(children, partner.kind, police_identifiers)
    _record_issued(session, actor, request, new, gaps)
    notifications.notify_partner_of_new_request(session, request)
    return request


def chosen_children(case: Case, child_ids: tuple[uuid.UUID, ...]) -> list[Child]:
    """The case's children the request is about: every one chosen must be on the case, and
    still listed there by the CMS (one it no longer lists may be under a stale person id)."""
    chosen = set(child_ids)
    children = [child for child in case.children if child.id in chosen]
    if not children or len(children) != len(chosen):
        raise RequestRefused("children", "Select the children the request is about")
    if any(child.delisted_at is not None for child in children):
        raise RequestRefused(
            "children",
            "A child you selected is no longer on this case in the case management system: "
            "select from the children listed",
        )
    return children


def check_issue_dates(due_on: date, expires_on: date, today: date) -> None:
    if due_on < today:
        raise RequestRefused("due_on", "The due date must be today or in the future")
    if expires_on < due_on:
        raise RequestRefused("expires_on", "The request must not end before it is due")


def new_request(
    case: Case,
    children: list[Child],
    partner: Organisation,
    worker: User,
    new: NewRequest,
    now: datetime,
) -> DelegationRequest:
    """The issued request, not yet sealed or added: its free text is sealed by the caller."""
    return DelegationRequest(
        id=uuid.uuid4(),
        reference=new_reference(),
        case=case,
        partner_organisation=partner,
        named_recipient_id=new.named_recipient_id,
        requested_by_id=worker.id,
        form_template=new.form_template,
        form_template_version=new.form_template_version,
        lawful_basis=new.lawful_basis,
        status=RequestStatus.ISSUED,
        due_on=new.due_on,
        expires_at=end_of_uk_day(new.expires_on),
        issued_at=now,
        children=children,
    )


def _record_issued(
    session: Session,
    actor: Actor,
    request: DelegationRequest,
    new: NewRequest,
    gaps: dict[str, int],
) -> None:
    # The sharing decision: who, what, why and on what basis; and how many of the children
    # the worker was warned could not be filed in the CMS or matched on an identifier.
    record_event(
        session,
        AuditAction.REQUEST_ISSUED,
        actor=actor,
        object_type="delegation_request",
        object_id=request.reference,
        case_reference=request.case.cms_reference,
        details={
            "partner_organisation_id": str(request.partner_organisation.id),
            "named_recipient_id": str(new.named_recipient_id) if new.named_recipient_id else None,
            "form_template": new.form_template,
            "form_template_version": new.form_template_version,
            "lawful_basis": new.lawful_basis,
            "children": len(request.children),
            "due_on": new.due_on.isoformat(),
            "expires_on": new.expires_on.isoformat(),
            **gaps,
        },
    )


CHANGED_MEANWHILE = "This request changed a moment ago: check it and try again"


def revoke(
    session: Session, cipher: RecordCipher, request: DelegationRequest, actor: Actor, reason: str
) -> None:
    """Withdraw the request, destroying any draft. The partner saving, confirming or sending
    at the same moment wins or loses as a whole: if it went first, RequestRefused."""
    with races.one_at_a_time(session, RequestRefused("reason", CHANGED_MEANWHILE)):
        REQUEST_LIFECYCLE.move(request, RequestStatus.REVOKED)
        request.closed_at = datetime.now(UTC)
        discard_draft(session, request)
        cipher.seal_text(request, "closing_reason_enc", reason)
        # The team that withdrew it, as it was then: what the partner's page names.
        withdrawer = session.get(User, actor.user_id) if actor.user_id else None
        team_id = withdrawer.team_id if withdrawer is not None else None
        record_event(
            session,
            AuditAction.REQUEST_REVOKED,
            actor=actor,
            object_type="delegation_request",
            object_id=request.reference,
            case_reference=request.case.cms_reference,
            details={"team_id": str(team_id)} if team_id else None,
        )
        # As the withdraw form promises: whoever at the partner had opened it is told.
        notifications.notify_partner_of_withdrawal(session, request)


def discard_draft(session: Session, request: DelegationRequest) -> None:
    """The partner loses access at once, and their unsent draft is destroyed with it."""
    draft = session.scalar(
        sa.select(Contribution).where(
            Contribution.request_id == request.id,
            Contribution.status == ContributionStatus.DRAFT,
        )
    )
    if draft is not None:
        CONTRIBUTION_LIFECYCLE.move(draft, ContributionStatus.DISCARDED)
        draft.answers_enc = None
        # Its documents too: destroying their data keys makes the stored files unreadable
        # (the next retention run deletes the files themselves).
        keys = {a.data_key_id for a in draft.attachments if a.data_key_id is not None}
        shred_data_keys(session, keys, datetime.now(UTC))


def expire_lapsed(session: Session, now: datetime | None = None) -> list[str]:
    """Close open requests past their closing date and destroy their drafts; returns their
    references. Partners already cannot see them (access checks the time); this makes it so."""
    now = now or datetime.now(UTC)
    lapsed = session.scalars(
        sa.select(DelegationRequest)
        .where(DelegationRequest.status.in_(OPEN_STATUSES), DelegationRequest.expires_at <= now)
        .with_for_update(skip_locked=True, of=DelegationRequest)
    ).all()
    for request in lapsed:
        REQUEST_LIFECYCLE.move(request, RequestStatus.EXPIRED)
        request.closed_at = now
        discard_draft(session, request)
        record_event(
            session,
            AuditAction.REQUEST_EXPIRED,
            object_type="delegation_request",
            object_id=request.reference,
            case_reference=request.case.cms_reference,
        )
    return [request.reference for request in lapsed]


def extend(
    session: Session, request: DelegationRequest, actor: Actor, due_on: date, expires_on: date
) -> None:
    if request.status not in OPEN_STATUSES:
        raise RequestRefused("due_on", "Only an open request can be given more time")
    if due_on < uk_today():
        raise RequestRefused("due_on", "The due date must be today or in the future")
    if expires_on < due_on:
        raise RequestRefused("expires_on", "The request must not end before it is due")
    if too_late := too_far_ahead(expires_on, "new closing date"):
        raise RequestRefused("expires_on", too_late)
    with races.one_at_a_time(session, RequestRefused("due_on", CHANGED_MEANWHILE)):
        request.due_on = due_on
        request.expires_at = end_of_uk_day(expires_on)
        record_event(
            session,
            AuditAction.REQUEST_EXTENDED,
            actor=actor,
            object_type="delegation_request",
            object_id=request.reference,
            case_reference=request.case.cms_reference,
            details={"due_on": due_on.isoformat(), "expires_on": expires_on.isoformat()},
        )
        notifications.reschedule_reminders(session, request)


def route(session: Session, request: DelegationRequest, actor: Actor, colleague_id: str) -> None:
    """Pass the request to a colleague at the partner (by their user id, as the form gives
    it): someone at the same organisation who may answer. Only while the request is open."""
    if request.status not in OPEN_STATUSES:
        raise RequestRefused("colleague", "This request is closed: there is nothing to pass on")
    people = partner_people(session, [request.partner_organisation_id])
    colleague = next((person for person in people if str(person.id) == colleague_id), None)
    if colleague is None:
        raise RequestRefused("colleague", "Select someone in your organisation")
    already_theirs = request.named_recipient_id == colleague.id
    with races.one_at_a_time(session, RequestRefused("colleague", CHANGED_MEANWHILE)):
        request.named_recipient_id = colleague.id
        record_event(
            session,
            AuditAction.REQUEST_ROUTED,
            actor=actor,
            object_type="delegation_request",
            object_id=request.reference,
            case_reference=request.case.cms_reference,
            details={"named_recipient_id": str(colleague.id)},
        )
        # A lead taking it on themselves needs no e-mail, nor does someone it is already with.
        if colleague.id != actor.user_id and not already_theirs:
            notifications.notify_colleague_passed(session, request, colleague.id)


@dataclass(frozen=True)
class Delivery:
    """Where an accepted version stands on its way into the CMS, as council staff see it:
    never the delivery's error, which is for the administrator."""

    status: OutboxStatus
    cms_record_id: str | None
    delivered_on: date | None  # the UK day


def delivery_of(session: Session, request: DelegationRequest) -> Delivery | None:
    """The delivery of the request's accepted version; None until a version is accepted."""
    message = session.scalar(
        sa.select(OutboxMessage)
        .join(Contribution, Contribution.id == OutboxMessage.contribution_id)
        .where(Contribution.request_id == request.id)
        .order_by(Contribution.version.desc())
        .limit(1)
    )
    if message is None:
        return None
    delivered = message.delivered_at
    return Delivery(
        status=message.status,
        cms_record_id=message.cms_record_id,
        delivered_on=delivered.astimezone(UK).date() if delivered else None,
    )


def children_of(request: DelegationRequest) -> list[Child]:
    return sorted(request.children, key=lambda child: child.position)
