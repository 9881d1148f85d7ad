"""Audit events and the Merkle tree log over them (written through portal.audit only).

An action's transaction inserts its event row and nothing else; the sequencer
(portal/audit/sequencer.py) later gives each committed event its place in the tree
(`audit_leaves`), keeps the tree's completed subtrees (`audit_tree_nodes`), and signs tree heads
(`audit_tree_heads`) that witnesses outside the database keep (`audit_witness_records`). Every
audit table is append-only but the sequencer's own bookmark, `audit_sequencer_state`.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, enum_type


class AuditOutcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # Every search filter walks one of these in seq order (keyset pagination, never OFFSET).
    __table_args__ = (
        sa.Index(None, "case_reference", "seq"),
        sa.Index(None, "actor_user_id", "seq"),
        sa.Index(None, "actor_organisation_id", "seq"),
        sa.Index(None, "action", "seq"),
        sa.Index(None, "outcome", "seq"),
        sa.Index(None, "occurred_at"),
        # When the council first read a version, for the partner's request page.
        sa.Index(None, "object_id", "action"),
        # The sequencer's search for committed events not yet in the tree.
        sa.Index(None, "xact", "seq"),
    )

    # The event's number: from the PostgreSQL sequence `audit_event_numbers` (gaps allowed; not
    # the order of commits), max + 1 on SQLite (one writer at a time). Its place in the tree,
    # in commit order, is its `AuditLeaf.leaf_index`.
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    # Plain ids, not foreign keys: the trail outlives the rows it speaks of.
    actor_user_id: Mapped[uuid.UUID | None]
    actor_organisation_id: Mapped[uuid.UUID | None]
    # The actor's roles at the time, comma-separated.
    actor_role: Mapped[str | None] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str | None] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    case_reference: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[AuditOutcome] = mapped_column(enum_type(AuditOutcome))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    client_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The inserting top-level transaction's id on PostgreSQL (NULL on SQLite): how the
    # sequencer finds committed events it has not yet placed without any lock on the writers.
    xact: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The hash chain of events recorded before migration 0013 (NULL for later events): kept so
    # that the old chain, whose head the first tree checkpoint records, still verifies.
    prev_hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), unique=True)


class AuditCheckpoint(Base):
    """Before migration 0013: a signed statement of the chain's head: "event `seq` had hash
    `head_hash` at `signed_at`", signed with an Ed25519 key kept outside the database.
    Append-only, like the events; still verified against the chain of the events before it."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    signed_at: Mapped[datetime]
    # The first 16 hex digits of the SHA-256 of the raw public key.
    key_id: Mapped[str] = mapped_column(sa.String(32))
    signature: Mapped[bytes] = mapped_column(sa.LargeBinary(64))


class AuditLeaf(Base):
    """An event's place in the tree: leaf `leaf_index` (0-based) is event `event_seq`, whose
    leaf hash is SHA-256(0x00 || its canonical encoding) (RFC 9162)."""

    __tablename__ = "audit_leaves"

    leaf_index: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    event_seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class AuditTreeNode(Base):
    """A completed perfect subtree of level >= 1: leaves [index·2^level, (index+1)·2^level).
    A cache for proofs; verification checks what it uses against a signed root."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class AuditSequencerState(Base):
    """The sequencer's bookmark (one row, id 1), locked by each pass: how big the tree is, and
    below which transaction id (PostgreSQL) or event number (SQLite) everything is placed."""

    __tablename__ = "audit_sequencer_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger)
    # PostgreSQL: every event of a transaction below this id is in the tree.
    low_xact: Mapped[int] = mapped_column(sa.BigInteger)
    # SQLite: every event up to this number is in the tree.
    last_seq: Mapped[int] = mapped_column(sa.BigInteger)
    # The hash chain's last event and head before migration 0013, for the first checkpoint.
    legacy_head_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    legacy_head_hash: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    updated_at: Mapped[datetime]


class AuditTreeHead(Base):
    """A signed tree head: a C2SP checkpoint ("<origin>\\n<size>\\n<base64 root>\\n…") signed as
    a signed note with the audit key (portal/audit/note.py). `note` is the whole signed text,
    exactly as the witnesses received it."""

    __tablename__ = "audit_tree_heads"

    tree_size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    signed_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(sa.String(32))
    note: Mapped[str] = mapped_column(sa.Text)


class AuditWitness(enum.StrEnum):
    STORE = "store"  # the append-only checkpoint store outside the database
    TSA = "tsa"  # an RFC 3161 time-stamping authority


class AuditWitnessRecord(Base):
    """A witness holds a tree head: the store wrote it (`token` empty), or the TSA stamped it
    (`token` is the RFC 3161 TimeStampToken over SHA-256 of the note)."""

    __tablename__ = "audit_witness_records"

    tree_size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[AuditWitness] = mapped_column(enum_type(AuditWitness), primary_key=True)
    token: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    witnessed_at: Mapped[datetime]
