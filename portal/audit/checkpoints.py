"""Signed checkpoints of the audit chain's head, periodically and on demand.

Signing first records an `audit_checkpoint_signed` event, then signs the head, which is that
event: the append lock record_event takes is held until the transaction ends, so nothing can
slip in between. A run that finds nothing new since the last checkpoint signs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.chain import checkpoint_message
from portal.audit.record import SYSTEM, Actor, record_event
from portal.audit.signing import CheckpointSigner
from portal.models import AuditCheckpoint, AuditEvent
from portal.models.base import utcnow


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalar(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))


_LAST_SEQ = 10**18


@dataclass(frozen=True)
class CheckpointList:
    """A page of checkpoints, newest first, and where the next older page starts."""

    checkpoints: list[AuditCheckpoint]
    older: int | None


def checkpoint_list(session: Session, before: int | None, size: int) -> CheckpointList:
    """Up to `size` checkpoints older than `before` (the newest, without it)."""
    query = sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc())
    if before is not None:
        # Any number the address holds, kept within what the column (a 64-bit integer) takes.
        query = query.where(AuditCheckpoint.seq < max(0, min(before, _LAST_SEQ)))
    rows = list(session.scalars(query.limit(size + 1)))
    return CheckpointList(rows[:size], rows[size - 1].seq if len(rows) > size else None)


def head_seq(session: Session) -> int:
    """The newest event's sequence number (0 for an empty trail): how many a check walks."""
    return int(session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0))) or 0)


def sign_checkpoint(
    session: Session, signer: CheckpointSigner, *, actor: Actor = SYSTEM, force: bool = False
) -> AuditCheckpoint:
    """Sign the chain's head in the caller's transaction; returns the newest checkpoint."""
    latest = latest_checkpoint(session)
    if latest is not None and latest.seq == head_seq(session) and not force:
        return latest
    public = signer.public
    event = record_event(
        session,
        AuditAction.AUDIT_CHECKPOINT_SIGNED,
        actor=actor,
        object_type="audit_checkpoint",
        details={"key_id": public.key_id},
    )
    signed_at = utcnow()
    checkpoint = AuditCheckpoint(
        seq=event.seq,
        head_hash=event.hash,
        signed_at=signed_at,
        key_id=public.key_id,
        signature=signer.sign(checkpoint_message(event.seq, event.hash, signed_at)),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint
