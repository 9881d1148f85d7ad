"""The Merkle tree as the database keeps it: leaves (`audit_leaves`) and completed perfect
subtrees (`audit_tree_nodes`), read to make roots and proofs, written by the sequencer only.

The stored hashes are a cache: nothing here is trusted by verification without being checked
against a signed, witnessed root (portal/audit/verify.py recomputes the leaves from the events;
a proof made from altered nodes fails its check against the checkpoint it names).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import merkle
from portal.models import AuditLeaf, AuditTreeNode

_LEAVES = cast(sa.Table, AuditLeaf.__table__)
_NODES = cast(sa.Table, AuditTreeNode.__table__)


class MissingNode(LookupError):
    """The database lacks a leaf or node the tree of this size must have: it was deleted."""


class StoredTree:
    """Perfect subtree hashes read from the database as proofs need them, each at most once.
    One per unit of work: it caches what it read."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cache: dict[tuple[int, int], bytes] = {}

    def perfect(self, level: int, index: int) -> bytes:
        key = (level, index)
        found = self._cache.get(key)
        if found is None:
            found = self._read(level, index)
            self._cache[key] = found
        return found

    def _read(self, level: int, index: int) -> bytes:
        if level == 0:
            value = self._session.scalar(
                sa.select(AuditLeaf.hash).where(AuditLeaf.leaf_index == index)
            )
        else:
            value = self._session.scalar(
                sa.select(AuditTreeNode.hash).where(
                    AuditTreeNode.level == level, AuditTreeNode.index == index
                )
            )
        if value is None:
            raise MissingNode(f"the tree's subtree at level {level}, index {index} is missing")
        return value

    def root(self, size: int) -> bytes:
        return merkle.root(size, self.perfect)

    def frontier(self, size: int) -> list[bytes]:
        return [self.perfect(level, index) for level, index in merkle.frontier_positions(size)]

    def inclusion_proof(self, leaf_index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(leaf_index, size, self.perfect)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return merkle.consistency_proof(old_size, new_size, self.perfect)


def append_leaves(
    session: Session, tree: merkle.CompactRange, placed: Iterable[tuple[int, bytes]]
) -> int:
    """Append (event number, leaf hash) pairs to the tree whose right edge is `tree` (moved on
    in place), with every perfect subtree they complete; returns how many were appended."""
    leaves, nodes = [], []
    for event_seq, leaf in placed:
        leaves.append({"leaf_index": tree.size, "event_seq": event_seq, "hash": leaf})
        for level, index, value in tree.append(leaf):
            nodes.append({"level": level, "index": index, "hash": value})
    # Core inserts of the tables, not ORM bulk inserts of the classes: a batch of thousands of
    # rows goes in more than twice as fast (the bench's trail of millions is placed this way).
    if leaves:
        session.execute(sa.insert(_LEAVES), leaves)
    if nodes:
        session.execute(sa.insert(_NODES), nodes)
    return len(leaves)


def leaf_of_event(session: Session, event_seq: int) -> int | None:
    """The event's place in the tree, or None while it waits to be sequenced."""
    return session.scalar(sa.select(AuditLeaf.leaf_index).where(AuditLeaf.event_seq == event_seq))
