"""Reading the tree's leaves with their events for the check, and judging a leaf whose hash
disagrees: changed, moved (reordered), or gone (deleted, or truncated at the end)."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import merkle
from portal.audit.chain import canonical_encoding, timestamp
from portal.audit.record import event_fields
from portal.audit.verify_report import CHANGED, DELETED, REORDERED, TRUNCATED, Damage
from portal.models import AuditEvent, AuditLeaf

# Leaves either side of a disagreeing one searched for where its event belongs.
REORDER_WINDOW = 8

# (leaf index, event number, stored leaf hash, the event's fields or None, (prev_hash, hash))
LeafRow = tuple[int, int, bytes, dict[str, Any] | None, tuple[Any, Any]]

_EVENTS = AuditEvent.__table__
_LEAVES = AuditLeaf.__table__
# The event columns the fast read takes, in the order _fields_from_text unpacks them.
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
_AS_TEXT = frozenset({"actor_user_id", "actor_organisation_id", "outcome", "details"})


def _joined(columns: list[Any]) -> sa.Select[Any]:
    leaves = _LEAVES.c
    return (
        sa.select(
            leaves.leaf_index.label("leaf_index"),
            leaves.event_seq.label("leaf_event"),
            leaves.hash.label("leaf_hash"),
            *columns,
        )
        .select_from(_LEAVES.outerjoin(_EVENTS, _EVENTS.c.seq == leaves.event_seq))
        .where(leaves.leaf_index >= sa.bindparam("start"))
        .order_by(leaves.leaf_index)
    )


_FAST = _joined(
    [
        sa.cast(_EVENTS.c[name], sa.Text).label(name) if name in _AS_TEXT else _EVENTS.c[name]
        for name in _TEXT_COLUMNS
    ]
)
_PLAIN = _joined(list(_EVENTS.c))


def leaf_rows(
    session: Session, start: int, postgres: bool, batch: int
) -> Generator[LeafRow, None, None]:
    """Every leaf from `start` on, in order, with its event's fields (None if it is gone)."""
    options = {"yield_per": batch}
    if not postgres:
        with session.execute(_PLAIN, {"start": start}, execution_options=options) as rows:
            for row in rows:
                fields = None if row.seq is None else event_fields(row)
                yield (
                    row.leaf_index,
                    row.leaf_event,
                    row.leaf_hash,
                    fields,
                    (row.prev_hash, row.hash),
                )
        return
    with session.execute(_FAST, {"start": start}, execution_options=options) as rows:
        for row in rows:
            fields = None if row[3] is None else fields_from_text(row[3:17])
            yield row[0], row[1], row[2], fields, (row[17], row[18])


def fields_from_text(row: Any) -> dict[str, Any]:
    """event_fields, for the fast read's columns (unpacked by position: the hot loop)."""
    (seq, occurred_at, user_id, organisation_id, role, action, object_type, object_id, case,
     outcome, request_id, client_address, user_agent, details) = row  # fmt: skip
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


_parse_json = json.JSONDecoder().decode


def stored_fields(session: Session, seq: int) -> dict[str, Any]:
    """One event's fields read the plain way, as event_fields expects it."""
    return event_fields(session.execute(sa.select(_EVENTS).where(_EVENTS.c.seq == seq)).one())


def judge_leaf(
    session: Session, index: int, event_seq: int, stored: bytes
) -> tuple[dict[str, Any], Damage | None]:
    """The event as stored against its leaf: (its fields, None) when they agree after all (the
    fast read differed), else the damage: moved if its columns belong to a neighbouring leaf,
    changed otherwise."""
    fields = stored_fields(session, event_seq)
    if merkle.leaf_hash(canonical_encoding(fields)) == stored:
        return fields, None
    moved_from = _moved_from(session, index, fields)
    if moved_from is not None:
        return fields, Damage(
            REORDERED,
            event_seq,
            f"Event {event_seq} is not where the tree placed it: its contents belong to "
            f"event {moved_from}'s place. Events were moved or renumbered.",
            index,
        )
    return fields, Damage(
        CHANGED,
        event_seq,
        f"Event {event_seq} was changed after it was recorded: its fields no longer give "
        "the hash the log's tree holds for it.",
        index,
    )


def _moved_from(session: Session, index: int, fields: dict[str, Any]) -> int | None:
    """The event number of a nearby leaf whose stored hash these fields give, as they are
    (the leaves were swapped) or carrying that leaf's event number (events renumbered)."""
    nearby = session.execute(
        sa.select(AuditLeaf.leaf_index, AuditLeaf.event_seq, AuditLeaf.hash).where(
            AuditLeaf.leaf_index.between(index - REORDER_WINDOW, index + REORDER_WINDOW),
            AuditLeaf.leaf_index != index,
        )
    ).all()
    as_is = merkle.leaf_hash(canonical_encoding(fields))
    for _, event_seq, stored in nearby:
        renumbered = merkle.leaf_hash(canonical_encoding(fields | {"seq": event_seq}))
        if stored in (as_is, renumbered):
            return int(event_seq)
    return None


def missing_event(session: Session, index: int, event_seq: int) -> Damage:
    """A leaf whose event is gone: deleted, or truncated when every later one is gone too."""
    later = session.scalar(
        sa.select(AuditLeaf.leaf_index)
        .join(AuditEvent, AuditEvent.seq == AuditLeaf.event_seq)
        .where(AuditLeaf.leaf_index > index)
        .limit(1)
    )
    if later is None:
        return Damage(
            TRUNCATED,
            event_seq,
            f"Event {event_seq} and every event after it in the log were deleted: the log "
            "was cut short.",
            index,
        )
    return Damage(
        DELETED,
        event_seq,
        f"Event {event_seq} was deleted: the log's tree holds it, the database no longer does.",
        index,
    )


def duplicate_event(session: Session, start: int) -> Damage | None:
    """An event placed in the tree twice. While the leaves' UNIQUE(event_seq) stands that is
    impossible (and it cannot be made again over duplicates), so only a table without it is
    searched, from `start` on."""
    constraints = sa.inspect(session.connection()).get_unique_constraints("audit_leaves")
    if any(constraint["column_names"] == ["event_seq"] for constraint in constraints):
        return None
    other = sa.orm.aliased(AuditLeaf)
    found = session.execute(
        sa.select(AuditLeaf.leaf_index, AuditLeaf.event_seq)
        .where(AuditLeaf.leaf_index >= start)
        .where(
            sa.exists().where(
                other.event_seq == AuditLeaf.event_seq, other.leaf_index != AuditLeaf.leaf_index
            )
        )
        .order_by(AuditLeaf.leaf_index)
        .limit(1)
    ).first()
    if found is None:
        return None
    return Damage(
        REORDERED,
        found.event_seq,
        f"Event {found.event_seq} appears twice in the log's tree.",
        found.leaf_index,
    )
