"""Recording an event, inside the caller's transaction: its row, and nothing else.

The action's transaction inserts the event so that no action exists without it, but takes no
shared lock and does no chain or tree work: on PostgreSQL the event's number comes from a
database sequence and its row carries the inserting transaction's id (`xact`); on SQLite, whose
transactions write one at a time (`BEGIN IMMEDIATE`, portal/db.py), it is the last number + 1.
The sequencer (portal/audit/sequencer.py) later places committed events in the Merkle tree in
commit order; see docs/audit.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context, request
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.chain import timestamp
from portal.models.audit import AuditEvent, AuditOutcome
from portal.models.base import utcnow
from portal.security_costs import AUDIT_APPEND_SECONDS

DetailValue = str | int | bool | None


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    role: str | None


SYSTEM = Actor(user_id=None, organisation_id=None, role="system")


@dataclass(frozen=True)
class NewEvent:
    """One event to append (`record_events`): what `record_event` takes, as a value."""

    action: AuditAction
    actor: Actor = SYSTEM
    outcome: AuditOutcome = AuditOutcome.SUCCESS
    object_type: str | None = None
    object_id: str | uuid.UUID | None = None
    case_reference: str | None = None
    details: dict[str, DetailValue] | None = None


def record_event(
    db_session: Session,
    action: AuditAction,
    *,
    actor: Actor = SYSTEM,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    object_type: str | None = None,
    object_id: str | uuid.UUID | None = None,
    case_reference: str | None = None,
    details: dict[str, DetailValue] | None = None,
) -> AuditEvent:
    """Add an event to the session's transaction. Details are identifiers and codes only:
    never contribution content, child details or token content."""
    new = NewEvent(action, actor, outcome, object_type, object_id, case_reference, details)
    (event,) = record_events(db_session, [new])
    return event


@AUDIT_APPEND_SECONDS.time()
def record_events(db_session: Session, events: list[NewEvent]) -> list[AuditEvent]:
    """Insert `events`, numbered in order, in the session's transaction, and return them (not
    added to the session: the rows are written here, by Core, which costs a request about half
    the CPU of the ORM's unit of work). On PostgreSQL one event is one round trip (its number
    and transaction id come from the INSERT itself); more are two: their numbers in order,
    then one INSERT. A page that shows many children (a list, each row's read on the record)
    costs one insert, not one per row."""
    for new in events:
        check_details(dict(new.details or {}))
    if not events:
        return []
    requested = _request_fields()
    rows = [_row(new, requested) for new in events]
    if len(rows) == 1 and _is_postgresql(db_session):
        numbered = db_session.connection().execute(_PG_INSERT_ONE, rows[0]).one()
        return [AuditEvent(seq=numbered.seq, xact=numbered.xact, **rows[0])]
    numbers, xact = _numbers(db_session, len(rows))
    for row, seq in zip(rows, numbers, strict=True):
        row |= {"seq": seq, "xact": xact}
    db_session.connection().execute(sa.insert(_AUDIT_EVENTS), rows)
    return [AuditEvent(**row) for row in rows]


_AUDIT_EVENTS = AuditEvent.metadata.tables[AuditEvent.__tablename__]
# The event's number and its transaction's id from the INSERT itself (the trigger of migration
# 0013 sets `xact` whatever the client sends; sending it says this code knows the column).
_PG_INSERT_ONE = (
    sa.insert(_AUDIT_EVENTS)
    .values(
        seq=sa.func.nextval("audit_event_numbers"),
        xact=sa.literal_column("pg_current_xact_id()::text::bigint"),
    )
    .returning(_AUDIT_EVENTS.c.seq, _AUDIT_EVENTS.c.xact)
)
# One round trip: the next numbers, in order, and this transaction's id (which also makes the
# transaction take one, as its insert would).
_PG_NUMBERS = sa.text(
    "SELECT nextval('audit_event_numbers') AS seq, pg_current_xact_id()::text::bigint AS xact "
    "FROM generate_series(1, :count) ORDER BY 1"
)


def _is_postgresql(db_session: Session) -> bool:
    return db_session.get_bind().dialect.name == "postgresql"


def _numbers(db_session: Session, count: int) -> tuple[list[int], int | None]:
    if _is_postgresql(db_session):
        rows = db_session.execute(_PG_NUMBERS, {"count": count}).all()
        return [row.seq for row in rows], rows[0].xact
    # SQLite: this transaction holds the database's only write lock from its start.
    last = db_session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0)))
    return list(range(int(last or 0) + 1, int(last or 0) + 1 + count)), None


def _row(new: NewEvent, requested: dict[str, str | None]) -> dict[str, Any]:
    """The event's columns but its number and transaction id."""
    actor = new.actor
    return {
        "occurred_at": utcnow(),
        "actor_user_id": actor.user_id,
        "actor_organisation_id": actor.organisation_id,
        "actor_role": actor.role,
        "action": new.action.value,
        "object_type": new.object_type,
        "object_id": None if new.object_id is None else str(new.object_id),
        "case_reference": new.case_reference,
        "outcome": new.outcome,
        "details": dict(new.details or {}),
        **requested,
    }


def event_fields(event: AuditEvent | Row[Any]) -> dict[str, Any]:
    """The fields the event's hash covers, as the canonical encoding writes them (from the
    model or from a plain row of audit_events)."""
    return {
        "seq": event.seq,
        "occurred_at": timestamp(event.occurred_at),
        "actor_user_id": _text(event.actor_user_id),
        "actor_organisation_id": _text(event.actor_organisation_id),
        "actor_role": event.actor_role,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "case_reference": event.case_reference,
        "outcome": AuditOutcome(event.outcome).value,
        "request_id": event.request_id,
        "client_address": event.client_address,
        "user_agent": event.user_agent,
        "details": event.details,
    }


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)


def check_details(details: dict[str, DetailValue]) -> None:
    for key, value in details.items():
        if not isinstance(key, str) or not isinstance(value, str | int | bool | type(None)):
            raise TypeError("audit details hold flat identifiers and codes only")


def _request_fields() -> dict[str, str | None]:
    if not has_request_context():
        return {"request_id": None, "client_address": None, "user_agent": None}
    agent = request.user_agent.string or None
    return {
        "request_id": g.get("request_id"),
        "client_address": request.remote_addr,
        "user_agent": agent[:300] if agent else None,
    }
