"""Audit events: the hash-chained, append-only trail (written through portal.audit only)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, enum_type


class AuditOutcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # Every search filter walks one of these in seq order (keyset pagination, never OFFSET).
    __table_args__ = (
        sa.Index(None, "case_reference", "seq"),
        sa.Index(None, "actor_user_id", "seq"),
        sa.Index(None, "actor_organisation_id", "seq"),
        sa.Index(None, "action", "seq"),
        sa.Index(None, "outcome", "seq"),
        sa.Index(None, "occurred_at"),
        # When the council first read a version, for the partner's request page.
        sa.Index(None, "object_id", "action"),
    )

    # Gapless, assigned under the append lock; not a database sequence (those leave gaps).
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    # Plain ids, not foreign keys: the trail outlives the rows it speaks of.
    actor_user_id: Mapped[uuid.UUID | None]
    actor_organisation_id: Mapped[uuid.UUID | None]
    # The actor's roles at the time, comma-separated.
    actor_role: Mapped[str | None] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str | None] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    case_reference: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[AuditOutcome] = mapped_column(enum_type(AuditOutcome))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    client_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)


class AuditCheckpoint(Base):
    """A signed statement of the chain's head: "event `seq` had hash `head_hash` at
    `signed_at`", signed with an Ed25519 key kept outside the database. Append-only, like the
    events. See portal/audit/checkpoints.py."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    signed_at: Mapped[datetime]
    # The first 16 hex digits of the SHA-256 of the raw public key.
    key_id: Mapped[str] = mapped_column(sa.String(32))
    signature: Mapped[bytes] = mapped_column(sa.LargeBinary(64))
