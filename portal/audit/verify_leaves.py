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

# (leaf index, event number, stored leaf hash, the event's canonical encoding or None, and
# (seq, action, object_type, object_id, prev_hash, hash) of the event)
About = tuple[Any, Any, Any, Any, Any, Any]
LeafRow = tuple[int, int, bytes, bytes | None, About]

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
    """Every leaf from `start` on, in order, with its event's canonical encoding (None if the
    event is gone) and what the walk reads of it."""
    options = {"yield_per": batch}
    if not postgres:
        with session.execute(_PLAIN, {"start": start}, execution_options=options) as rows:
            for row in rows:
                if row.seq is None:
                    yield row.leaf_index, row.leaf_event, row.leaf_hash, None, _GONE
                    continue
                about = (row.seq, row.action, row.object_type, row.object_id, row.prev_hash,
                         row.hash)  # fmt: skip
                encoding = canonical_encoding(event_fields(row))
                yield row.leaf_index, row.leaf_event, row.leaf_hash, encoding, about
        return
    with session.execute(_FAST, {"start": start}, execution_options=options) as rows:
        for row in rows:
            if row[3] is None:
                yield row[0], row[1], row[2], None, _GONE
                continue
            about = (row[3], row[8], row[9], row[10], row[17], row[18])
            yield row[0], row[1], row[2], fast_encoding(row[3:17]), about


_GONE = (None, None, None, None, None, None)


def fast_encoding(row: Any) -> bytes:
    """canonical_encoding(event_fields(event)) written out for the fast read's columns: the
    same keys in the same (sorted) order, each value escaped by the json module's own ASCII
    string encoder, details through the canonical encoder. The hot loop of the check; a
    disagreement is judged again from the event as stored, never taken as damage by itself."""
    (seq, occurred_at, user_id, organisation_id, role, action, object_type, object_id, case,
     outcome, request_id, client_address, user_agent, details) = row  # fmt: skip
    text = _text
    encoded_details = "null" if details is None else _canonical(_parse_json(details))
    return (
        f'{{"action":{text(action)},"actor_organisation_id":{text(organisation_id)},'
        f'"actor_role":{text(role)},"actor_user_id":{text(user_id)},'
        f'"case_reference":{text(case)},"client_address":{text(client_address)},'
        f'"details":{encoded_details},"object_id":{text(object_id)},'
        f'"object_type":{text(object_type)},"occurred_at":{_string(timestamp(occurred_at))},'
        f'"outcome":{text(outcome)},"request_id":{text(request_id)},"seq":{int(seq)!r},'
        f'"user_agent":{text(user_agent)}}}'
    ).encode("ascii")


def _text(value: str | None) -> str:
    return "null" if value is None else _string(value)


_string = json.encoder.encode_basestring_ascii
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
_parse_json = json.JSONDecoder().decode


def stored_fields(session: Session, seq: int) -> dict[str, Any]:
    """One event's fields read the plain way, as event_fields expects it."""
    return event_fields(session.execute(sa.select(_EVENTS).where(_EVENTS.c.seq == seq)).one())


def judge_leaf(
    session: Session, index: int, event_seq: int, stored: bytes
) -> tuple[bytes, Damage | None]:
    """The event as stored against its leaf: (its encoding, None) when they agree after all
    (the fast read differed), else the damage: moved if its columns belong to a neighbouring
    leaf, changed otherwise."""
    fields = stored_fields(session, event_seq)
    encoding = canonical_encoding(fields)
    if merkle.leaf_hash(encoding) == stored:
        return encoding, None
    moved_from = _moved_from(session, index, fields)
    if moved_from is not None:
        return encoding, Damage(
            REORDERED,
            event_seq,
            f"Event {event_seq} is not where the tree placed it: its contents belong to "
            f"event {moved_from}'s place. Events were moved or renumbered.",
            index,
        )
    return encoding, Damage(
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
