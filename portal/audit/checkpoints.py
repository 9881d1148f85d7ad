"""Signed tree heads: C2SP checkpoints of the audit log's Merkle tree, signed with the audit
key as signed notes (portal/audit/note.py), kept in `audit_tree_heads` and handed to the
witnesses outside the database (portal/audit/witnessing.py).

The sequencer signs one every `[audit] checkpoint_interval_seconds` if the tree grew, and as
soon as `checkpoint_after_events` events were added; the IG officer can ask for one at once.
Periodic checkpoints record no audit event (each would grow the tree, and an idle log would
then never stop signing); one asked for by a person does.

The first tree head signed after migration 0013 carries the extension line
`portal-chain-head <seq> <hex hash>`: the hash chain's last head, which the events before the
migration (the tree's first leaves) had reached, so the old chain stays anchored.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.note import CheckpointBody, sign_note
from portal.audit.record import Actor, record_event
from portal.audit.sequencer import tree_size
from portal.audit.signing import CheckpointSigner
from portal.audit.tree_store import StoredTree
from portal.models import AuditSequencerState, AuditTreeHead
from portal.models.base import utcnow

CHAIN_HEAD = "portal-chain-head"
_LAST_SIZE = 10**18


class TreeShrank(RuntimeError):
    """The tree is smaller than a checkpoint already signed: never sign over that."""


def latest_tree_head(session: Session) -> AuditTreeHead | None:
    return session.scalar(
        sa.select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1)
    )


@dataclass(frozen=True)
class TreeHeadList:
    """A page of tree heads, newest first, and where the next older page starts."""

    heads: list[AuditTreeHead]
    older: int | None


def tree_head_list(session: Session, before: int | None, size: int) -> TreeHeadList:
    """Up to `size` tree heads smaller than `before` (the newest, without it)."""
    query = sa.select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc())
    if before is not None:
        # Any number the address holds, kept within what the column (a 64-bit integer) takes.
        query = query.where(AuditTreeHead.tree_size < max(0, min(before, _LAST_SIZE)))
    rows = list(session.scalars(query.limit(size + 1)))
    return TreeHeadList(rows[:size], rows[size - 1].tree_size if len(rows) > size else None)


def chain_head_line(session: Session) -> tuple[str, ...]:
    """The extension line the first tree head carries, if there was a chain before it."""
    state = session.get(AuditSequencerState, 1)
    if state is None or state.legacy_head_seq is None or state.legacy_head_hash is None:
        return ()
    return (f"{CHAIN_HEAD} {state.legacy_head_seq} {state.legacy_head_hash.hex()}",)


def sign_tree_head(
    session: Session,
    signer: CheckpointSigner,
    origin: str,
    *,
    asked_by: Actor | None = None,
) -> AuditTreeHead | None:
    """Sign the tree as the sequencer has built it, in the caller's transaction; returns the
    new head, or the latest when the tree has not grown since (None for an empty log).

    The sequencer's bookmark is locked first, as its passes lock it: the tree cannot grow
    between reading its size and signing it, and two signers (the sequencer and an IG
    officer's button) sign one after the other, the second finding nothing new."""
    session.get(AuditSequencerState, 1, with_for_update=True)
    size = tree_size(session)
    latest = latest_tree_head(session)
    if latest is not None and latest.tree_size > size:
        raise TreeShrank(
            f"The tree holds {size} events but a checkpoint of {latest.tree_size} was signed: "
            "leaves were removed. Run `portal audit verify`."
        )
    if latest is not None and latest.tree_size == size:
        return latest
    if latest is None and size == 0:
        return None
    extensions = chain_head_line(session) if latest is None else ()
    body = CheckpointBody(origin, size, StoredTree(session).root(size), extensions)
    head = AuditTreeHead(
        tree_size=size,
        root_hash=body.root,
        signed_at=utcnow(),
        key_id=signer.public.key_id,
        note=sign_note(body, signer, origin),
    )
    session.add(head)
    session.flush()
    if asked_by is not None:
        record_event(
            session,
            AuditAction.AUDIT_CHECKPOINT_SIGNED,
            actor=asked_by,
            object_type="audit_tree_head",
            object_id=str(size),
            details={"key_id": head.key_id, "tree_size": size},
        )
    return head
