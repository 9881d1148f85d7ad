"""Events the tree will never hold, and a sequencer bookmark that disagrees with the tree.

The tree proves nothing about an event it does not hold, so an event kept out of it is damage
as soon as the sequencer can no longer pick it up: on PostgreSQL, an event whose inserting
transaction id is missing or below the bookmark's `low_xact` (every transaction below it had
finished when the bookmark moved, so each of its events is already a leaf); on SQLite, an event
numbered at or below `last_seq`. Such a row was written around the application (a superuser's
INSERT, an event's transaction id or number rewritten) and no check of the tree would see it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.verify_report import HIDDEN, REWRITTEN, Damage
from portal.models import AuditEvent, AuditLeaf, AuditSequencerState

_NO_LEAF = ~sa.exists().where(AuditLeaf.event_seq == AuditEvent.seq)


def without_leaf(session: Session) -> int:
    """Every event the tree does not hold: those waiting for the sequencer and those hidden
    from it."""
    return int(
        session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(_NO_LEAF)) or 0
    )


def hidden_events(session: Session, position: int) -> list[Damage]:
    """Events without a leaf that the sequencer will never place (the first one named, and
    how many), and a bookmark whose tree size is not the number of leaves."""
    state = session.get(AuditSequencerState, 1)
    if state is None:
        return []
    if session.get_bind().dialect.name == "postgresql":
        behind = sa.or_(AuditEvent.xact.is_(None), AuditEvent.xact < state.low_xact)
    else:
        behind = AuditEvent.seq <= state.last_seq
    hidden = sa.and_(_NO_LEAF, behind)
    found: list[Damage] = []
    count = int(
        session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(hidden)) or 0
    )
    if count:
        first = int(session.scalar(sa.select(sa.func.min(AuditEvent.seq)).where(hidden)) or 0)
        also = f" ({count - 1} more like it)" if count > 1 else ""
        found.append(
            Damage(
                HIDDEN,
                first,
                f"Event {first} was recorded outside the tree{also}: the sequencer will never "
                "place it, so nothing vouches for it. It was inserted, or its transaction id "
                "or number rewritten, around the application.",
                position,
            )
        )
    leaves = int(session.scalar(sa.select(sa.func.count()).select_from(AuditLeaf)) or 0)
    if leaves != state.tree_size:
        found.append(
            Damage(
                REWRITTEN,
                None,
                f"The sequencer's bookmark says the tree holds {state.tree_size} events but it "
                f"holds {leaves}: leaves were added or deleted around the sequencer.",
                min(leaves, state.tree_size),
            )
        )
    return found
