"""The partner engagement officer's section of the home page: changes waiting for approval,
agreements due for review, organisations still joining or paused. One aggregate query a count;
nothing is listed."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
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

REVIEW_WINDOW_DAYS = 30


def engagement_to_do(session: Session, person: User, today: date) -> HomeSection:
    waiting_changes = session.scalar(
        sa.select(sa.func.count())
        .select_from(OrganisationChange)
        .where(OrganisationChange.status == ChangeStatus.PENDING)
    )
    past, due = _reviews(session, today)
    stages = _stages(session)
    return HomeSection(
        heading="Partner engagement",
        to_do=[
            ToDo("agreements past their review date", past, "onboarding.index", urgent=True),
            ToDo(
                f"agreements due for review in the next {REVIEW_WINDOW_DAYS} days",
                due,
                "onboarding.index",
            ),
            ToDo("changes waiting for approval", waiting_changes or 0, "onboarding.index"),
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


def _reviews(session: Session, today: date) -> tuple[int, int]:
    """Partner organisations (not those that left) whose newest agreement's review is past,
    and those whose review falls within the window."""
    newest = newest_agreements()
    soon = today + timedelta(days=REVIEW_WINDOW_DAYS)
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
