"""What the pilot's figures are computed from beyond requests, contributions and reviews: when
a partner first opened each request, requests answered outside the portal, and partners'
feedback on sending (docs/pilot.md). Tables of their own, so that recording them never bumps a
request's row version (which would fail a social worker's decision made at that moment)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, Sealed, enum_type, utcnow


class RequestOpening(Base):
    """The first time someone at the partner opened a request."""

    __tablename__ = "request_openings"

    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("delegation_requests.id"), primary_key=True
    )
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))


class OfflineChannel(enum.StrEnum):
    """How a request was answered outside the portal (digital take-up's denominator)."""

    PHONE = "phone"
    EMAIL = "email"
    MEETING = "meeting"
    POST = "post"
    OTHER = "other"


class OfflineAnswer(Base):
    """A social worker's record that a request was answered outside the portal, and how; the
    request is withdrawn in the same transaction. Codes only: nothing about the child."""

    __tablename__ = "offline_answers"

    request_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("delegation_requests.id"), primary_key=True
    )
    channel: Mapped[OfflineChannel] = mapped_column(enum_type(OfflineChannel))
    # Why not through the portal: a code from a closed list (portal/pilot).
    reason: Mapped[str] = mapped_column(sa.String(40))
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Satisfaction(enum.IntEnum):
    """GOV.UK's satisfaction question: "Overall, how did you feel about the service you
    received today?"."""

    VERY_DISSATISFIED = 1
    DISSATISFIED = 2
    NEITHER = 3
    SATISFIED = 4
    VERY_SATISFIED = 5


class Feedback(Sealed, Base):
    """A partner's rating after sending a version, and why in their own words (sealed). Kept
    with the version (its organisation, kind and month), not the person; the audit trail says
    who gave it, so it is not anonymous, and the feedback page says so."""

    __tablename__ = "feedback"

    contribution_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contributions.id"), unique=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    rating: Mapped[int] = mapped_column(sa.SmallInteger)
    comment_enc: Mapped[bytes | None]
    given_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating_in_range"),)
