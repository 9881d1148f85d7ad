"""Witness damage found from what is absent: a checkpoint store that holds nothing though
checkpoints were due there long ago, a time-stamp missing between two that exist, and
time-stamps whose times go backwards as the tree grows.

The witnesses are handed every head smallest first, and retried until they take it, so in an
honest log the store's notes and the TSA's tokens each form an unbroken run from the oldest
head: a gap below a later witnessed head, or a later head stamped earlier, is a record removed
(and perhaps made again afterwards, which gives the later time). An empty store while the
database holds old heads is a store that is not the one the heads went to (an unmounted
volume, a directory emptied), which would otherwise read as "nothing witnessed yet".
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.verify_report import WITNESS, Damage
from portal.models import AuditTreeHead, AuditWitness, AuditWitnessRecord
from portal.models.base import utcnow

# How long past two checkpoint intervals a head may wait for the store before its absence
# from an empty store is damage (the sequencer retries an unreachable store meanwhile).
GRACE = timedelta(minutes=5)


def empty_store(session: Session, interval_seconds: int) -> Damage | None:
    """The store was read and holds no note, while the database has heads signed more than
    two intervals (and the grace) ago."""
    oldest, count = session.execute(
        sa.select(sa.func.min(AuditTreeHead.signed_at), sa.func.count())
    ).one()
    if oldest is None:
        return None
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=utcnow().tzinfo)
    if utcnow() - oldest <= timedelta(seconds=2 * interval_seconds) + GRACE:
        return None
    return Damage(
        WITNESS,
        None,
        f"The checkpoint store holds none of the {count} checkpoints, the oldest signed long "
        "before it was due there: it is not the store they were handed to (a volume not "
        "mounted, a directory emptied or replaced).",
        0,
    )


def tsa_gaps(session: Session, from_size: int) -> Damage | None:
    """The first head from `from_size` on that lacks a TSA record while a later head has
    one: its token was deleted."""
    stamped = sa.select(AuditWitnessRecord.tree_size).where(
        AuditWitnessRecord.witness == AuditWitness.TSA,
        AuditWitnessRecord.tree_size >= from_size,
    )
    newest = session.scalar(sa.select(sa.func.max(stamped.subquery().c.tree_size)))
    if newest is None:
        return None
    gap = session.scalar(
        sa.select(sa.func.min(AuditTreeHead.tree_size)).where(
            AuditTreeHead.tree_size >= from_size,
            AuditTreeHead.tree_size < newest,
            AuditTreeHead.tree_size.not_in(stamped),
        )
    )
    if gap is None:
        return None
    return Damage(
        WITNESS,
        None,
        f"The checkpoint of {gap} events has no time-stamp, although the later one of {newest} "
        "has: its token was deleted (the time-stamps are taken in order).",
        int(gap),
    )


def stamps_out_of_order(stamped_at: dict[int, datetime]) -> Damage | None:
    """The TSA's times must not go backwards as the tree grows: a later head stamped before
    an earlier one means the earlier one's token was replaced by one taken afterwards."""
    latest: tuple[int, datetime] | None = None
    for size in sorted(stamped_at):
        moment = stamped_at[size]
        if latest is not None and moment < latest[1]:
            return Damage(
                WITNESS,
                None,
                f"The checkpoint of {size} events was time-stamped before the earlier one of "
                f"{latest[0]}: that one's token was removed and taken again afterwards.",
                latest[0],
            )
        if latest is None or moment > latest[1]:
            latest = (size, moment)
    return None
