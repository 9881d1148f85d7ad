"""Checking the audit log: every event against the tree, the tree against the signed
checkpoints, the checkpoints against the witnesses outside the database.

`verify_log` checks everything; `verify_since` starts from a checkpoint an earlier check
verified, whose stored frontier it first checks against that checkpoint's signed, witnessed
root, and recomputes only the leaves after it. Both report what they checked, the last
witnessed checkpoint and how many events lie after it, the checkpoints not yet witnessed, and
the first damage (portal/audit/verify_report.py says which kinds; docs/audit.md, what each
means and what cannot be proven).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import merkle
from portal.audit.actions import AuditAction
from portal.audit.legacy_chain import LegacyChain
from portal.audit.sequencer import waiting
from portal.audit.signing import PublicKey
from portal.audit.tree_store import MissingNode, StoredTree
from portal.audit.verify_hidden import hidden_events, without_leaf
from portal.audit.verify_leaves import duplicate_event
from portal.audit.verify_report import REWRITTEN, UNSIGNED, Damage, VerificationReport
from portal.audit.verify_tree import Walk, walk_tree
from portal.audit.verify_witnesses import HeadCheck, Trust, WitnessConfig, check_heads
from portal.models import (
    AuditEvent,
    AuditLeaf,
    AuditTreeHead,
    AuditWitness,
    AuditWitnessRecord,
)
from portal.models.base import utcnow

Progress = Callable[[int], None]
DEFAULT_INTERVAL_SECONDS = 60


def verify_log(
    session: Session,
    trusted_keys: Iterable[PublicKey],
    origin: str,
    witnesses: WitnessConfig,
    progress: Progress | None = None,
    *,
    checkpoint_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
) -> VerificationReport:
    """Check the whole log; `progress` is told how many leaves are checked as it goes."""
    trust = Trust(tuple(trusted_keys), origin, witnesses, checkpoint_interval_seconds)
    heads = check_heads(session, trust)
    report = _report(trust, heads, 0)
    chain = LegacyChain(session)
    walk = Walk(merkle.CompactRange(), heads.roots, _head_sizes(session), chain, report,
                progress or _untold)  # fmt: skip
    report.add(duplicate_event(session, 0))
    found_before = len(report.problems)
    walk_tree(session, walk)
    if len(report.problems) == found_before:  # a walk cut short leaves the chain unfinished
        for damage in chain.finish(heads.first, trust.keys):
            report.add(damage)
    report.legacy_events = chain.count
    report.legacy_checkpoints_checked = len(chain.checkpoints)
    _finish(session, report, heads, checkpoint_interval_seconds)
    return report


def verify_since(
    session: Session,
    trusted_keys: Iterable[PublicKey],
    origin: str,
    witnesses: WitnessConfig,
    from_size: int,
    progress: Progress | None = None,
    *,
    checkpoint_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
) -> VerificationReport:
    """Check the leaves after the newest checkpoint the store witnessed at or below
    `from_size` (a full check when there is none), and every checkpoint from there on."""
    trust = Trust(tuple(trusted_keys), origin, witnesses, checkpoint_interval_seconds)
    start = _witnessed_start(session, from_size)
    heads = check_heads(session, trust, start) if start else None
    if heads is None or start not in heads.witnessed:
        return verify_log(
            session, trust.keys, origin, witnesses, progress,
            checkpoint_interval_seconds=checkpoint_interval_seconds,
        )  # fmt: skip
    report = _report(trust, heads, start)
    tree = _checked_frontier(session, start, heads.roots[start][0], report)
    if tree is not None:
        walk = Walk(tree, heads.roots, _head_sizes(session), None, report, progress or _untold)
        report.add(duplicate_event(session, start))
        walk_tree(session, walk)
    else:
        report.tree_size = start
    _finish(session, report, heads, checkpoint_interval_seconds, whole=False)
    return report


def _untold(_checked: int) -> None:
    pass


def _report(trust: Trust, heads: HeadCheck, start: int) -> VerificationReport:
    report = VerificationReport(
        from_size=start,
        tree_size=start,
        heads_checked=heads.heads_checked,
        witnessed=heads.witnessed,
        unwitnessed=heads.unwitnessed,
        tokens_checked=heads.tokens_checked,
        store_configured=trust.witnesses.store is not None,
        tsa_configured=trust.witnesses.tsa_roots is not None,
    )
    for damage in heads.problems:
        report.add(damage)
    return report


def _head_sizes(session: Session) -> frozenset[int]:
    return frozenset(session.scalars(sa.select(AuditTreeHead.tree_size)))


def _witnessed_start(session: Session, from_size: int) -> int:
    """The largest checkpoint at or below `from_size` that the store is recorded as holding
    (check_heads then checks the store does hold it)."""
    found = session.scalar(
        sa.select(sa.func.max(AuditWitnessRecord.tree_size)).where(
            AuditWitnessRecord.witness == AuditWitness.STORE,
            AuditWitnessRecord.tree_size <= from_size,
        )
    )
    return int(found or 0)


def _checked_frontier(
    session: Session, start: int, signed_root: bytes, report: VerificationReport
) -> merkle.CompactRange | None:
    """The tree's right edge at `start` from the stored subtrees, if it folds to the signed,
    witnessed root: a cache someone altered cannot pass."""
    try:
        tree = merkle.CompactRange(start, StoredTree(session).frontier(start))
    except MissingNode as missing:
        tree = None
        why = f"{missing}: it was deleted"
    else:
        why = "they do not add up to its signed root: they were altered"
    if tree is not None and tree.root() == signed_root:
        return tree
    report.add(
        Damage(
            REWRITTEN,
            None,
            f"The stored tree for the first {start} events cannot be the witnessed checkpoint "
            f"of {start} ({why}). Run a full check to find what was changed.",
            start,
        )
    )
    return None


def _finish(
    session: Session,
    report: VerificationReport,
    heads: HeadCheck,
    interval: int,
    *,
    whole: bool = True,
) -> None:
    """The events the tree does not hold. The full check looks at every event, and finds those
    hidden from the sequencer; the incremental one counts only those past the sequencer's
    bookmark, so that its cost follows the new events (hidden events are the full check's)."""
    if not whole:
        report.unsequenced = waiting(session)
    else:
        report.unsequenced = unsequenced(session)
        for damage in hidden_events(session, report.tree_size):
            report.add(damage)
    if heads.heads_checked == 0 and not heads.roots and not report.problems:
        report.add(_unsigned(session, interval))


def _unsigned(session: Session, interval: int) -> Damage | None:
    """Events and no checkpoint at all, the oldest older than two checkpoint intervals."""
    oldest = session.scalar(sa.select(sa.func.min(AuditEvent.occurred_at)))
    if oldest is None:
        return None
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=utcnow().tzinfo)
    if utcnow() - oldest <= timedelta(seconds=2 * interval):
        return None
    return Damage(
        UNSIGNED,
        None,
        "The log holds events but no signed checkpoint, although one is signed every "
        f"{interval} seconds: checkpoints were deleted, or the sequencer is not running.",
        0,
    )


def unsequenced(session: Session) -> int:
    """Every event recorded but not in the tree: those the sequencer will still place and
    those hidden from it (which are damage too), so no event escapes the count of those no
    witness vouches for."""
    return without_leaf(session)


def last_verified_size(session: Session) -> int:
    """The tree size the newest trustworthy intact check recorded (`audit_verified`), or 0
    (a full check).

    Its event must itself be a leaf before the newest checkpoint the store is recorded as
    holding (so the signed, witnessed tree vouches for it: a row inserted around the
    application is not), say intact, and name a size no larger than its own place in the tree
    (a check can only vouch for what came before it). A later placed check that found damage
    means no earlier intact one may be started from."""
    witnessed = session.scalar(
        sa.select(sa.func.max(AuditWitnessRecord.tree_size)).where(
            AuditWitnessRecord.witness == AuditWitness.STORE
        )
    )
    if not witnessed:
        return 0
    checks = session.execute(
        sa.select(AuditLeaf.leaf_index, AuditEvent.details)
        .outerjoin(AuditLeaf, AuditLeaf.event_seq == AuditEvent.seq)
        .where(AuditEvent.action == AuditAction.AUDIT_VERIFIED.value)
        .order_by(AuditLeaf.leaf_index.is_(None).desc(), AuditLeaf.leaf_index.desc())
    )
    for leaf_index, details in checks:
        if not (isinstance(details, dict) and details.get("intact") is True):
            return 0  # a later check found damage (one not yet placed counts too)
        if leaf_index is None or leaf_index >= witnessed:
            continue  # not yet vouched for by a witnessed checkpoint
        size = details.get("tree_size")
        return size if isinstance(size, int) and 0 <= size <= leaf_index else 0
    return 0
