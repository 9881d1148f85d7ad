"""The sequencer: places committed audit events in the Merkle tree, in commit order, in
batches, exactly once.

Actions record their events without any shared lock (portal/audit/record.py). A pass of the
sequencer, in one transaction of its own:

1. locks its bookmark row (`audit_sequencer_state`, `FOR UPDATE`), so two sequencers' passes
   follow each other and never interleave;
2. finds committed events not yet in `audit_leaves`. On PostgreSQL those are events whose
   inserting transaction id (`xact`) is at or above the bookmark's `low_xact` and that have no
   leaf, in the order of their transactions then their numbers; the same statement reads its
   snapshot's `xmin`, below which every transaction has finished. On SQLite (one writer at a
   time, so numbers are in commit order) they are the events numbered after `last_seq`;
3. appends their leaf hashes, and the perfect subtrees they complete, and moves the bookmark:
   when the pass took all it found, `low_xact` becomes that `xmin`.

A transaction that commits after a pass's snapshot is seen by a later pass, so events reach the
tree in the order their commits became visible, and a pass never waits for a transaction still
running. A crash at any moment rolls the pass back, and `UNIQUE(event_seq)` on the leaves makes
placing an event twice impossible even for two sequencers that both believe they lead.

Only one process leads (`run`): it holds a session-level advisory lock on a connection of its
own; the others retry every few seconds and take over when the leader's connection ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import merkle
from portal.audit.chain import canonical_encoding
from portal.audit.record import event_fields
from portal.audit.tree_store import StoredTree, append_leaves
from portal.models import AuditEvent, AuditLeaf, AuditSequencerState
from portal.models.base import utcnow

BATCH = 5_000


@dataclass(frozen=True)
class PassResult:
    sequenced: int
    tree_size: int
    more: bool  # the pass stopped at BATCH: run another at once


def sequence_pending(session: Session, batch: int = BATCH) -> PassResult:
    """One pass, in the caller's transaction (commit it to make the pass count)."""
    state = session.scalar(
        sa.select(AuditSequencerState).where(AuditSequencerState.id == 1).with_for_update()
    )
    if state is None:
        raise RuntimeError("the audit sequencer has no state row: run `portal db upgrade`")
    postgres = session.get_bind().dialect.name == "postgresql"
    rows, xmin = (
        _pending_postgres(session, state, batch)
        if postgres
        else _pending_sqlite(session, state, batch)
    )
    tree = merkle.CompactRange(state.tree_size, StoredTree(session).frontier(state.tree_size))
    placed = [(row.seq, merkle.leaf_hash(canonical_encoding(event_fields(row)))) for row in rows]
    appended = append_leaves(session, tree, placed)
    # A pass that took everything it found says so with the xmin that moves the bookmark on.
    more = xmin is None if postgres else len(rows) >= batch
    state.tree_size = tree.size
    if rows:
        state.last_seq = max(state.last_seq, max(row.seq for row in rows))
    if xmin is not None:
        state.low_xact = max(state.low_xact, xmin)
    state.updated_at = utcnow()
    session.flush()
    return PassResult(appended, tree.size, more)


def _pending_postgres(
    session: Session, state: AuditSequencerState, batch: int
) -> tuple[list[Any], int | None]:
    """Committed events not yet placed, whole transactions at a time, and the xmin below
    which every one of them is now placed.

    The xmin is read *before* the events, by a statement of its own: every transaction below
    it had finished when it was read, so the events query, whose snapshot is newer, sees all
    of their events. (Read after the events, a transaction committing in between would fall
    below the new bookmark unseen, and be lost.)"""
    xmin = int(session.scalar(_SNAPSHOT_XMIN) or 0)
    events = AuditEvent.__table__
    unplaced = (
        sa.select(events)
        .where(~sa.exists().where(AuditLeaf.event_seq == events.c.seq))
        .order_by(events.c.xact, events.c.seq)
    )
    rows = list(session.execute(unplaced.where(events.c.xact >= state.low_xact).limit(batch)))
    if len(rows) < batch:
        return rows, xmin
    # The batch ended inside a transaction's events: never split one transaction's events
    # around another's. Leave the last transaction for the next pass, or, when the batch is
    # all one transaction, take the whole of it now.
    last = rows[-1].xact
    if rows[0].xact != last:
        return [row for row in rows if row.xact != last], None
    return list(session.execute(unplaced.where(events.c.xact == last))), None


_SNAPSHOT_XMIN = sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


def _pending_sqlite(
    session: Session, state: AuditSequencerState, batch: int
) -> tuple[list[Any], int | None]:
    events = AuditEvent.__table__
    query = (
        sa.select(events).where(events.c.seq > state.last_seq).order_by(events.c.seq).limit(batch)
    )
    return list(session.execute(query).all()), None


def tree_size(session: Session) -> int:
    """How many events the tree holds (the sequencer's bookmark)."""
    size = session.scalar(
        sa.select(AuditSequencerState.tree_size).where(AuditSequencerState.id == 1)
    )
    return int(size or 0)


def waiting(session: Session) -> int:
    """Events recorded (committed) but not yet in the tree. Only those past the bookmark are
    counted, through the index the passes use: everything before it is placed (a count of
    both whole tables, at each metrics scrape, would read every event)."""
    state = session.get(AuditSequencerState, 1)
    if state is None:
        return 0
    events = AuditEvent.__table__
    query = sa.select(sa.func.count()).select_from(events)
    if session.get_bind().dialect.name == "postgresql":
        query = query.where(events.c.xact >= state.low_xact).where(
            ~sa.exists().where(AuditLeaf.event_seq == events.c.seq)
        )
    else:
        query = query.where(events.c.seq > state.last_seq)
    return int(session.scalar(query) or 0)
