"""What holds of the audit log once the sequencer has caught up, checked from the tables
themselves and RFC 9162's definitions (not portal.audit.merkle): every recorded event is one
leaf, each leaf's hash is its event's canonical encoding hashed with the leaf prefix, and the
stored subtrees give the root the leaves give.

For tests whose subject is something else (retention, SQLite writers, several processes) that
must leave the log whole; verification itself is tested in test_audit_verify.py.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.chain import canonical_encoding
from portal.audit.record import event_fields
from portal.audit.tree_store import StoredTree
from portal.models import AuditEvent, AuditLeaf
from tests.support.audit_log import sequence_all


def expected_leaf_hash(event: AuditEvent) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 || leaf data), the leaf data being the canonical encoding."""
    return hashlib.sha256(b"\x00" + canonical_encoding(event_fields(event))).digest()


def expected_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1's MTH, straight from its recursive definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of 2 below n
    left, right = expected_root(leaves[:split]), expected_root(leaves[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def assert_one_tree(session: Session) -> list[int]:
    """Sequence everything waiting, then check the log is one tree holding every recorded event
    exactly once; returns the event numbers in tree order."""
    sequence_all(session)
    leaves = list(session.scalars(sa.select(AuditLeaf).order_by(AuditLeaf.leaf_index)))
    events = {event.seq: event for event in session.scalars(sa.select(AuditEvent))}
    assert [leaf.leaf_index for leaf in leaves] == list(range(len(leaves)))
    placed = Counter(leaf.event_seq for leaf in leaves)
    assert [seq for seq, times in placed.items() if times > 1] == []
    assert set(placed) == set(events), "every recorded event, and only those, is in the tree"
    for leaf in leaves:
        assert leaf.hash == expected_leaf_hash(events[leaf.event_seq]), leaf.event_seq
    hashes = [leaf.hash for leaf in leaves]
    assert StoredTree(session).root(len(hashes)) == expected_root(hashes)
    return [leaf.event_seq for leaf in leaves]
