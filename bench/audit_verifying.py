"""The audit log's verification as the benchmarks call it, in one place: the whole log
(`verify_full`, as `portal audit verify` runs it), only what came after a verified tree head
(`verify_since`, the incremental check), and the sequencer's work that must come first
(`sequence_and_sign`: every event placed in the tree, a tree head signed over it).

STAND-IN: portal/audit/verify.py's `verify_log` (full) and `verify_since` (incremental) are
being written for issue 21. Until they land, the two functions below do the tree work those
will do, so the figures run: every tree head's signed note opened with the trusted keys, every
sequenced event's leaf recomputed from its columns (its canonical encoding, RFC 9162's leaf
hash), the tree rebuilt and its root compared with the signed root at every tree head's size;
incrementally, the tree's frontier read from `audit_tree_nodes` and checked against the
verified head's root, then only the new leaves. They do not consult the witnesses (the
checkpoint store, the TSA's tokens) nor the legacy chain, which the real ones do. When those
land, the bodies of these functions become calls to them, and `sequence_and_sign` also hands
the new head to the witnesses (the stack configures both: bench/stack.py), since the real
`verify_since` starts only from a head the store holds; nothing else in bench/ changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.audit_trail import sequence_all
from portal.audit import merkle
from portal.audit.chain import canonical_encoding
from portal.audit.checkpoints import sign_tree_head
from portal.audit.note import NoteError, open_note
from portal.audit.record import event_fields
from portal.audit.runtime import AuditKeys
from portal.audit.tree_store import StoredTree
from portal.models import AuditEvent, AuditLeaf, AuditTreeHead

# Events read per round trip.
READ_BATCH = 10_000


class NotVerified(RuntimeError):
    """The bench's own log failed verification: the figure would mean nothing."""


@dataclass(frozen=True)
class Verified:
    """A tree head verified, and how much the verification had to check to reach it."""

    tree_size: int
    root: bytes
    # Leaves recomputed from their events (the whole tree, or only those after the last head).
    leaves_checked: int
    heads_checked: int


def sequence_and_sign(engine: Engine, keys: AuditKeys) -> None:
    """Every recorded event into the tree, and a tree head signed over it, as the sequencer
    does every minute."""
    if keys.signer is None:
        raise RuntimeError("the bench stack has no audit signing key")
    sequence_all(engine, _untold)
    with Session(engine) as session, session.begin():
        sign_tree_head(session, keys.signer, keys.origin)


def verify_full(session: Session, keys: AuditKeys) -> Verified:
    """Every tree head and every leaf, from the first."""
    heads = _signed_heads(session, keys, after=0)
    if not heads:
        raise NotVerified("the log has no signed tree head")
    tree = merkle.CompactRange()
    return _check_leaves(session, tree, heads)


def verify_since(session: Session, keys: AuditKeys, verified: Verified) -> Verified:
    """The tree heads signed after `verified` and the leaves added since, from the stored
    frontier of `verified`'s tree checked against its (already verified) root."""
    frontier = StoredTree(session).frontier(verified.tree_size)
    tree = merkle.CompactRange(verified.tree_size, frontier)
    if tree.root() != verified.root:
        raise NotVerified(f"the stored tree of size {verified.tree_size} is not the verified one")
    heads = _signed_heads(session, keys, after=verified.tree_size)
    if not heads:
        return Verified(verified.tree_size, verified.root, 0, 0)
    return _check_leaves(session, tree, heads)


def _signed_heads(session: Session, keys: AuditKeys, after: int) -> list[tuple[int, bytes]]:
    """The (size, root) of every tree head larger than `after`, each as its signed note says,
    smallest first."""
    named = [(keys.origin, key) for key in keys.trusted]
    heads = session.scalars(
        sa.select(AuditTreeHead)
        .where(AuditTreeHead.tree_size > after)
        .order_by(AuditTreeHead.tree_size)
    )
    signed = []
    for head in heads:
        try:
            body = open_note(head.note, named).body
        except NoteError as error:
            raise NotVerified(f"tree head {head.tree_size}: {error}") from None
        if (body.size, body.root) != (head.tree_size, head.root_hash):
            raise NotVerified(f"tree head {head.tree_size} differs from its signed note")
        signed.append((body.size, body.root))
    return signed


def _check_leaves(
    session: Session, tree: merkle.CompactRange, heads: list[tuple[int, bytes]]
) -> Verified:
    """Append the leaves from `tree`'s size to the last head's, recomputed from their events,
    comparing the root at each head's size."""
    start, waiting = tree.size, list(reversed(heads))
    for leaves in _leaf_hashes(session, start, heads[-1][0]):
        used = 0
        while used < len(leaves):
            size, root = waiting[-1]
            take = leaves[used : used + size - tree.size]
            tree.append_many(take)
            used += len(take)
            if tree.size == size:
                if tree.root() != root:
                    raise NotVerified(f"the events do not make the signed tree of size {size}")
                waiting.pop()
    if tree.size != heads[-1][0]:
        raise NotVerified(f"the tree ends at {tree.size} leaves, short of its signed heads")
    return Verified(tree.size, heads[-1][1], tree.size - start, len(heads))


def _leaf_hashes(session: Session, start: int, end: int) -> Iterator[list[bytes]]:
    """The leaf hashes of leaves [start, end), recomputed from their events' columns, in
    batches; a leaf, or its event, missing fails the verification."""
    events, leaves = AuditEvent.__table__, AuditLeaf.__table__
    query = (
        sa.select(leaves.c.leaf_index, events)
        .join(events, events.c.seq == leaves.c.event_seq)
        .where(leaves.c.leaf_index >= start, leaves.c.leaf_index < end)
        .order_by(leaves.c.leaf_index)
    )
    expected = start
    with session.execute(query, execution_options={"yield_per": READ_BATCH}) as rows:
        for batch in rows.partitions():
            hashes = []
            for row in batch:
                if row.leaf_index != expected:
                    raise NotVerified(f"leaf {expected} or its event is missing")
                hashes.append(merkle.leaf_hash(canonical_encoding(event_fields(row))))
                expected += 1
            yield hashes


def _untold(_placed: int) -> None:
    pass
