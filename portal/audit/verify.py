"""Recomputing the audit chain and checking every signed checkpoint.

The first problem found is reported with its sequence number and kind:

- `changed`: an event's fields no longer match its hash, or its link to the one before does;
- `deleted`: a sequence number is missing;
- `reordered`: an event links to an event that is not the one before it;
- `truncated`: a signed checkpoint covers events that are no longer there;
- `rewritten`: the chain is consistent but does not match a signed checkpoint, or a
  checkpoint's signature is not from a trusted key: someone rewrote history without the
  signing key. The sequence number is the first event after the last checkpoint that matched.

Events after the newest checkpoint are protected by the chain alone: removing some from the
end is found only once a later checkpoint was signed (hence signing every few minutes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.chain import GENESIS_HASH, checkpoint_message, content_digest, link
from portal.audit.record import event_fields
from portal.audit.signing import PublicKey
from portal.models import AuditCheckpoint, AuditEvent

BATCH = 2000


@dataclass(frozen=True)
class Damage:
    kind: str
    seq: int
    explanation: str


@dataclass
class VerificationReport:
    events_checked: int = 0
    checkpoints_checked: int = 0
    head_seq: int = 0
    last_checkpoint_seq: int | None = None
    damage: Damage | None = None
    untrusted_keys: set[str] = field(default_factory=set)

    @property
    def intact(self) -> bool:
        return self.damage is None


def verify_trail(session: Session, trusted_keys: Iterable[PublicKey]) -> VerificationReport:
    keys = {key.key_id: key for key in trusted_keys}
    report = VerificationReport()
    checkpoints = list(session.scalars(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))
    for checkpoint in checkpoints:
        key = keys.get(checkpoint.key_id)
        message = checkpoint_message(checkpoint.seq, checkpoint.head_hash, checkpoint.signed_at)
        if key is None or not key.verifies(message, checkpoint.signature):
            report.damage = Damage(
                "rewritten",
                checkpoint.seq,
                f"The checkpoint at event {checkpoint.seq} is not signed by a trusted key: it was "
                "made or altered without the signing key.",
            )
            return report
    report.checkpoints_checked = len(checkpoints)
    report.last_checkpoint_seq = checkpoints[-1].seq if checkpoints else None
    _walk_chain(session, report, {c.seq: c for c in checkpoints})
    return report


def _walk_chain(
    session: Session, report: VerificationReport, checkpoints: dict[int, AuditCheckpoint]
) -> None:
    expected, previous, last_good_checkpoint = 1, GENESIS_HASH, 0
    for event in _events(session):
        damage = _check_event(session, event, expected, previous)
        if (
            damage is None
            and event.action == AuditAction.AUDIT_CHECKPOINT_SIGNED.value
            and event.seq not in checkpoints
        ):
            damage = Damage(
                "rewritten",
                event.seq,
                f"A checkpoint was signed at event {event.seq}, but it is no longer stored: "
                "checkpoints were deleted, as someone rewriting the trail would need to.",
            )
        if damage is None and event.seq in checkpoints:
            if checkpoints[event.seq].head_hash != event.hash:
                damage = Damage(
                    "rewritten",
                    last_good_checkpoint + 1,
                    f"The chain no longer matches the checkpoint signed at event {event.seq}: "
                    f"events {last_good_checkpoint + 1} to {event.seq} were rewritten without "
                    "the signing key.",
                )
            else:
                last_good_checkpoint = event.seq
        if damage is not None:
            report.damage = damage
            return
        report.events_checked += 1
        report.head_seq = event.seq
        expected, previous = event.seq + 1, event.hash
    beyond = [seq for seq in checkpoints if seq > report.head_seq]
    if beyond:
        report.damage = Damage(
            "truncated",
            report.head_seq + 1,
            f"A checkpoint was signed at event {min(beyond)}, but the trail now ends at event "
            f"{report.head_seq}: the events after it were deleted.",
        )


def _check_event(session: Session, event: Any, expected: int, previous: bytes) -> Damage | None:
    if event.seq != expected:
        return Damage(
            "deleted",
            expected,
            f"Event {expected} is missing (the next event is {event.seq}).",
        )
    if event.prev_hash != previous:
        elsewhere = session.scalar(
            sa.select(AuditEvent.seq).where(AuditEvent.hash == event.prev_hash)
        )
        if elsewhere is not None:
            return Damage(
                "reordered",
                event.seq,
                f"Event {event.seq} follows event {elsewhere}, not event {event.seq - 1}: events "
                "were moved.",
            )
        return Damage(
            "changed",
            event.seq,
            f"Event {event.seq}'s link to the event before it was altered.",
        )
    if link(event.prev_hash, content_digest(event_fields(event))) != event.hash:
        return Damage(
            "changed",
            event.seq,
            f"Event {event.seq} was changed after it was recorded: its fields no longer match "
            "its hash.",
        )
    return None


def _events(session: Session) -> Iterable[Any]:
    """Every event in order as plain rows, a batch at a time (keyset on seq: memory stays
    flat, and no ORM objects are built for what is only read once)."""
    table = AuditEvent.__table__
    after = 0
    while True:
        batch = session.execute(
            sa.select(table).where(table.c.seq > after).order_by(table.c.seq).limit(BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].seq
