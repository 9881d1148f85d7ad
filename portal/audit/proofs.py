"""Proofs from the audit log for people outside the council: which leaf an event is, the
newest witnessed tree head, inclusion proofs against it and consistency proofs between heads.

Everything here reads only the tree (`audit_leaves`, `audit_tree_nodes`), its signed heads and
their witness records, and, for `logged_leaf`, the one event asked for by its object: never a
case. A proof made from the stored nodes is only as good as its check against a signed root,
which is the reader's to make (portal/receipts/proof_check.py, scripts/verify-receipt.py).

A tree head counts as witnessed once both witnesses hold it: the checkpoint store outside the
database and the time-stamping authority (docs/audit.md). Only witnessed heads are handed out:
one the database alone holds proves nothing a superuser could not rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.chain import canonical_encoding
from portal.audit.record import event_fields
from portal.audit.tree_store import StoredTree
from portal.models import AuditEvent, AuditLeaf, AuditTreeHead, AuditWitness, AuditWitnessRecord

# The largest tree size a request may name: the column is a signed 64-bit integer.
LARGEST_SIZE = 2**63 - 1


def _witnessed_by(witness: AuditWitness) -> sa.Exists:
    return (
        sa.exists()
        .where(AuditWitnessRecord.tree_size == AuditTreeHead.tree_size)
        .where(AuditWitnessRecord.witness == witness)
    )


def _witnessed() -> sa.Select[AuditTreeHead]:
    return (
        sa.select(AuditTreeHead)
        .where(_witnessed_by(AuditWitness.STORE))
        .where(_witnessed_by(AuditWitness.TSA))
    )


def latest_witnessed_head(session: Session) -> AuditTreeHead | None:
    """The newest tree head both witnesses hold, or None while there is none."""
    return session.scalar(_witnessed().order_by(AuditTreeHead.tree_size.desc()).limit(1))


def witnessed_head(session: Session, size: int) -> AuditTreeHead | None:
    """The witnessed tree head of exactly this size, if there is one."""
    if not 0 <= size <= LARGEST_SIZE:
        return None
    return session.scalar(_witnessed().where(AuditTreeHead.tree_size == size))


def timestamp_token(session: Session, size: int) -> bytes | None:
    """The TSA's RFC 3161 token over the head of this size, as the witnessing kept it."""
    return session.scalar(
        sa.select(AuditWitnessRecord.token).where(
            AuditWitnessRecord.tree_size == size, AuditWitnessRecord.witness == AuditWitness.TSA
        )
    )


def consistency_hashes(session: Session, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 consistency proof from the tree of `old_size` to that of `new_size`, made from
    the stored tree (tree_store.MissingNode when a hash it needs was deleted)."""
    return StoredTree(session).consistency_proof(old_size, new_size)


@dataclass(frozen=True)
class LoggedLeaf:
    """An event as a leaf: its canonical encoding (the leaf data) and, once the sequencer has
    placed it, its index in the tree."""

    event_seq: int
    data: bytes
    leaf_index: int | None


def logged_leaves(session: Session, action: str, object_ids: list[str]) -> dict[str, LoggedLeaf]:
    """The leaf of the `action` event about each of `object_ids` (the first, should there be
    more than one), keyed by object id; ids with no such event are left out."""
    if not object_ids:
        return {}
    rows = session.execute(
        sa.select(AuditEvent, AuditLeaf.leaf_index)
        .outerjoin(AuditLeaf, AuditLeaf.event_seq == AuditEvent.seq)
        .where(AuditEvent.object_id.in_(object_ids), AuditEvent.action == action)
        .order_by(AuditEvent.seq)
    ).all()
    found: dict[str, LoggedLeaf] = {}
    for event, leaf_index in rows:
        data = canonical_encoding(event_fields(event))
        found.setdefault(str(event.object_id), LoggedLeaf(event.seq, data, leaf_index))
    return found


@dataclass(frozen=True)
class Inclusion:
    """A leaf's inclusion in a witnessed tree head, with the head's time-stamp token."""

    head: AuditTreeHead
    proof: list[bytes]
    token: bytes | None


def inclusion_in_witnessed(session: Session, leaf_index: int) -> Inclusion | None:
    """The leaf's inclusion proof in the newest witnessed head, or None while no witnessed
    head covers it yet."""
    head = latest_witnessed_head(session)
    if head is None or head.tree_size <= leaf_index:
        return None
    proof = StoredTree(session).inclusion_proof(leaf_index, head.tree_size)
    return Inclusion(head, proof, timestamp_token(session, head.tree_size))
