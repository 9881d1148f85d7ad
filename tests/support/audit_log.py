"""Bringing the audit log to rest in a test: every recorded event placed in the tree by the
sequencer, and (given the key) its head signed, as the running sequencer would within a second
and a minute."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.audit.checkpoints import sign_tree_head
from portal.audit.sequencer import sequence_pending
from portal.audit.signing import CheckpointSigner
from portal.models import AuditTreeHead

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
