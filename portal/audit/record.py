"""Appending an event to the hash-chained audit trail, inside the caller's transaction.

Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by its
single writer (see docs/audit.md for what that costs). Each event's hash covers the previous
event's hash and the digest of its own fields' canonical encoding (portal/audit/chain.py), so a
changed, removed or reordered event breaks the chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context, request
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.chain import GENESIS_HASH, content_digest, link, timestamp
from portal.models.audit import AuditEvent, AuditOutcome
from portal.models.base import utcnow
from portal.security_costs import AUDIT_APPEND_SECONDS, AUDIT_LOCK_WAIT_SECONDS

_APPEND_LOCK_ID = 7_200_002
DetailValue = str | int | bool | None


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    role: str | None


SYSTEM = Actor(user_id=None, organisation_id=None, role="system")


@AUDIT_APPEND_SECONDS.time()
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
    fields = {
        "actor": actor,
        "outcome": outcome,
        "object_type": object_type,
        "object_id": object_id,
        "case_reference": case_reference,
        "details": details,
    }
    return _append(db_session, [(action, fields)])[0]


@AUDIT_APPEND_SECONDS.time()
def record_events(
    db_session: Session, events: Sequence[tuple[AuditAction, dict[str, Any]]]
) -> list[AuditEvent]:
    """Several events (each an action and record_event's keyword arguments) appended in
    order, as record_event appends them one by one, but under one take of the chain's lock,
    one read of its end and one insert: a list that shows 25 children's names records 25
    reads, and should not hold the lock for 50 round trips."""
    return _append(db_session, events) if events else []


def _append(
    db_session: Session, events: Sequence[tuple[AuditAction, dict[str, Any]]]
) -> list[AuditEvent]:
    for _action, fields in events:
        check_details(dict(fields.get("details") or {}))
    _lock_chain(db_session)
    last = db_session.execute(
        sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS_HASH)
    made = []
    for action, fields in events:
        event = _event(seq + 1, prev_hash, action, **fields)
        seq, prev_hash = event.seq, event.hash
        made.append(event)
    db_session.add_all(made)
    db_session.flush()
    return made


def _event(
    seq: int,
    prev_hash: bytes,
    action: AuditAction,
    *,
    actor: Actor = SYSTEM,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    object_type: str | None = None,
    object_id: str | uuid.UUID | None = None,
    case_reference: str | None = None,
    details: dict[str, DetailValue] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        seq=seq,
        occurred_at=utcnow(),
        actor_user_id=actor.user_id,
        actor_organisation_id=actor.organisation_id,
        actor_role=actor.role,
        action=action.value,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        case_reference=case_reference,
        outcome=outcome,
        details=dict(details or {}),
        prev_hash=prev_hash,
        **_request_fields(),
    )
    event.hash = event_hash(event)
    return event


def event_hash(event: AuditEvent) -> bytes:
    return link(event.prev_hash, content_digest(event_fields(event)))


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


def _lock_chain(db_session: Session) -> None:
    if db_session.get_bind().dialect.name == "postgresql":
        with AUDIT_LOCK_WAIT_SECONDS.time():
            db_session.execute(
                sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _APPEND_LOCK_ID}
            )


def _request_fields() -> dict[str, str | None]:
    if not has_request_context():
        return {"request_id": None, "client_address": None, "user_agent": None}
    agent = request.user_agent.string or None
    return {
        "request_id": g.get("request_id"),
        "client_address": request.remote_addr,
        "user_agent": agent[:300] if agent else None,
    }
