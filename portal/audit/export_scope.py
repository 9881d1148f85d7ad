"""What an export covers: the signed tree head its proofs lead to, and the matching events
recorded after it.

An export proves its events against a tree head the sequencer has already signed, never a
fresh one: sequencing and signing happen in the sequencer (portal/audit/sequencer.py), not in
the IG officer's request. The newest *witnessed* head is preferred (held by the checkpoint
store and time-stamped by the TSA, so the export can be checked against witnesses the
database's owner cannot rewrite); while no head is witnessed yet, the newest signed one, and
the export says it is not witnessed. Matching events not in that head are listed as recorded
after the checkpoint, not yet provable: never silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import (
    AuditEvent,
    AuditLeaf,
    AuditSequencerState,
    AuditTreeHead,
    AuditWitness,
    AuditWitnessRecord,
)


@dataclass(frozen=True)
class CoveringHead:
    """The tree head an export proves its events against, with what witnessed it."""

    head: AuditTreeHead
    witnesses: tuple[AuditWitnessRecord, ...]

    @property
    def tree_size(self) -> int:
        return self.head.tree_size

    def witnessed_at(self, witness: AuditWitness) -> datetime | None:
        return next((w.witnessed_at for w in self.witnesses if w.witness == witness), None)

    @property
    def witnessed(self) -> bool:
        """Held by the store and time-stamped by the TSA: witnessed, as the design counts it."""
        return all(self.witnessed_at(witness) is not None for witness in AuditWitness)

    @property
    def tsa_token(self) -> bytes | None:
        return next((w.token for w in self.witnesses if w.witness == AuditWitness.TSA), None)


def _witnessed_by(witness: AuditWitness) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        AuditWitnessRecord.tree_size == AuditTreeHead.tree_size,
        AuditWitnessRecord.witness == witness,
    )


def covering_head(session: Session) -> CoveringHead | None:
    """The newest witnessed tree head, else the newest signed one (None before the first)."""
    newest_first = sa.select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1)
    head = session.scalar(newest_first.where(*(_witnessed_by(w) for w in AuditWitness)))
    if head is None:
        head = session.scalar(newest_first)
    if head is None:
        return None
    records = session.scalars(
        sa.select(AuditWitnessRecord)
        .where(AuditWitnessRecord.tree_size == head.tree_size)
        .order_by(AuditWitnessRecord.witness)
    )
    return CoveringHead(head, tuple(records))


def in_head(size: int) -> sa.ColumnElement[bool]:
    """The event is one of the head's leaves (exact: for the export itself)."""
    return sa.exists().where(AuditLeaf.event_seq == AuditEvent.seq, AuditLeaf.leaf_index < size)


def waiting_matches(session: Session, matches: sa.ColumnElement[bool], size: int) -> int:
    """How many events match but are not in the head of `size` leaves, for the search page.

    Cheap whatever the filter and however long the log: an event not in the head was either
    placed after it or is still unsequenced, and each kind is counted from its own small end.
    The leaves from `size` on come from the leaf_index key (what the sequencer placed since the
    head: a minute's events, more only while the witnesses are away). Unsequenced events are all
    at or above the sequencer's bookmark (PostgreSQL: `xact >= low_xact`, through the (xact,
    seq) index; SQLite: numbered past `last_seq`). The two kinds never overlap (one has its
    leaf, the other none), so their counts, taken in one statement, add up. The export itself
    lists them with the exact test (`in_head`).
    """
    placed_after = (
        sa.select(sa.func.count())
        .select_from(AuditLeaf)
        .join(AuditEvent, AuditEvent.seq == AuditLeaf.event_seq)
        .where(AuditLeaf.leaf_index >= size, matches)
    )
    unplaced = ~sa.exists().where(AuditLeaf.event_seq == AuditEvent.seq)
    state = session.get(AuditSequencerState, 1)
    if state is not None and session.get_bind().dialect.name == "postgresql":
        unplaced = sa.and_(AuditEvent.xact >= state.low_xact, unplaced)
    elif state is not None:
        unplaced = sa.and_(AuditEvent.seq > state.last_seq, unplaced)
    unsequenced = sa.select(sa.func.count()).select_from(AuditEvent).where(matches, unplaced)
    # One statement, so one snapshot: counted apart, a sequencer pass committing between them
    # would move an event out of the second count after the first had missed it.
    both = sa.select(placed_after.scalar_subquery() + unsequenced.scalar_subquery())
    return int(session.scalar(both) or 0)


@dataclass(frozen=True)
class ExportCoverage:
    """What an export of the search's events would prove, for the search page to say."""

    covering: CoveringHead | None
    waiting: int  # matching events recorded after that head (none counted while it is None)


def export_coverage(session: Session, matches: sa.ColumnElement[bool]) -> ExportCoverage:
    """Before the first head there is nothing to prove against and no export to offer (the page
    says so), so nothing is counted: every matching event would be, the whole log's worth."""
    covering = covering_head(session)
    if covering is None:
        return ExportCoverage(None, 0)
    return ExportCoverage(covering, waiting_matches(session, matches, covering.tree_size))
