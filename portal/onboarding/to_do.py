"""The partner engagement officer's section of the home page: agreements due for review (the
same window as the organisations list's warning, [onboarding] agreement_warning_days),
changes waiting for a partner lead or IG officer to approve, organisations still joining or
paused. One aggregate query a count; nothing is listed."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from portal.home import HomeSection, Link, ToDo
from portal.models import (
    ChangeStatus,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    OrganisationStage,
    User,
)
from portal.onboarding.intake import newest_agreements
from portal.onboarding.organisations import review_window_days


def engagement_to_do(session: Session, person: User, today: date) -> HomeSection:
    window = review_window_days(current_app.config["PORTAL_SETTINGS"].onboarding)
    past, due = _reviews(session, today, window)
    waiting = _waiting_changes(session)
    stages = _stages(session)
    return HomeSection(
        heading="Partner engagement",
        to_do=[
            ToDo("agreements past their review date", past, "onboarding.index", urgent=True),
            ToDo(f"agreements due for review in the next {window} days", due, "onboarding.index"),
            waiting,
            ToDo(
                "organisations onboarding",
                stages.get(OrganisationStage.ONBOARDING, 0)
                + stages.get(OrganisationStage.PROPOSED, 0),
                "onboarding.index",
            ),
            ToDo(
                "organisations paused", stages.get(OrganisationStage.PAUSED, 0), "onboarding.index"
            ),
        ],
        links=[
            Link("Organisations", "onboarding.index"),
            Link("Propose an organisation", "onboarding.new"),
            Link("Pilot figures", "pilot.index"),
        ],
        all_done="Every organisation is live, and no agreement is due for review.",
    )


def _waiting_changes(session: Session) -> ToDo:
    """Changes waiting for a partner lead or an IG officer (the officer proposes, never
    decides, and cannot open /approvals): linked to the one organisation's access page where
    they all are, or else the organisations list, which counts them for each organisation."""
    count, organisations, one = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(sa.distinct(OrganisationChange.organisation_id)),
            sa.func.min(sa.cast(OrganisationChange.organisation_id, sa.String)),
        ).where(OrganisationChange.status == ChangeStatus.PENDING)
    ).one()
    label = "changes waiting for a partner lead or IG officer to approve"
    if organisations == 1:
        return ToDo(label, int(count), "changes.access", {"organisation_id": one})
    return ToDo(label, int(count), "onboarding.index")


def _reviews(session: Session, today: date, window: int) -> tuple[int, int]:
    """Partner organisations (not those that left) whose newest agreement's review is past,
    and those whose review falls within the window."""
    newest = newest_agreements()
    soon = today + timedelta(days=window)
    row = session.execute(
        sa.select(
            sa.func.count().filter(newest.c.review_on < today),
            sa.func.count().filter(newest.c.review_on >= today, newest.c.review_on <= soon),
        )
        .select_from(newest)
        .join(Organisation, Organisation.id == newest.c.organisation_id)
        .where(
            Organisation.kind != OrganisationKind.COUNCIL,
            Organisation.stage != OrganisationStage.LEFT,
        )
    ).one()
    return int(row[0]), int(row[1])


def _stages(session: Session) -> dict[OrganisationStage, int]:
    """How many partner organisations are at each stage."""
    rows = session.execute(
        sa.select(Organisation.stage, sa.func.count())
        .where(Organisation.kind != OrganisationKind.COUNCIL)
        .group_by(Organisation.stage)
    ).all()
    return {stage: int(count) for stage, count in rows}
