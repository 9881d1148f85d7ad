"""Warnings before an information-sharing agreement's review date (`portal onboarding remind`,
daily): e-mails to the council's partner engagement officers and the organisation's partner
leads, at each of [onboarding] agreement_warning_days before it (30 and 7), each once.

`Organisation.agreement_warned_days` holds the smallest warning already sent for the current
agreement (recording a new agreement clears it). Claiming a warning is an UPDATE conditional on
it, so two runs at once send each warning once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.models import (
    NotificationKind,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    Role,
    RoleAssignment,
    User,
    UserStatus,
)
from portal.notifications.queue import enqueue_about_organisation
from portal.onboarding.intake import newest_agreements


@dataclass(frozen=True)
class Warned:
    organisation_id: uuid.UUID
    days: int
    recipients: int


def warning_due(days_left: int, thresholds: Sequence[int], warned: int | None) -> int | None:
    """Which warning (days before review) is due, if any: the smallest threshold the review
    date is within, unless that one, or a nearer one, was already sent. An agreement already
    past review whose last warning never went gets it now."""
    within = [threshold for threshold in thresholds if days_left <= threshold]
    if not within:
        return None
    due = min(within)
    if warned is not None and warned <= due:
        return None
    return due


def send_warnings(session: Session, today: date, thresholds: Sequence[int]) -> list[Warned]:
    """Queue every warning due today, audited, in the caller's transaction."""
    agreements = newest_agreements()
    rows = session.execute(
        sa.select(Organisation.id, Organisation.agreement_warned_days, agreements.c.review_on)
        .join(agreements, agreements.c.organisation_id == Organisation.id)
        .where(
            Organisation.kind != OrganisationKind.COUNCIL,
            Organisation.stage != OrganisationStage.LEFT,
        )
        .order_by(Organisation.name)
    ).all()
    warned = []
    for row in rows:
        due = warning_due((row.review_on - today).days, thresholds, row.agreement_warned_days)
        if due is None or not _claim(session, row.id, due):
            continue
        recipients = _recipients(session, row.id)
        queued = enqueue_about_organisation(
            session, NotificationKind.AGREEMENT_REVIEW_DUE, recipients, row.id
        )
        record_event(
            session,
            AuditAction.AGREEMENT_REVIEW_WARNED,
            object_type="organisation",
            object_id=row.id,
            details={
                "days_before": due,
                "review_on": row.review_on.isoformat(),
                "recipients": queued,
            },
        )
        warned.append(Warned(row.id, due, queued))
    return warned


def _claim(session: Session, organisation_id: uuid.UUID, due: int) -> bool:
    won = session.execute(
        sa.update(Organisation)
        .where(
            Organisation.id == organisation_id,
            sa.or_(
                Organisation.agreement_warned_days.is_(None),
                Organisation.agreement_warned_days > due,
            ),
        )
        .values(agreement_warned_days=due)
        .returning(Organisation.id)
        .execution_options(synchronize_session=False)
    ).first()
    return won is not None


def _recipients(session: Session, organisation_id: uuid.UUID) -> list[uuid.UUID]:
    """Active partner engagement officers, then the organisation's active partner leads."""
    found = session.scalars(
        sa.select(User.id)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(
            User.status == UserStatus.ACTIVE,
            sa.or_(
                RoleAssignment.role == Role.PARTNER_ENGAGEMENT_OFFICER,
                sa.and_(
                    RoleAssignment.role == Role.PARTNER_LEAD,
                    User.organisation_id == organisation_id,
                ),
            ),
        )
        .order_by(RoleAssignment.role, User.display_name, User.id)
    )
    return list(dict.fromkeys(found))  # someone with both roles once
