"""The CMS outbox: written in the acceptance transaction, drained by the connector worker.

It holds references only; the content is decrypted at send time, never queued in plaintext.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.lifecycle import OutboxStatus
from portal.models.base import Base, HasId, enum_type, utcnow


class OutboxMessage(HasId, Base):
    __tablename__ = "outbox"
    __table_args__ = (sa.Index(None, "status", "next_attempt_at"),)

    # One delivery per contribution version, ever.
    contribution_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("contributions.id"), unique=True
    )
    idempotency_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_type(OutboxStatus), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))  # a reason, never a payload
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    claimed_at: Mapped[datetime | None]
    cms_record_id: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
