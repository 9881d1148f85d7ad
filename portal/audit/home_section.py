"""The IG officer's section of the home page: what waits for their decision, what the last
check of the trail found, and their places (search, who has seen a child's information,
checks). Each count is one aggregate query; nothing is listed."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.audit.evidence_file import events_text
from portal.home import HomeSection, Link, ToDo
from portal.models import AuditEvent, ChangeStatus, OrganisationChange, User
from portal.onboarding.changes import decidable_by
from portal.uk_time import uk_moment


def ig_to_do(session: Session, person: User, today: date) -> HomeSection:
    """Changes waiting for the officer's decision (refusal_to_decide's whole rule: never their
    own, never one making them partner lead, never by whoever gave them the role they would
    decide it with), and the last check of the trail, on the page or by `portal audit verify`."""
    deciding = session.scalar(
        sa.select(sa.func.count())
        .select_from(OrganisationChange)
        .where(OrganisationChange.status == ChangeStatus.PENDING, decidable_by(person))
    )
    last_check = session.execute(
        sa.select(AuditEvent.occurred_at, AuditEvent.actor_user_id, AuditEvent.details)
        .where(AuditEvent.action == AuditAction.AUDIT_VERIFIED.value)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    damaged = last_check is not None and last_check.details.get("intact") is False
    to_do = []
    if damaged:
        to_do.append(
            ToDo(
                "The last check of the audit trail found it altered: see what it found",
                1,
                "audit_evidence.verify",
                urgent=True,
                tag="Altered",
            )
        )
    to_do.append(
        ToDo(
            "changes to an organisation’s access waiting for your decision",
            deciding or 0,
            "changes.index",
        )
    )
    return HomeSection(
        heading="Information governance",
        to_do=to_do,
        links=[
            Link("Who has seen a child’s information", "audit.case_search"),
            Link("Search the audit trail", "audit.search"),
            Link(_last_checked(last_check), "audit_evidence.verify"),
            Link("Check an audit export", "audit_evidence.check_export_form"),
            Link("Signed checkpoints", "audit_evidence.checkpoints"),
        ],
        all_done="No changes are waiting for your decision.",
    )


def _last_checked(last_check: sa.Row[Any] | None) -> str:
    """When and how the trail was last checked, and what was found."""
    if last_check is None:
        return "Check the trail has not been altered (not checked yet)"
    details = last_check.details
    found = "altered" if details.get("intact") is False else "intact"
    how = (
        "by the portal audit verify command"
        if last_check.actor_user_id is None
        else "on the verification page"
    )
    events = details.get("events_checked")
    counted = f", {events_text(int(events))}" if isinstance(events, int) else ""
    return (
        f"Check the trail has not been altered (last checked {uk_moment(last_check.occurred_at)} "
        f"{how}: {found}{counted})"
    )
