"""The tree recomputed from the events: each leaf's hash from its event's columns, compared
with the stored leaf; the roots, at every checkpoint's size, compared with the signed ones.

The leaves are read in order, joined to their events, from one server-side cursor a batch at a
time (memory stays flat, one snapshot). On PostgreSQL the database hands over ids and details
as the text the canonical encoding needs; any leaf whose hash then disagrees is judged again
from the event as stored (event_fields), so the fast read can make a check faster, never
laxer. The first problem stops the walk: everything after it would disagree too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from portal.audit import merkle
from portal.audit.actions import AuditAction
from portal.audit.legacy_chain import LegacyChain
from portal.audit.verify_leaves import About, judge_leaf, leaf_rows, missing_event
from portal.audit.verify_report import (
    DELETED,
    REORDERED,
    REWRITTEN,
    TRUNCATED,
    Damage,
    VerificationReport,
)

BATCH = 10_000
PROGRESS_EVERY = 1_000
_CHECKPOINT_SIGNED = AuditAction.AUDIT_CHECKPOINT_SIGNED.value


@dataclass
class Walk:
    """One walk's inputs and state: the tree so far (resumed from a checked frontier for an
    incremental check), the roots to meet, and the last size whose root matched."""

    tree: merkle.CompactRange
    roots: dict[int, tuple[bytes, str]]
    head_sizes: frozenset[int]
    chain: LegacyChain | None
    report: VerificationReport
    progress: Callable[[int], None]
    good_size: int = 0
    first_after_good: int | None = None
    pending: list[bytes] = field(default_factory=list)


def walk_tree(session: Session, walk: Walk) -> None:
    """Recompute every leaf from walk.tree.size on; problems go to walk.report."""
    report, expected = walk.report, walk.tree.size
    walk.good_size, found_before = expected, len(report.problems)
    postgres = session.get_bind().dialect.name == "postgresql"
    with contextlib.closing(leaf_rows(session, expected, postgres, BATCH)) as rows:
        for index, event_seq, stored, encoding, about in rows:
            report.leaves_read += 1
            damage, encoding = _check_leaf(session, walk, expected, index, event_seq, stored,
                                           encoding)  # fmt: skip
            if damage is None and encoding is not None:
                damage = _check_event(walk, index, encoding, about)
            if damage is None:
                expected += 1
                damage = _reached(walk, expected)
            if damage is not None:
                report.add(damage)
                break
            if index == walk.good_size:
                walk.first_after_good = event_seq
            if expected % PROGRESS_EVERY == 0:
                walk.progress(expected)
    _flush(walk)
    report.tree_size = walk.tree.size
    report.events_checked = walk.tree.size - report.from_size
    walk.progress(walk.tree.size)
    if len(report.problems) == found_before:
        _beyond_the_end(walk)


def _check_leaf(
    session: Session,
    walk: Walk,
    expected: int,
    index: int,
    event_seq: int,
    stored: bytes,
    encoding: bytes | None,
) -> tuple[Damage | None, bytes | None]:
    """The leaf is the next one, its event exists, and its columns give its hash (the
    recomputed hash is queued for the tree); returns the event's encoding as judged."""
    if index != expected:
        return Damage(
            DELETED,
            None,
            f"Leaves {expected + 1} to {index} of the log's tree are missing: they were deleted.",
            expected,
        ), None
    if encoding is None:
        return missing_event(session, index, event_seq), None
    leaf = merkle.leaf_hash(encoding)
    if leaf != stored:
        encoding, damage = judge_leaf(session, index, event_seq, stored)
        if damage is not None:
            return damage, None
        leaf = stored
    walk.pending.append(leaf)
    return None, encoding


def _check_event(walk: Walk, index: int, encoding: bytes, about: About) -> Damage | None:
    """The old chain, for events recorded before the tree; and a person's checkpoint event
    names a checkpoint the database still has."""
    seq, action, object_type, object_id, prev_hash, chain_hash = about
    if walk.chain is not None:
        damage = walk.chain.feed(seq, encoding, prev_hash, chain_hash, index)
        if damage is not None:
            return damage
    elif prev_hash is not None or chain_hash is not None:
        return Damage(
            REORDERED,
            seq,
            f"Event {seq} carries a hash of the old chain but comes after the tree's "
            "first checkpoint: it was moved.",
            index,
        )
    if action == _CHECKPOINT_SIGNED:
        return _checkpoint_event(walk, index, seq, object_type, object_id)
    return None


def _checkpoint_event(
    walk: Walk, index: int, seq: int, object_type: str | None, object_id: str | None
) -> Damage | None:
    if object_type == "audit_tree_head" and object_id is not None:
        known = object_id.isdigit() and int(object_id) in walk.head_sizes
        what = f"a checkpoint of {object_id} events"
    else:
        known = walk.chain is None or seq in walk.chain.checkpoint_seqs
        what = f"the old checkpoint at event {seq}"
    if known:
        return None
    return Damage(
        REWRITTEN,
        seq,
        f"Event {seq} records that {what} was signed, but the database no longer has it: "
        "checkpoints were deleted, as someone rewriting the log would need to.",
        index,
    )


def _reached(walk: Walk, size: int) -> Damage | None:
    """After leaf `size`: at a checkpoint's size, the root must be the signed one."""
    if size not in walk.roots:
        if len(walk.pending) >= BATCH:
            _flush(walk)
        return None
    _flush(walk)
    root, source = walk.roots[size]
    if walk.tree.root() == root:
        walk.good_size, walk.first_after_good = size, None
        return None
    first = walk.first_after_good
    return Damage(
        REWRITTEN,
        first,
        f"The log no longer matches the checkpoint of {size} events {source}: the events "
        f"after the first {walk.good_size} (from event {first}) were changed, moved or "
        "removed and the tree recomputed without the signing key.",
        walk.good_size,
    )


def _flush(walk: Walk) -> None:
    if walk.pending:
        walk.tree.append_many(walk.pending)
        walk.pending.clear()


def _beyond_the_end(walk: Walk) -> None:
    size = walk.tree.size
    beyond = [signed for signed in walk.roots if signed > size]
    if beyond:
        walk.report.add(
            Damage(
                TRUNCATED,
                None,
                f"A checkpoint of {min(beyond)} events was signed, but the log's tree now ends "
                f"after {size}: the events after it were deleted (or the database was restored "
                "from a backup older than that checkpoint).",
                size,
            )
        )
