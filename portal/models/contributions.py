"""A partner's answer to a request: versioned submissions, their attachments and reviews."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.lifecycle import ContributionStatus
from portal.models.base import Base, HasTimestamps, Sealed, enum_type, utcnow
from portal.models.requests import DelegationRequest


class Contribution(Sealed, HasTimestamps, Base):
    """One version of a partner's answer. Once submitted its content never changes."""

    __tablename__ = "contributions"
    __table_args__ = (sa.UniqueConstraint("request_id", "version"),)

    request_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("delegation_requests.id"))
    version: Mapped[int]
    status: Mapped[ContributionStatus] = mapped_column(
        enum_type(ContributionStatus), default=ContributionStatus.DRAFT
    )
    answers_enc: Mapped[bytes | None]
    created_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    submitted_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    # The receipt: SHA-256 over the canonical content and the attachments' digests, signed
    # by the portal at submission, so the partner can later prove exactly what it sent.
    receipt_digest: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    receipt_signature: Mapped[bytes | None] = mapped_column(sa.LargeBinary(64))
    receipt_key_id: Mapped[str | None] = mapped_column(sa.String(32))
    # Which receipt format signed it (portal-receipt/2 names the organisation; NULL: signed
    # before formats were recorded, format 1), and the organisation's name as signed.
    receipt_format: Mapped[str | None] = mapped_column(sa.String(20))
    receipt_organisation: Mapped[str | None] = mapped_column(sa.String(200))
    cms_record_id: Mapped[str | None] = mapped_column(sa.String(100))
    delivered_at: Mapped[datetime | None]
    row_version: Mapped[int] = mapped_column(default=1)

    request: Mapped[DelegationRequest] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(back_populates="contribution")

    __mapper_args__ = {"version_id_col": row_version}


class ScanStatus(enum.StrEnum):
    PENDING = "pending"
    CLEAN = "clean"
    REFUSED = "refused"  # infected, or the scanner could not give a clean verdict


class SafeCopyStatus(enum.StrEnum):
    """Where the document's disarmed safe copy is (docs/disarm.md)."""

    PENDING = "pending"  # "being made safe"
    READY = "ready"  # "safe copy ready"
    FAILED = "failed"  # "could not be made safe"


class Attachment(Sealed, Base):
    """A file's metadata. Its content is in the file store, in the streaming encrypted format."""

    __tablename__ = "attachments"

    contribution_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contributions.id"), index=True
    )
    # The answer it belongs to: a file question's id, or "<question id>:<child id>".
    answer_key: Mapped[str] = mapped_column(sa.String(200))
    filename_enc: Mapped[bytes]
    content_type: Mapped[str] = mapped_column(sa.String(100))  # detected from content
    # SHA-256 of the plaintext, computed while it streamed in; part of the receipt.
    sha256: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    scan_status: Mapped[ScanStatus] = mapped_column(
        enum_type(ScanStatus), default=ScanStatus.PENDING
    )
    uploaded_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The safe copy: rebuilt by the disarm worker as a plain PDF (or a re-encoded image or
    # text), kept beside the original as `<id>.safe.pdsf` under the same data key, so that
    # shredding the key shreds both.
    safe_status: Mapped[SafeCopyStatus] = mapped_column(
        enum_type(SafeCopyStatus), default=SafeCopyStatus.PENDING, index=True
    )
    safe_content_type: Mapped[str | None] = mapped_column(sa.String(100))
    safe_size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    safe_sha256: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    safe_pages: Mapped[int | None]
    # Why it could not be made safe: a code (docs/disarm.md), never content.
    safe_failure: Mapped[str | None] = mapped_column(sa.String(40))
    safe_attempts: Mapped[int] = mapped_column(default=0)
    # A disarm worker's claim: who holds it and until when (another may take it after).
    safe_claimed_by: Mapped[str | None] = mapped_column(sa.String(200))
    safe_claimed_until: Mapped[datetime | None]
    safe_made_at: Mapped[datetime | None]

    contribution: Mapped[Contribution] = relationship(back_populates="attachments")


class ReviewDecision(enum.StrEnum):
    ACCEPTED = "accepted"
    RETURNED = "returned"
    REJECTED = "rejected"


class Review(Sealed, Base):
    """The social worker's decision on one contribution version; one decision per version."""

    __tablename__ = "reviews"

    contribution_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contributions.id"), unique=True
    )
    reviewer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    decision: Mapped[ReviewDecision] = mapped_column(enum_type(ReviewDecision))
    reason_enc: Mapped[bytes | None]
    sections_to_revisit: Mapped[list[str]] = mapped_column(default=list)
    new_due_on: Mapped[date | None]
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
