"""Delegation requests: a social worker's precise request on a case to one partner."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.lifecycle import RequestStatus
from portal.models.base import Base, HasTimestamps, Sealed, enum_type, utcnow
from portal.models.cases import Case, Child
from portal.models.organisations import Organisation
from portal.models.users import User

request_children = sa.Table(
    "request_children",
    Base.metadata,
    sa.Column("request_id", sa.ForeignKey("delegation_requests.id"), primary_key=True),
    sa.Column("child_id", sa.ForeignKey("children.id"), primary_key=True),
    # The requests naming a child (the IG case search counts them), migration 0012.
    sa.Index(None, "child_id"),
)


class DelegationRequest(Sealed, HasTimestamps, Base):
    __tablename__ = "delegation_requests"
    __table_args__ = (
        sa.Index(None, "partner_organisation_id", "status"),
        # A partner's inbox: the organisation's requests that have not lapsed (migration 0008).
        sa.Index(None, "partner_organisation_id", "expires_at"),
        # The retention job's question: which closed requests still hold content.
        sa.Index(None, "status", "content_shredded_at"),
    )

    # What people quote on the phone: short, unguessable, not a sequence.
    reference: Mapped[str] = mapped_column(sa.String(20), unique=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    partner_organisation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organisations.id"))
    named_recipient_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id"), index=True
    )
    requested_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"), index=True)
    form_template: Mapped[str] = mapped_column(sa.String(100))
    form_template_version: Mapped[int]
    lawful_basis: Mapped[str] = mapped_column(sa.String(100))
    purpose_enc: Mapped[bytes]
    message_enc: Mapped[bytes | None]
    status: Mapped[RequestStatus] = mapped_column(
        enum_type(RequestStatus), default=RequestStatus.ISSUED
    )
    due_on: Mapped[date]
    expires_at: Mapped[datetime]
    issued_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closing_reason_enc: Mapped[bytes | None]  # why it was revoked or rejected
    # When the retention job crypto-shredded its contributions, documents and review reasons.
    content_shredded_at: Mapped[datetime | None]
    # Optimistic locking: of two concurrent decisions, the second fails instead of overwriting.
    row_version: Mapped[int] = mapped_column(default=1)

    case: Mapped[Case] = relationship()
    partner_organisation: Mapped[Organisation] = relationship()
    children: Mapped[list[Child]] = relationship(secondary=request_children)

    __mapper_args__ = {"version_id_col": row_version}


class ChildKnown(enum.StrEnum):
    """The partner's answer, before anything else, to "is this the child you know?"."""

    KNOWN = "known"  # "We hold a record for this child"
    NOT_KNOWN = "not_known"  # "We do not know this child"
    NOT_THIS_CHILD = "not_this_child"  # "This is not the child we know"


class MatchedOn(enum.StrEnum):
    """What the partner matched its own record on, when it knows the child."""

    UPN = "upn"
    NHS_NUMBER = "nhs_number"
    NAME_AND_DATE_OF_BIRTH = "name_and_date_of_birth"


class ChildConfirmation(Base):
    """Whether the partner knows one child a request names, and on what it matched.

    Settled before any answer about the child is saved, and fixed once a version is sent: it is
    part of what was sent (the receipt covers it), shown to the social worker and delivered to
    the CMS. Codes only, from closed lists, like a review's decision: nothing about the child
    is in this table but which child it is.
    """

    __tablename__ = "child_confirmations"
    __table_args__ = (
        sa.CheckConstraint(
            "(answer = 'known') = (matched_on IS NOT NULL)", name="matched_only_when_known"
        ),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("delegation_requests.id"), primary_key=True
    )
    child_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("children.id"), primary_key=True)
    answer: Mapped[ChildKnown] = mapped_column(enum_type(ChildKnown))
    matched_on: Mapped[MatchedOn | None] = mapped_column(enum_type(MatchedOn))
    confirmed_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[DelegationRequest] = relationship()
    child: Mapped[Child] = relationship()
    confirmed_by: Mapped[User] = relationship()


class HoldReason(enum.StrEnum):
    """Why content is kept past its retention period: codes only, so nothing sensitive is
    stored with the hold (the details live in the council's own case or legal file)."""

    LITIGATION = "litigation"
    COMPLAINT = "complaint"
    INVESTIGATION = "investigation"
    SUBJECT_ACCESS = "subject_access"
    PRACTICE_REVIEW = "practice_review"

    @property
    def label(self) -> str:
        return _HOLD_REASON_LABELS[self]


_HOLD_REASON_LABELS = {
    HoldReason.LITIGATION: "Litigation, actual or expected",
    HoldReason.COMPLAINT: "A complaint being investigated",
    HoldReason.INVESTIGATION: "A police or regulatory investigation",
    HoldReason.SUBJECT_ACCESS: "A subject access or other information rights request",
    HoldReason.PRACTICE_REVIEW: "A child safeguarding practice review",
}


class LegalHold(Base):
    """A request whose content the retention job must keep until the hold is released.

    A table of its own rather than columns on the request: placing or releasing a hold must
    not bump the request's row version, which would make a social worker's decision at that
    moment fail as if someone else had decided. Releasing deletes the row; the audit trail
    keeps every hold's history.
    """

    __tablename__ = "legal_holds"

    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("delegation_requests.id"), primary_key=True
    )
    reason: Mapped[HoldReason] = mapped_column(enum_type(HoldReason))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    placed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))

    request: Mapped[DelegationRequest] = relationship()
