"""E-mails waiting to be sent by the background sender. They hold who and what kind, never
the message: it is written at send time from a template, with a reference and a link only."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, HasId, enum_type, utcnow


class NotificationKind(enum.StrEnum):
    REQUEST_ISSUED = "request_issued"  # to the partner: a new request
    REQUEST_DUE_SOON = "request_due_soon"  # to the partner: a reminder before the due date
    REQUEST_OVERDUE = "request_overdue"  # to the partner
    CONTRIBUTION_RETURNED = "contribution_returned"  # to the partner
    CONTRIBUTION_ACCEPTED = "contribution_accepted"  # to the partner
    CONTRIBUTION_SUBMITTED = "contribution_submitted"  # to the social worker
    CHILD_NOT_KNOWN = "child_not_known"  # to the social worker: the partner knows none of them
    # Onboarding (issue 19): about an organisation, not a request (organisation_id is set)
    AGREEMENT_REVIEW_DUE = "agreement_review_due"  # to its officer(s) and partner lead
    CHANGE_AWAITING_APPROVAL = "change_awaiting_approval"  # to who may approve it
    # Issue 20: to the people at the partner who had opened it (reference and link only)
    REQUEST_WITHDRAWN = "request_withdrawn"
    REQUEST_PASSED = "request_passed"  # to the colleague a partner lead passed it to


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the attempt limit; the reason code says why


class Notification(HasId, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index(None, "status", "next_attempt_at"),
        # One reminder of a kind per person per request.
        sa.UniqueConstraint("kind", "recipient_id", "request_id"),
    )

    kind: Mapped[NotificationKind] = mapped_column(enum_type(NotificationKind))
    recipient_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"), index=True)
    request_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("delegation_requests.id"))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("organisations.id"))
    status: Mapped[NotificationStatus] = mapped_column(
        enum_type(NotificationStatus), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(64))  # a code, never content
