"""Recording what the figures need beyond the requests themselves: a partner's first opening
of a request, a request answered outside the portal, and a partner's feedback after sending.
Each in the caller's transaction; none touches the request's row (its version stays)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.crypto.records import RecordCipher
from portal.lifecycle import REQUEST_LIFECYCLE, RequestStatus
from portal.models import (
    Contribution,
    DelegationRequest,
    Feedback,
    OfflineAnswer,
    OfflineChannel,
    RequestOpening,
    Satisfaction,
    User,
)
from portal.requests import services as request_services

COMMENT_LIMIT = 1200

# Each message once, for the forms and the services alike.
SELECT_CHANNEL = "Select how the partner answered"
SELECT_REASON = "Select why it was answered outside the portal"
SELECT_RATING = "Select how you felt about the service"
COMMENT_TOO_LONG = f"Your answer must be {COMMENT_LIMIT:,} characters or fewer"

# Why a request was answered outside the portal: a closed list, so that nothing typed about a
# child or family is kept (the figures count the codes).
OFFLINE_REASONS = {
    "urgent": "It was needed sooner than the portal allowed",
    "meeting": "It was answered at a meeting or conference",
    "could_not_sign_in": "The partner could not sign in",
    "partner_preferred": "The partner preferred another way",
    "technical_problem": "A problem with the portal",
    "other": "Another reason",
}

CHANNEL_LABELS = {
    OfflineChannel.PHONE: "By phone",
    OfflineChannel.EMAIL: "By secure email",
    OfflineChannel.MEETING: "In person or at a meeting",
    OfflineChannel.POST: "By post",
    OfflineChannel.OTHER: "Another way",
}

SATISFACTION_LABELS = {
    Satisfaction.VERY_SATISFIED: "Very satisfied",
    Satisfaction.SATISFIED: "Satisfied",
    Satisfaction.NEITHER: "Neither satisfied or dissatisfied",
    Satisfaction.DISSATISFIED: "Dissatisfied",
    Satisfaction.VERY_DISSATISFIED: "Very dissatisfied",
}


class PilotRefused(Exception):
    """The record cannot be made as asked; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def record_opening(session: Session, found: DelegationRequest, viewer: User) -> None:
    """The first time someone at the partner opens the request; later openings change
    nothing. ON CONFLICT DO NOTHING: two colleagues opening it at once both succeed."""
    if viewer.organisation_id != found.partner_organisation_id:
        return
    values = {"request_id": found.id, "opened_at": datetime.now(UTC), "opened_by_id": viewer.id}
    if session.get_bind().dialect.name == "postgresql":
        statement: postgresql.Insert | sqlite.Insert = postgresql.insert(RequestOpening)
    else:
        statement = sqlite.insert(RequestOpening)
    session.execute(statement.values(values).on_conflict_do_nothing())


@dataclass(frozen=True)
class OfflineAnswerGiven:
    channel: OfflineChannel
    reason: str


def offline_answer_given(channel: str, reason: str) -> OfflineAnswerGiven:
    """What the form gave, read: a channel and a reason from their closed lists."""
    try:
        read = OfflineChannel(channel)
    except ValueError:
        raise PilotRefused("channel", SELECT_CHANNEL) from None
    if reason not in OFFLINE_REASONS:
        raise PilotRefused("reason", SELECT_REASON)
    return OfflineAnswerGiven(read, reason)


WAITING_FOR_REVIEW = (
    "The partner has sent answers that are waiting for review: review them instead, so this "
    "request cannot be recorded as answered outside the portal"
)
NO_LONGER_OPEN = "This request is closed, so it cannot be recorded as answered outside the portal"


def why_not_elsewhere(found: DelegationRequest) -> str:
    """Why a request may not be recorded as answered outside the portal, in words."""
    if found.status is RequestStatus.SUBMITTED:
        return WAITING_FOR_REVIEW
    return NO_LONGER_OPEN


def may_answer_elsewhere(found: DelegationRequest) -> bool:
    """Only an open request with nothing waiting for review: a sent version is an answer."""
    return found.status in (
        RequestStatus.ISSUED,
        RequestStatus.IN_PROGRESS,
        RequestStatus.RETURNED,
    ) and REQUEST_LIFECYCLE.allows(found.status, RequestStatus.REVOKED)


def answer_elsewhere(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    worker: User,
    actor: Actor,
    given: OfflineAnswerGiven,
) -> None:
    """Record how and why the request was answered outside the portal, and withdraw it in
    the same transaction (the partner loses access; any draft is destroyed)."""
    if not may_answer_elsewhere(found):
        raise PilotRefused("channel", why_not_elsewhere(found))
    closing = f"Answered outside the portal: {CHANNEL_LABELS[given.channel].lower()}"
    try:
        request_services.revoke(session, cipher, found, actor, closing)
    except request_services.RequestRefused as refused:
        raise PilotRefused("channel", refused.message) from None
    session.add(
        OfflineAnswer(
            request_id=found.id,
            channel=given.channel,
            reason=given.reason,
            recorded_by_id=worker.id,
        )
    )
    record_event(
        session,
        AuditAction.REQUEST_ANSWERED_ELSEWHERE,
        actor=actor,
        object_type="delegation_request",
        object_id=found.reference,
        case_reference=found.case.cms_reference,
        details={"channel": given.channel.value, "reason": given.reason},
    )


def feedback_given(session: Session, contribution: Contribution) -> bool:
    found = session.scalar(
        sa.select(sa.func.count())
        .select_from(Feedback)
        .where(Feedback.contribution_id == contribution.id)
    )
    return bool(found)


def give_feedback(
    session: Session,
    cipher: RecordCipher,
    contribution: Contribution,
    actor: Actor,
    rating: Satisfaction,
    comment: str | None,
) -> None:
    """A partner's rating of sending this version, once; the comment sealed. Not tied to the
    person (the audit event says who gave feedback, never what it said)."""
    if contribution.submitted_at is None:
        raise PilotRefused("rating", "Feedback is given after sending")
    if comment is not None and len(comment) > COMMENT_LIMIT:
        raise PilotRefused("comment", COMMENT_TOO_LONG)
    feedback = Feedback(
        id=uuid.uuid4(),
        contribution_id=contribution.id,
        organisation_id=contribution.request.partner_organisation_id,
        rating=int(rating),
    )
    if comment:
        cipher.seal_text(feedback, "comment_enc", comment)
    try:
        with session.begin_nested():
            session.add(feedback)
    except IntegrityError:
        raise PilotRefused("rating", "You have already given feedback on these answers") from None
    record_event(
        session,
        AuditAction.FEEDBACK_GIVEN,
        actor=actor,
        object_type="contribution",
        object_id=contribution.id,
        details={"rating": int(rating), "commented": bool(comment)},
    )
