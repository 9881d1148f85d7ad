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

import contextlib
import json
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.chain import GENESIS_HASH, checkpoint_message, content_digest, link, timestamp
from portal.audit.record import event_fields
from portal.audit.signing import PublicKey
from portal.models import AuditCheckpoint, AuditEvent

BATCH = 10_000
PROGRESS_EVERY = 1_000  # events between two calls of a `progress` callback
_CHECKPOINT_SIGNED = AuditAction.AUDIT_CHECKPOINT_SIGNED.value


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


def verify_trail(
    session: Session,
    trusted_keys: Iterable[PublicKey],
    progress: Callable[[int], None] | None = None,
) -> VerificationReport:
    """Check every checkpoint's signature, then walk the chain; `progress` is told how many
    events have been checked, every PROGRESS_EVERY and at the end."""
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
    _walk_chain(session, report, {c.seq: c for c in checkpoints}, progress or _untold)
    return report


def _untold(_checked: int) -> None:
    pass


def _walk_chain(
    session: Session,
    report: VerificationReport,
    checkpoints: dict[int, AuditCheckpoint],
    progress: Callable[[int], None],
) -> None:
    expected, previous, last_good_checkpoint = 1, GENESIS_HASH, 0
    damage: Damage | None = None
    with contextlib.closing(_events(session)) as events:
        for event, fields in events:
            if (
                event.seq != expected
                or event.prev_hash != previous
                or link(previous, content_digest(fields)) != event.hash
            ):
                # Something is wrong, or the fast read disagrees: judge the event as stored.
                damage = _check_event(
                    session, _stored_event(session, event.seq), expected, previous
                )
            if damage is None and (event.seq in checkpoints or event.action == _CHECKPOINT_SIGNED):
                damage = _checkpoint_damage(event, checkpoints, last_good_checkpoint)
                last_good_checkpoint = event.seq
            if damage is not None:
                report.damage = damage
                break
            expected, previous = event.seq + 1, event.hash
            if event.seq % PROGRESS_EVERY == 0:
                progress(event.seq)
    progress(expected - 1)
    report.events_checked = expected - 1
    report.head_seq = expected - 1
    beyond = [seq for seq in checkpoints if seq > report.head_seq]
    if beyond and damage is None:
        report.damage = Damage(
            "truncated",
            report.head_seq + 1,
            f"A checkpoint was signed at event {min(beyond)}, but the trail now ends at event "
            f"{report.head_seq}: the events after it were deleted.",
        )


def _checkpoint_damage(
    event: Any, checkpoints: dict[int, AuditCheckpoint], last_good_checkpoint: int
) -> Damage | None:
    checkpoint = checkpoints.get(event.seq)
    if checkpoint is None:
        return Damage(
            "rewritten",
            event.seq,
            f"A checkpoint was signed at event {event.seq}, but it is no longer stored: "
            "checkpoints were deleted, as someone rewriting the trail would need to.",
        )
    if checkpoint.head_hash != event.hash:
        return Damage(
            "rewritten",
            last_good_checkpoint + 1,
            f"The chain no longer matches the checkpoint signed at event {event.seq}: "
            f"events {last_good_checkpoint + 1} to {event.seq} were rewritten without "
            "the signing key.",
        )
    return None


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


def _events(session: Session) -> Generator[tuple[Any, dict[str, Any]], None, None]:
    """Every event in seq order with the fields its hash covers, from one server-side cursor
    read BATCH rows at a time: memory stays flat, the trail is read as of one snapshot, and no
    ORM objects are built for what is only read once.

    On PostgreSQL the database hands over ids and details as the text the encoding needs
    (event_fields would build UUID objects and parse JSON through the driver only to turn them
    back into text); a disagreement is judged again from the stored event, so this can make a
    check faster, never laxer.
    """
    table = AuditEvent.__table__
    options = {"yield_per": BATCH}
    if session.get_bind().dialect.name != "postgresql":
        statement = sa.select(table).order_by(table.c.seq)
        with session.execute(statement, execution_options=options) as rows:
            yield from ((row, event_fields(row)) for row in rows)
        return
    with session.execute(_AS_TEXT, execution_options=options) as rows:
        yield from ((row, _fields_from_text(row)) for row in rows)


def _fields_from_text(row: Any) -> dict[str, Any]:
    """event_fields, for a row of _AS_TEXT (unpacked by position: the hot loop of the check)."""
    (seq, occurred_at, user_id, organisation_id, role, action, object_type, object_id, case,
     outcome, request_id, client_address, user_agent, details, _, _) = row  # fmt: skip
    return {
        "seq": seq,
        "occurred_at": timestamp(occurred_at),
        "actor_user_id": user_id,
        "actor_organisation_id": organisation_id,
        "actor_role": role,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "case_reference": case,
        "outcome": outcome,
        "request_id": request_id,
        "client_address": client_address,
        "user_agent": user_agent,
        "details": _parse_json(details),
    }


def _stored_event(session: Session, seq: int) -> Any:
    """One event read the plain way, as event_fields expects it."""
    table = AuditEvent.__table__
    return session.execute(sa.select(table).where(table.c.seq == seq)).one()


# The columns of _AS_TEXT in the order _fields_from_text unpacks them.
_TEXT_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_user_id",
    "actor_organisation_id",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "case_reference",
    "outcome",
    "request_id",
    "client_address",
    "user_agent",
    "details",
    "prev_hash",
    "hash",
)


def _as_text_query() -> sa.Select[Any]:
    columns = AuditEvent.__table__.c
    as_text = {"actor_user_id", "actor_organisation_id", "outcome", "details"}
    return sa.select(
        *(
            sa.cast(columns[name], sa.Text).label(name) if name in as_text else columns[name]
            for name in _TEXT_COLUMNS
        )
    ).order_by(columns.seq)


_AS_TEXT = _as_text_query()
_parse_json = json.JSONDecoder().decode
