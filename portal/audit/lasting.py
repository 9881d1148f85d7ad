"""Audit events that stay on the record whatever the response: reads of sensitive content and
refusals.

A view or service queues them on the web request; the request boundary (portal/db.py) writes
them in the request's own transaction when the response succeeds, and in a transaction of their
own when it is an error, whose transaction is rolled back. So a page sent back with errors keeps
its read on the trail, and no view commits to make sure of it. A response the database failed
under was never shown, and keeps nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import g, has_request_context
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.record import SYSTEM, Actor, DetailValue, check_details, record_events
from portal.models.audit import AuditOutcome

_QUEUE = "lasting_audit_events"


@dataclass(frozen=True)
class LastingEvent:
    action: AuditAction
    fields: dict[str, Any] = field(default_factory=dict)


def record_lasting_event(
    action: AuditAction,
    *,
    actor: Actor = SYSTEM,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    object_type: str | None = None,
    object_id: str | uuid.UUID | None = None,
    case_reference: str | None = None,
    details: dict[str, DetailValue] | None = None,
) -> None:
    """Queue an event on the current web request; the request boundary writes it whatever
    the response. Outside a web request there is no boundary: record with `record_event`."""
    if not has_request_context():
        raise RuntimeError("lasting audit events belong to a web request")
    details = dict(details or {})
    check_details(details)  # a bad detail fails here, in the code that made it
    queue: list[LastingEvent] = g.setdefault(_QUEUE, [])
    queue.append(
        LastingEvent(
            action,
            {
                "actor": actor,
                "outcome": outcome,
                "object_type": object_type,
                "object_id": object_id,
                "case_reference": case_reference,
                "details": details,
            },
        )
    )


def take_lasting_events() -> list[LastingEvent]:
    """The events queued on this request, removed from it (the boundary writes them)."""
    taken: list[LastingEvent] = g.pop(_QUEUE, [])
    return taken


def write_lasting_events(db_session: Session, events: list[LastingEvent]) -> None:
    record_events(db_session, [(event.action, event.fields) for event in events])
