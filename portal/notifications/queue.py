"""Queueing e-mails in the caller's transaction, and the reminders the sender schedules.

A queued notification is a kind, a person and a request: the words and the address are found
when it is sent. Enqueueing is idempotent: the table holds one notification of a kind per
person per request, and a duplicate is ignored (or, for the news that can happen again — a
new submission, another return — a notification already sent is queued once more).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.models import DelegationRequest, Notification, NotificationKind, NotificationStatus
from portal.models.base import utcnow
from portal.requests.recipients import OPEN_STATUSES, partner_people, partners_who_opened
from portal.uk_time import UK

REMINDER_KINDS = frozenset({NotificationKind.REQUEST_DUE_SOON, NotificationKind.REQUEST_OVERDUE})
_TABLE = cast(sa.Table, Notification.__table__)


def enqueue(
    session: Session,
    kind: NotificationKind,
    recipient_ids: Iterable[uuid.UUID],
    request: DelegationRequest,
    *,
    again: bool = False,
) -> int:
    """Queue one e-mail of `kind` about `request` to each recipient; returns how many were queued.

    A recipient who already has one of this kind about this request is skipped, even when
    another transaction queued it a moment ago. With `again`, one that was already sent (or
    failed) is queued once more; one still waiting is left alone, as it will carry the news.
    """
    session.flush()  # the request's row first: these statements bypass the unit of work
    now = utcnow()
    queued = 0
    for recipient_id in dict.fromkeys(recipient_ids):  # each person once, in order
        if again:
            queued += _queue_again(session, kind, recipient_id, request.id, now)
        statement = _insert_ignoring_duplicates(session).values(
            id=uuid.uuid4(),
            kind=kind,
            recipient_id=recipient_id,
            request_id=request.id,
            status=NotificationStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        queued += len(session.execute(statement.returning(_TABLE.c.id)).all())
    return queued


def enqueue_about_organisation(
    session: Session,
    kind: NotificationKind,
    recipient_ids: Iterable[uuid.UUID],
    organisation_id: uuid.UUID,
) -> int:
    """Queue one e-mail of `kind` about an organisation (not a request) to each recipient:
    an agreement due for review, a change waiting for approval. Callers say when it is due
    (each of these is news once); returns how many were queued."""
    now = utcnow()
    rows = [
        Notification(
            id=uuid.uuid4(),
            kind=kind,
            recipient_id=recipient_id,
            organisation_id=organisation_id,
            status=NotificationStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for recipient_id in dict.fromkeys(recipient_ids)
    ]
    session.add_all(rows)
    return len(rows)


def notify_partner_of_new_request(session: Session, request: DelegationRequest) -> int:
    """A request was issued: tell its named recipient, or everyone who may answer it."""
    return enqueue(
        session, NotificationKind.REQUEST_ISSUED, partner_recipients(session, request), request
    )


def notify_partner_of_withdrawal(session: Session, request: DelegationRequest) -> int:
    """The council withdrew the request: tell each person at the partner who had opened it
    (someone may be part way through answering), and no one else."""
    return enqueue(
        session, NotificationKind.REQUEST_WITHDRAWN, partners_who_opened(session, request), request
    )


def notify_colleague_passed(
    session: Session, request: DelegationRequest, colleague_id: uuid.UUID
) -> int:
    """A partner lead passed the request to a colleague: tell the colleague, each time."""
    return enqueue(session, NotificationKind.REQUEST_PASSED, [colleague_id], request, again=True)


def notify_worker_of_submission(session: Session, request: DelegationRequest) -> int:
    """A partner submitted (or resubmitted) an answer: tell the social worker who asked."""
    return enqueue(
        session,
        NotificationKind.CONTRIBUTION_SUBMITTED,
        [request.requested_by_id],
        request,
        again=True,
    )


def notify_workers_child_not_known(session: Session, request: DelegationRequest) -> int:
    """The partner knows none of the children and the request has closed: tell the social
    worker who asked, and the case's allocated worker if that is someone else (the sender
    checks, when it sends, that each may open the request; each is queued once)."""
    recipients = [request.requested_by_id]
    if request.case.allocated_worker_id is not None:
        recipients.append(request.case.allocated_worker_id)
    return enqueue(session, NotificationKind.CHILD_NOT_KNOWN, recipients, request)


def notify_partner_returned(
    session: Session, request: DelegationRequest, submitter_id: uuid.UUID
) -> int:
    """The social worker returned an answer for more information: tell whoever submitted it."""
    return enqueue(
        session, NotificationKind.CONTRIBUTION_RETURNED, [submitter_id], request, again=True
    )


def notify_partner_accepted(
    session: Session, request: DelegationRequest, submitter_id: uuid.UUID
) -> int:
    """The social worker accepted an answer: tell whoever submitted it."""
    return enqueue(session, NotificationKind.CONTRIBUTION_ACCEPTED, [submitter_id], request)


def reschedule_reminders(session: Session, request: DelegationRequest) -> int:
    """The due date moved (an extension, or a return with a new date): forget the request's
    reminders, so that the sender schedules them again against the new date. Returns how many
    were forgotten; the audit trail keeps the ones already sent."""
    statement = (
        sa.delete(_TABLE)
        .where(
            _TABLE.c.request_id == request.id,
            _TABLE.c.kind.in_(REMINDER_KINDS),
        )
        .returning(_TABLE.c.id)
    )
    session.flush()
    return len(session.execute(statement).all())


def partner_recipients(session: Session, request: DelegationRequest) -> list[uuid.UUID]:
    """The named recipient, or every active person at the partner who can answer requests."""
    if request.named_recipient_id is not None:
        return [request.named_recipient_id]
    people = partner_people(session, [request.partner_organisation_id])
    return [person.id for person in people]


def schedule_reminders(session: Session, now: datetime, *, days_before_due: int) -> int:
    """Queue the due-soon and overdue reminders that have come due; returns how many.

    Open requests only. Due-soon goes from `days_before_due` days before the due date (UK
    days), unless the request was issued that close to it: its new-request e-mail is recent.
    Overdue goes the day after the due date. Each goes once per person per request.
    """
    today = now.astimezone(UK).date()
    window_opens = today + timedelta(days=days_before_due)
    due = session.scalars(
        sa.select(DelegationRequest)
        .where(
            # The requests a partner still has to answer.
            DelegationRequest.status.in_(OPEN_STATUSES),
            DelegationRequest.due_on <= window_opens,
            DelegationRequest.expires_at > now,
        )
        .order_by(DelegationRequest.due_on)
    )
    queued = 0
    for request in due:
        if request.due_on < today:
            kind = NotificationKind.REQUEST_OVERDUE
        elif request.issued_at.astimezone(UK).date() < request.due_on - timedelta(
            days=days_before_due
        ):
            kind = NotificationKind.REQUEST_DUE_SOON
        else:
            continue
        queued += enqueue(session, kind, partner_recipients(session, request), request)
    return queued


def _queue_again(
    session: Session,
    kind: NotificationKind,
    recipient_id: uuid.UUID,
    request_id: uuid.UUID,
    now: datetime,
) -> int:
    statement = (
        sa.update(_TABLE)
        .where(
            _TABLE.c.kind == kind,
            _TABLE.c.recipient_id == recipient_id,
            _TABLE.c.request_id == request_id,
            _TABLE.c.status != NotificationStatus.PENDING,
        )
        .values(
            status=NotificationStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            sent_at=None,
            last_error=None,
        )
        .returning(_TABLE.c.id)
    )
    return len(session.execute(statement).all())


def _insert_ignoring_duplicates(
    session: Session,
) -> postgresql.Insert | sqlite.Insert:
    # ON CONFLICT DO NOTHING rather than check-then-insert: two transactions queueing the same
    # e-mail at once (two senders scheduling reminders) cannot both insert, and neither fails.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(_TABLE).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(_TABLE).on_conflict_do_nothing()
    raise RuntimeError(f"notifications cannot be queued on {dialect}")  # pragma: no cover
