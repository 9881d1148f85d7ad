"""Bringing the audit log to rest in a test: every recorded event placed in the tree by the
sequencer, and (given the key) its head signed, as the running sequencer would within a second
and a minute."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction
from portal.audit.checkpoints import sign_tree_head
from portal.audit.sequencer import sequence_pending
from portal.audit.signing import CheckpointSigner
from portal.models import AuditEvent, AuditTreeHead

TEST_ORIGIN = "portal.test/audit"


def sequence_all(session: Session) -> int:
    """Run sequencer passes in the session's transaction until none is waiting; returns how
    many events they placed."""
    placed = 0
    while True:
        result = sequence_pending(session)
        placed += result.sequenced
        if not result.more:
            return placed


def settle(
    session: Session, signer: CheckpointSigner, origin: str = TEST_ORIGIN
) -> AuditTreeHead | None:
    """Sequence everything, then sign the tree's head (None for an empty log)."""
    sequence_all(session)
    return sign_tree_head(session, signer, origin)


def events(session: Session, action: AuditAction | str) -> list[AuditEvent]:
    """The recorded events of one action, oldest first (by event number: the table's own row
    order is no order at all)."""
    name = action.value if isinstance(action, AuditAction) else action
    query = sa.select(AuditEvent).where(AuditEvent.action == name).order_by(AuditEvent.seq)
    return list(session.scalars(query))
