"""The delivery queue as people see it: its figures, the deliveries that need attention, and
an administrator's retry or cancel, each audited in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from portal.audit import Actor, AuditAction, record_event
from portal.connector.payload import (
    AnswerForChildNotOnRequest,
    ChildrenShareAPersonId,
    ChildrenWithoutPersonId,
    SafeCopyFailed,
    SafeCopyPending,
)
from portal.lifecycle import OUTBOX_LIFECYCLE, DomainError, OutboxStatus
from portal.models import Contribution, DelegationRequest, OutboxMessage
from portal.models.base import utcnow


@dataclass(frozen=True)
class QueueFigures:
    pending: int
    oldest_pending_seconds: float  # 0 when nothing is pending
    dead_lettered: int
    delivered: int


def queue_figures(session: Session, now: datetime | None = None) -> QueueFigures:
    counts = dict(
        session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    oldest = session.scalar(
        sa.select(sa.func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING
        )
    )
    age = ((now or utcnow()) - oldest).total_seconds() if oldest else 0.0
    return QueueFigures(
        pending=counts.get(OutboxStatus.PENDING, 0),
        oldest_pending_seconds=max(age, 0.0),
        dead_lettered=counts.get(OutboxStatus.DEAD_LETTERED, 0),
        delivered=counts.get(OutboxStatus.DELIVERED, 0),
    )


def needing_attention(session: Session, limit: int = 200) -> list[OutboxMessage]:
    """Dead-lettered deliveries first, then those still pending, oldest first."""
    order = sa.case((OutboxMessage.status == OutboxStatus.DEAD_LETTERED, 0), else_=1)
    return list(
        session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.status.in_([OutboxStatus.DEAD_LETTERED, OutboxStatus.PENDING]))
            .order_by(order, OutboxMessage.created_at)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery with what identifies it to people: references, never content."""

    message: OutboxMessage
    request_reference: str
    case_reference: str
    organisation: str
    version: int

    @property
    def cancellable(self) -> bool:
        return self.message.status == OutboxStatus.DEAD_LETTERED

    @property
    def explanation(self) -> str | None:
        """What the last failure means and what to do, in plain words, where its code has an
        explanation; the code itself stays on the page too."""
        code = (self.message.last_error or "").partition(":")[0]
        return FAILURE_EXPLANATIONS.get(code)


# The failures an administrator cannot act on from the code alone.
FAILURE_EXPLANATIONS = {
    ChildrenWithoutPersonId.CODE: (
        "A child on this request has no person record in the case management system, or is no "
        "longer listed there under the record the portal knew. Ask the case’s social worker to "
        "have the child recorded there, then retry."
    ),
    AnswerForChildNotOnRequest.CODE: (
        "Some answers are about a child this request does not name, so they cannot be filed on "
        "any child’s record. Cancel this delivery and copy the contribution into the case "
        "management system by hand."
    ),
    ChildrenShareAPersonId.CODE: (
        "Two children on this request have the same person record in the case management "
        "system, so their answers cannot be told apart there. Ask the case’s social worker to "
        "have the records corrected, then retry; or cancel this delivery and copy the "
        "contribution into the case management system by hand."
    ),
    SafeCopyPending.CODE: (
        "A document is still being made safe by the disarm worker (portal disarm), and the "
        "delivery waits for its safe copy: it is tried again by itself. If it keeps waiting, "
        "check that the disarm worker is running."
    ),
    SafeCopyFailed.CODE: (
        "A document could not be made safe (the reason is in brackets), so it has no safe "
        "copy to deliver. The case’s social worker can still download the original after "
        "saying why. Either cancel this delivery and file the document by hand, or have the "
        "portal deliver documents as the partner sent them (set deliver_to_cms to "
        '"original" in the [attachments] settings, which applies to every delivery) and '
        "retry."
    ),
}


def delivery(session: Session, message_id: uuid.UUID) -> DeliveryRow | None:
    """One delivery with its references, or None if there is no such delivery."""
    message = session.get(OutboxMessage, message_id)
    return None if message is None else delivery_rows(session, [message])[0]


def delivery_rows(session: Session, messages: list[OutboxMessage]) -> list[DeliveryRow]:
    """Each delivery with its request, case and partner, loaded in one query."""
    ids = [message.contribution_id for message in messages]
    contributions = {
        contribution.id: contribution
        for contribution in session.scalars(
            sa.select(Contribution)
            .where(Contribution.id.in_(ids))
            .options(
                joinedload(Contribution.request).options(
                    joinedload(DelegationRequest.case),
                    joinedload(DelegationRequest.partner_organisation),
                )
            )
        )
    }
    rows = []
    for message in messages:
        contribution = contributions[message.contribution_id]
        request = contribution.request
        rows.append(
            DeliveryRow(
                message=message,
                request_reference=request.reference,
                case_reference=request.case.cms_reference,
                organisation=request.partner_organisation.name,
                version=contribution.version,
            )
        )
    return rows


class DeliveryRefused(DomainError):
    pass


def retry(session: Session, message_id: uuid.UUID, actor: Actor) -> OutboxMessage:
    """A dead-lettered delivery starts again with a full set of attempts; a pending one waiting
    out its backoff is tried at once."""
    message = _locked(session, message_id)
    previous = message.status
    now = utcnow()
    if previous == OutboxStatus.DEAD_LETTERED:
        OUTBOX_LIFECYCLE.move(message, OutboxStatus.PENDING)
        message.attempts = 0
    elif previous != OutboxStatus.PENDING:
        raise DeliveryRefused("This delivery is finished: there is nothing to retry.")
    elif message.claimed_by is not None and message.next_attempt_at > now:
        raise DeliveryRefused("A worker is sending this delivery now: wait for its outcome.")
    message.next_attempt_at = now
    message.claimed_by = message.claimed_at = None
    _record(session, AuditAction.DELIVERY_RETRIED, message, actor, previous)
    return message


def cancel(session: Session, message_id: uuid.UUID, actor: Actor) -> OutboxMessage:
    """Only a dead-lettered delivery can be cancelled: a pending one may be in a worker's hands."""
    message = _locked(session, message_id)
    previous = message.status
    if previous != OutboxStatus.DEAD_LETTERED:
        raise DeliveryRefused("Only a delivery that has stopped trying can be cancelled.")
    OUTBOX_LIFECYCLE.move(message, OutboxStatus.CANCELLED)
    _record(session, AuditAction.DELIVERY_CANCELLED, message, actor, previous)
    return message


def _locked(session: Session, message_id: uuid.UUID) -> OutboxMessage:
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise DeliveryRefused("There is no such delivery.")
    return message


def _record(
    session: Session,
    action: AuditAction,
    message: OutboxMessage,
    actor: Actor,
    previous: OutboxStatus,
) -> None:
    contribution = session.get_one(Contribution, message.contribution_id)
    session.flush()
    record_event(
        session,
        action,
        actor=actor,
        object_type="contribution",
        object_id=contribution.id,
        case_reference=contribution.request.case.cms_reference,
        details={
            "request": contribution.request.reference,
            "version": contribution.version,
            "previous_status": previous.value,
            "last_error_code": (message.last_error or "").partition(":")[0] or None,
        },
    )
