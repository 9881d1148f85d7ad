"""The IG officer's section of the home page: what waits for their decision, what the last
check of the trail found, and their places (search, who has seen a child's information,
checks). Each count is one aggregate query; nothing is listed."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.home import HomeSection, Link, ToDo
from portal.models import AuditEvent, ChangeStatus, OrganisationChange, User
from portal.uk_time import uk_moment


def ig_to_do(session: Session, person: User, today: date) -> HomeSection:
    """Changes waiting for a decision (an IG officer decides any organisation's, but never one
    they proposed), and the last verification of the trail."""
    deciding = session.scalar(
        sa.select(sa.func.count())
        .select_from(OrganisationChange)
        .where(
            OrganisationChange.status == ChangeStatus.PENDING,
            OrganisationChange.proposed_by_id != person.id,
        )
    )
    last_check = session.execute(
        sa.select(AuditEvent.occurred_at, AuditEvent.details)
        .where(AuditEvent.action == AuditAction.AUDIT_VERIFIED.value)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    damaged = last_check is not None and last_check.details.get("intact") is False
    if last_check is None:
        checked = "Check the trail has not been altered (not checked yet)"
    else:
        found = "altered" if damaged else "intact"
        checked = (
            "Check the trail has not been altered (last checked "
            f"{uk_moment(last_check.occurred_at)}: {found})"
        )
    return HomeSection(
        heading="Information governance",
        to_do=[
            ToDo(
                "the last check of the audit trail found it altered",
                int(damaged),
                "audit_evidence.verify",
                urgent=True,
            ),
            ToDo(
                "changes to an organisation’s access waiting for a decision",
                deciding or 0,
                "changes.index",
            ),
        ],
        links=[
            Link("Who has seen a child’s information", "audit.case_search"),
            Link("Search the audit trail", "audit.search"),
            Link(checked, "audit_evidence.verify"),
            Link("Check an audit export", "audit_evidence.check_export_form"),
            Link("Signed checkpoints", "audit_evidence.checkpoints"),
        ],
        all_done="No changes are waiting for your decision.",
    )
