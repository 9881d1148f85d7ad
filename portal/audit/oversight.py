"""The information-governance officer's own reads of the trail, on the trail: which filters a
search used (as flags and codes), whose case an access report or an export was about.

The trail can never be shredded, so it never takes text it did not already hold: a case
reference the officer typed is recorded only when events on the trail already name it (it may
be anything: a mistyped reference, a child's name typed into the wrong box).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.lasting import record_lasting_event
from portal.audit.record import Actor, DetailValue, record_event
from portal.audit.search import AuditFilter

if TYPE_CHECKING:
    from portal.audit.export import ExportSummary
from portal.models import AuditEvent


def reference_on_trail(session: Session, typed: str | None) -> str | None:
    """`typed` if events on the trail name it as their case reference, else None."""
    if not typed:
        return None
    named = session.scalar(
        sa.select(AuditEvent.case_reference).where(AuditEvent.case_reference == typed).limit(1)
    )
    return typed if named is not None else None


def filter_flags(audit_filter: AuditFilter) -> dict[str, DetailValue]:
    """What the search asked for: which filters were set, and the closed codes among them."""
    return _flags(audit_filter) | {
        "organisation_id": _text(audit_filter.organisation_id),
        "action": _text(audit_filter.action),
        "outcome": _text(audit_filter.outcome),
        "date_from": _text(audit_filter.date_from),
        "date_to": _text(audit_filter.date_to),
    }


def record_search(
    session: Session,
    actor: Actor,
    audit_filter: AuditFilter,
    position: tuple[int | None, int | None],
    shown: int,
) -> None:
    before, after = position
    record_lasting_event(
        AuditAction.AUDIT_SEARCHED,
        actor=actor,
        case_reference=reference_on_trail(session, audit_filter.case_reference),
        details=filter_flags(audit_filter)
        | {"before": before, "after": after, "events_shown": shown},
    )


def record_access_report(
    session: Session, actor: Actor, typed: str, people: int, child: int | None = None
) -> bool:
    """Record the report's view (`child`: the child's place on the case, for one child's
    report); True when the trail names the case at all."""
    case_reference = reference_on_trail(session, typed)
    details: dict[str, DetailValue] = {"people": people}
    if child is not None:
        details["child"] = child
    record_lasting_event(
        AuditAction.AUDIT_ACCESS_REPORT_VIEWED,
        actor=actor,
        object_type="case",
        object_id=case_reference,
        case_reference=case_reference,
        details=details,
    )
    return case_reference is not None


def record_case_search(
    session: Session,
    actor: Actor,
    typed_reference: str | None,
    found: int,
    person_cases: list[str] | None = None,
) -> None:
    """A search for a case (by its reference), with how many it found; or for a child by CMS
    person id (`person_cases`: the references of the cases the id matched, held by the portal),
    one event for each case found, naming it, so the case's trail shows the officer looked at
    it. The typed id itself is never recorded: the trail takes no text it did not hold."""
    if person_cases is None:
        cases: list[str | None] = [reference_on_trail(session, typed_reference)]
    else:
        cases = list(dict.fromkeys(person_cases)) or [None]
    for case_reference in cases:
        record_lasting_event(
            AuditAction.AUDIT_SEARCHED,
            actor=actor,
            case_reference=case_reference,
            details={
                "case_search": True,
                "person_id_filter": person_cases is not None,
                "found": found,
            },
        )


def record_export(
    session: Session, actor: Actor, audit_filter: AuditFilter, summary: ExportSummary
) -> None:
    """What was exported: counts and the tree head, never the events' content."""
    record_event(
        session,
        AuditAction.AUDIT_EXPORTED,
        actor=actor,
        case_reference=reference_on_trail(session, audit_filter.case_reference),
        details=_flags(audit_filter)
        | {
            "events": summary.matched,
            "proven": summary.proven,
            "waiting": summary.waiting,
            "tree_size": summary.tree_size,
            "witnessed": summary.witnessed,
        },
    )


def _flags(audit_filter: AuditFilter) -> dict[str, DetailValue]:
    return {f"{name}_filter": used for name, used in audit_filter.used().items()}


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)
